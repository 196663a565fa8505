"""The `shell-inner` warning: a value quoted for the step's shell but read again by another
program (ssh's remote shell, `bash -c`, `python -c`, `psql -c`). It stays quiet for ordinary
quoted arguments, and the spelling its hint gives — the value in `env:`, read as "$NAME" by the
inner program — is safe against the attack it warns about, in a real bash."""

from __future__ import annotations

from pathlib import Path

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file

ATTACK = "x'; touch PWNED; echo '\"; touch PWNED2; echo \"$(touch PWNED3)"


def _warnings(tmp_path: Path, run: str) -> list[str]:
    book = write_runbook(tmp_path, "version: 1\nname: t\ntitle: T\ninputs:\n"
                         "  v: {type: string, default: x}\nsteps:\n  - id: a\n"
                         "    shell: |\n" + "".join(f"      {ln}\n" for ln in run.splitlines()))
    return [p.message for p in check_file(str(book))[1] if p.code == "shell-inner"]


def test_ordinary_quoted_arguments_are_not_warned_about(tmp_path: Path) -> None:
    assert _warnings(tmp_path, 'echo "hello {{ inputs.v }}"\n'
                               'grep -c "{{ inputs.v }}" /dev/null || true\n'
                               'echo "ssh {{ inputs.v }}"; printf \'%s\\n\' \'{{ inputs.v }}\'\n'
                               'ssh web1 uptime; echo "{{ inputs.v }}"') == []


def test_each_reader_is_named(tmp_path: Path) -> None:
    found = _warnings(tmp_path, 'ssh -p 22 web1 "ls {{ inputs.v }}"\n'
                                'timeout 5 psql -c "SELECT \'{{ inputs.v }}\'"\n'
                                'mysql --execute="SELECT 1" -e "SELECT \'{{ inputs.v }}\'"\n'
                                'docker exec app perl -e "print q({{ inputs.v }})"\n'
                                'su - app -c "id {{ inputs.v }}"')
    assert [m.split(" reads the string again")[0].split("but ")[1] for m in found] == [
        "the remote shell", "`psql` (as SQL)", "`mysql` (as SQL)", "`perl`", "`su`"]


def test_the_hint_s_spelling_is_safe_in_a_real_bash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    book = write_runbook(tmp_path, f"""
        version: 1
        name: t
        title: T
        inputs:
          v: {{type: string}}
        steps:
          - id: a
            shell:
              run: bash -c 'printf %s "$V" > {out}'
              env: {{V: "{{{{ inputs.v }}}}"}}
              cwd: {tmp_path}
    """)
    assert not [p for p in check_file(str(book))[1] if p.code == "shell-inner"]
    result = Runner().run(book, {"v": ATTACK})
    assert result.status == "succeeded", result.engine.error
    assert out.read_text() == ATTACK
    assert not list(tmp_path.glob("PWNED*"))
