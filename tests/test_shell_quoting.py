"""Values templated into a shell step are quoted for where they stand: a word, `"…"`, `'…'`,
`$'…'`, `$( )`, backticks, heredocs, comments. Each case runs the rendered script in a real
bash with payloads an attacker would try; none may run a command, and the value must come out
exactly as given. Secrets must come out too, yet never stand in the script's text."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from vvrun.language.templates import Templater, TemplateRenderError
from vvrun.secrets import Masker
from vvrun.secrets.taint import taint

PAYLOADS = [
    "Bob Smith", "", 'x"; touch PWNED; echo "', "'; touch PWNED; '", "$(touch PWNED)",
    "`touch PWNED`", '\\"; touch PWNED #', "a\nb; touch PWNED", "EOF\ntouch PWNED",
    "${IFS}touch${IFS}PWNED", "*", "!! $HOME ~", "\\", "it's \"quoted\"", "tab\there",
    "ünïcødé ✓", "$'\\x41' \\$x", "-n", "){ touch PWNED; }; (", "\\\ntouch PWNED",
]

# (template, what it prints for a value V): each a different place for the value
PLACES = [
    ("printf '%s\\n' {{ v }}", "{V}"),
    ("printf '%s\\n' \"pre {{ v }} post\"", "pre {V} post"),
    ("printf '%s\\n' 'pre {{ v }} post'", "pre {V} post"),
    ("printf '%s\\n' $'pre {{ v }} post'", "pre {V} post"),
    ("printf '%s\\n' \"$(printf '%s' {{ v }})\"", "{V}"),
    ("x=`printf '%s' {{ v }}`; printf '%s\\n' \"$x\"", "{V}"),
    ("cat <<EOF\npre {{ v }} post\nEOF", "pre {V} post"),
    ("cat <<-END\n\tpre {{ v }} post\n\tEND", "pre {V} post"),
    ("true # {{ v }}\nprintf '%s\\n' done", "done"),
    ("( printf '%s\\n' {{ v }} )", "{V}"),
    ("printf '%s\\n' \"$(case a in a) printf '%s' {{ v }};; esac)\"", "{V}"),
    ("printf '%s\\n' \"$(case a in (a) printf '%s' \"<{{ v }}>\";; esac)\"", "<{V}>"),
]


def _run(script: str, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, (script, proc.stderr)
    return proc.stdout


def _expected(shape: str, value: str) -> str:
    return shape.replace("{V}", value)


@pytest.mark.parametrize(("template", "shape"), PLACES, ids=[p[0][:24] for p in PLACES])
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_a_value_is_text_wherever_it_stands(tmp_path: Path, template: str, shape: str,
                                            payload: str) -> None:
    # `$( )` and backticks drop trailing newlines
    payload_out = payload.rstrip("\n") if "$(" in template or "`" in template else payload
    script = Templater({"v": payload}, where=None).shell(template)
    out = _run(str(script), script.env, tmp_path)
    assert not (tmp_path / "PWNED").exists(), script
    assert out == _expected(shape, payload_out) + "\n", script


@pytest.mark.parametrize(("template", "shape"), [p for p in PLACES if "#" not in p[0]],
                         ids=[p[0][:24] for p in PLACES if "#" not in p[0]])
def test_a_secret_comes_by_environment_wherever_it_stands(tmp_path: Path, template: str,
                                                          shape: str) -> None:
    secret = 'S3cr3t "$(touch PWNED)" \'x\''
    masker = Masker()
    script = Templater({"v": taint(secret, masker)}, where=None).shell(template)
    assert secret not in str(script) and "S3cr3t" not in str(script)
    out = _run(str(script), script.env, tmp_path)
    assert not (tmp_path / "PWNED").exists(), script
    assert out == _expected(shape, secret) + "\n", script


def test_a_quoted_heredoc_takes_one_line_and_refuses_a_line_break_or_a_secret() -> None:
    tpl = "cat <<'EOF'\npre {{ v }} post\nEOF"
    assert str(Templater({"v": "a $(b) `c`"}, where=None).shell(tpl)) == \
        "cat <<'EOF'\npre a $(b) `c` post\nEOF"
    with pytest.raises(TemplateRenderError, match="line break cannot go into a heredoc") as info:
        Templater({"v": "EOF\ntouch PWNED"}, where=None).shell(tpl)
    assert "`env:`" in (info.value.hint or "")
    with pytest.raises(TemplateRenderError, match="secret cannot go into a heredoc"):
        Templater({"v": taint("s3cret-value", Masker())}, where=None).shell(tpl)


def test_the_reader_sees_double_quotes_without_doubled_quotes() -> None:
    """`echo "{{ secret }}"` used to render `echo ""$VVRUN_SECRET_…""`: it now reads as
    written, and a plain value inside double quotes shows no single quotes."""
    secret = taint("tok-123456", Masker(), "token")
    shown = str(Templater({"s": secret, "n": "Bob Smith"}, where=None).shell(
        'echo "{{ s }}" "Hello {{ n }}"'))
    assert shown.startswith('echo "${VVRUN_SECRET_') and '""' not in shown
    assert shown.endswith('" "Hello Bob Smith"')
