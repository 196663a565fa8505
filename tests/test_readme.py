"""Every command the README shows is exercised: run here for real, or by a named test or CI.

The README's fenced `console` blocks (lines starting with `$ `) and `sh` blocks (every line that
is not a comment) are its commands. Each must appear in TOUR (run below, in order, by bash, in one
shell session whose exported variables carry over, against a real sandbox) or in ELSEWHERE
(with the file that exercises it and a string that proves it does).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

# command -> exit code expected when the tour runs it
TOUR: dict[str, int] = {
    "vvrun validate runbooks/": 0,
    "vvrun validate runbooks/db-emergency.yaml --format json": 0,
    "vvrun plan runbooks/db-emergency.yaml": 0,
    "vvrun plan runbooks/db-emergency.yaml --format markdown": 0,
    'eval "$(vvrun sandbox up)"': 0,
    "vvrun runbooks/db-emergency.yaml --var stuck_after='5 minutes'": 0,
    "vvrun runs": 0,
    "vvrun show RUN_ID --events": 0,
    "vvrun run --sandbox runbooks/db-emergency.yaml": 0,
    "vvrun sandbox status": 0,
    'eval "$(vvrun sandbox down)"': 0,
    "vvrun schema": 0,
    "vvrun docs runbooks/db-emergency.yaml": 0,
}

# command -> (files that exercise it, as a glob from the repo root; a string one of them holds)
ELSEWHERE: dict[str, tuple[str, str]] = {
    "make demo": (".ci/run", "make demo"),
    "vvrun docs runbooks/ --out docs/runbooks": ("tests/test_docs_cmd.py", '"--out", str(out))'),
    "vvrun docs runbooks/ --out docs/runbooks --check":
        ("tests/test_docs_cmd.py", 'stale_docs(documents, Path("docs/runbooks"), ["runbooks"])'),
    "make test": (".ci/run", "make test"),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[sandbox]'":
        ("Makefile", "installed-sandbox: EXTRA = sandbox"),
    ". .venv/bin/activate": ("Makefile", "-m venv $(VENV)"),
    "vvrun resume RUN_ID": ("tests/test_*.py", "resume"),
    "vvrun resume RUN_ID --ack escalate --field ticket_url=https://support.example/T-42":
        ("tests/test_*.py", "--ack"),
    "export VVRUN_STATE=postgresql://vvrun@state-db.internal/vvrun":
        ("tests/test_*.py", "VVRUN_STATE"),
    # the notifications walk-through: db-emergency with local Slack and PagerDuty receivers
    "export SLACK_INCIDENTS_WEBHOOK=https://hooks.slack.com/services/T0VVRUN01/B0VVRUN02/XXXX":
        ("tests/test_notify_run.py", '"SLACK_INCIDENTS_WEBHOOK": slack.webhook'),
    "export PAGERDUTY_ROUTING_KEY=R0VTNGKEY0123456789abcdef012345x":
        ("tests/test_notify_run.py", '"PAGERDUTY_ROUTING_KEY": PD_KEY'),
    "vvrun run --sandbox db-emergency.local.yaml --var stuck_after='1 seconds' --yes":
        ("tests/test_notify_run.py", '"--var", "stuck_after=1 seconds"'),
}

RUN_ID = re.compile(r"\b\d{6}-\d{6}-[0-9a-z]{4,}\b")


def readme_commands(text: str) -> list[str]:
    """The commands in the README's `console` and `sh` fenced blocks, in order."""
    commands: list[str] = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        for line in body.splitlines():
            if lang == "console" and line.startswith("$ "):
                commands.append(line[2:].strip())
            elif lang == "sh" and line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def test_the_readme_shows_commands() -> None:
    commands = readme_commands(README.read_text())
    assert "make demo" in commands and "make test" in commands
    assert len(commands) >= 10


def test_every_readme_command_is_exercised() -> None:
    commands = readme_commands(README.read_text())
    unexercised = [c for c in commands if c not in TOUR and c not in ELSEWHERE]
    assert not unexercised, (
        "README commands that nothing exercises (add them to TOUR or ELSEWHERE in "
        f"tests/test_readme.py): {unexercised}")
    stale = [c for c in [*TOUR, *ELSEWHERE] if c not in commands]
    assert not stale, f"listed here but no longer in the README: {stale}"


@pytest.mark.parametrize("command", sorted(ELSEWHERE))
def test_commands_exercised_elsewhere_really_are(command: str) -> None:
    pattern, needle = ELSEWHERE[command]
    files = [p for p in REPO.glob(pattern) if p.name != "test_readme.py"]
    assert files, f"{command!r}: no file matches {pattern}"
    assert any(needle in p.read_text() for p in files), \
        f"{command!r}: none of {pattern} contains {needle!r}"


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\((?!https?://|#)([^)]+)\)", README.read_text()):
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"


def test_readme_runbook_example_is_valid(tmp_path: Path) -> None:
    text = README.read_text()
    examples = [b for b in re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
                if "steps:" in b]
    assert examples
    for i, body in enumerate(examples):
        path = tmp_path / f"example-{i}.yaml"
        path.write_text(body)
        proc = subprocess.run([sys.executable, "-m", "vvrun", "validate", str(path)],
                              capture_output=True, text=True, cwd=REPO, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_tour_runs(tmp_path: Path) -> None:
    """The README's commands, in its order, in one shell session, against a real sandbox."""
    commands = [c for c in readme_commands(README.read_text()) if c in TOUR]
    envfile = tmp_path / "env.sh"
    # not under tmp_path: as root the sandbox's server user must traverse it (test_sandbox.py)
    box = Path(tempfile.mkdtemp(prefix="vvrun-readme-"))
    box.chmod(0o755)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "VVRUN_SANDBOX_DIR": str(box / "sandbox"),
        "VVRUN_OPERATOR": "readme@test",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
    }
    envfile.write_text("".join(f"export {k}={_q(v)}\n" for k, v in env.items()))
    run_id = None
    try:
        for original in commands:
            command = original
            if "RUN_ID" in command:
                assert run_id, f"{command!r}: no run id seen before it"
                command = command.replace("RUN_ID", run_id)
            script = f'. {_q(str(envfile))}\n{command}\nrc=$?\nexport -p > {_q(str(envfile))}\n' \
                     'exit $rc\n'
            proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, text=True,
                                  capture_output=True, stdin=subprocess.DEVNULL, timeout=300,
                                  check=False)
            expected = TOUR[original]
            assert proc.returncode == expected, (
                f"{command!r} exited {proc.returncode}, expected {expected}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
            found = RUN_ID.findall(proc.stdout + proc.stderr)
            if found and command.startswith("vvrun runbooks/"):
                run_id = found[0]
    finally:
        subprocess.run([sys.executable, "-m", "vvrun", "sandbox", "down", "--dir",
                        str(box / "sandbox")], capture_output=True, check=False)
        shutil.rmtree(box, ignore_errors=True)
    assert run_id is not None


def _q(value: str) -> str:
    import shlex

    return shlex.quote(value)
