from vvrun.cli import main

main()
