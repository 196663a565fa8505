"""Small shared helpers about text: durations, did-you-mean. Imports nothing else from vvrun."""
