"""The prompters: a terminal fed by streams, a real pseudo-terminal, no terminal, --ack."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import textwrap

import pytest

from vvrun.errors import EXIT_PAUSED, Paused, UsageError
from vvrun.ui.prompter import AckPrompter, NoTerminalPrompter, TerminalPrompter


def prompter(answers: str, **kw) -> tuple[TerminalPrompter, io.StringIO]:
    out = io.StringIO()
    return TerminalPrompter(out, stdin=io.StringIO(answers), **kw), out


@pytest.mark.parametrize(("answers", "default", "expected"), [
    ("y\n", False, True), ("yes\n", False, True), ("N\n", True, False), ("\n", True, True),
    ("\n", False, False), ("maybe\nno\n", True, False)])
def test_confirm(answers, default, expected) -> None:
    p, out = prompter(answers)
    assert p.confirm("Terminate?", default=default, detail="SELECT pg_terminate_backend(1)") \
        is expected
    text = out.getvalue()
    assert "SELECT pg_terminate_backend(1)" in text
    assert f"Terminate? {'[Y/n]' if default else '[y/N]'}" in text
    assert "\x1b[" not in text  # not a terminal: no colour codes
    if "maybe" in answers:
        assert "Please answer y or n." in text


def test_yes_answers_confirm_but_not_a_typed_word() -> None:
    p, out = prompter("", yes=True)
    assert p.confirm("Go?") is True
    assert "Go? yes (--yes)" in out.getvalue()
    with pytest.raises(Paused):
        p.type_word("Restore?", "db-restore")


def test_type_word_allows_a_typo_then_takes_the_word() -> None:
    p, out = prompter("db-restor\ndb-restore\n")
    assert p.type_word("Restore over production?", "db-restore") is True
    assert "That is not 'db-restore'; type it exactly." in out.getvalue()


def test_type_word_enter_cancels_and_three_wrong_words_are_a_no() -> None:
    assert prompter("\n")[0].type_word("Restore?", "w") is False
    assert prompter("a\nb\nc\nw\n")[0].type_word("Restore?", "w") is False


def test_ask_re_asks_until_the_answer_fits() -> None:
    p, out = prompter("leave\n2\n")
    answer = p.ask("action", description="What did you do?", choices=("cancel", "terminate"))
    assert answer == "terminate"
    text = out.getvalue()
    assert "What did you do?" in text and "  1) cancel" in text and "  2) terminate" in text
    assert "field 'action' must be one of cancel, terminate, not 'leave'" in text


def test_ask_pattern_and_empty_answers() -> None:
    p, out = prompter("\nINC\nINC-42\n")
    assert p.ask("ticket", pattern=r"INC-\d+") == "INC-42"
    assert "field 'ticket' needs a value" in out.getvalue()
    assert r"field 'ticket' must match INC-\d+, not 'INC'" in out.getvalue()


def test_a_secret_answer_is_never_repeated() -> None:
    p, out = prompter("sh\nhunter22\n")
    assert p.ask("password", secret=True, pattern=".{5,}") == "hunter22"
    assert "field 'password' must match .{5,}, not that answer" in out.getvalue()
    assert "sh'" not in out.getvalue() and "hunter22" not in out.getvalue()


def test_checklist_and_acknowledge_render_markdown() -> None:
    p, out = prompter("\nn\ny\nticket INC-7 opened\n")
    assert p.checklist(("paged", "posted", "waited")) == ["paged", "waited"]
    assert p.acknowledge("# Escalate\n\nOpen a **ticket**.") == "ticket INC-7 opened"
    text = out.getvalue()
    assert "[ ] paged — done? [Y/n]" in text
    assert "Escalate" in text and "Open a ticket." in text and "**" not in text


def test_end_of_input_pauses() -> None:
    p, _ = prompter("")
    with pytest.raises(Paused, match="the input was closed") as info:
        p.confirm("Go?")
    assert info.value.exit_code == EXIT_PAUSED


def test_before_prompt_runs_before_each_question() -> None:
    calls: list[str] = []
    p, _ = prompter("y\nx\n", before_prompt=lambda: calls.append("pause"))
    p.confirm("Go?")
    p.ask("f")
    assert calls == ["pause", "pause"]


def test_the_live_display_is_paused_before_a_questions_details_are_shown() -> None:
    out = io.StringIO()
    calls: list[str] = []
    p = TerminalPrompter(out, stdin=io.StringIO("y\n"),
                         before_prompt=lambda: calls.append(f"pause at {len(out.getvalue())}"))
    p.confirm("Go?", detail="DROP TABLE t")
    assert calls[0] == "pause at 0"  # nothing was written before the live line was stopped


def test_text_is_not_taken_as_markup() -> None:
    p, out = prompter("y\n")
    p.confirm("Run [bold]this[/bold]?", detail="SELECT ARRAY[1] [/]")
    assert "Run [bold]this[/bold]?" in out.getvalue()
    assert "SELECT ARRAY[1] [/]" in out.getvalue()


SCRIPT = textwrap.dedent("""
    from vvrun.ui.prompter import TerminalPrompter
    p = TerminalPrompter()
    secret = p.ask("password", secret=True)
    print("GOT", len(secret), flush=True)
    print("CONFIRM", p.confirm("Go on?"), flush=True)
""")


def test_at_a_real_terminal_secrets_are_not_echoed() -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True, close_fds=True,
                            env={**os.environ, "TERM": "dumb"})
    os.close(slave)
    seen = b""
    sent: set[bytes] = set()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 20)
            if not ready:
                pytest.fail(f"the prompter stopped talking; so far: {seen!r}")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            for prompt, answer in ((b"password: ", b"hunter22\n"), (b"[y/N] ", b"y\n")):
                if prompt in seen and prompt not in sent:
                    sent.add(prompt)
                    os.write(master, answer)
    finally:
        os.close(master)
        proc.wait(20)
    text = seen.decode(errors="replace")
    assert "GOT 8" in text
    assert "CONFIRM True" in text
    assert "hunter22" not in text


def test_no_terminal_pauses_with_what_it_waits_for() -> None:
    p = NoTerminalPrompter("20240101-abc")
    with pytest.raises(Paused) as info:
        p.confirm("Terminate?")
    assert info.value.message == ("waiting for an answer to 'Terminate?', and there is no "
                                  "terminal to ask")
    assert info.value.hint == ("run `vvrun resume 20240101-abc` at a terminal, or resume with "
                               "`--yes` to answer yes")
    with pytest.raises(Paused, match="waiting for the word 'w'") as info:
        p.type_word("Restore?", "w")
    assert "`--yes --confirm-word w`" in (info.value.hint or "")
    with pytest.raises(Paused, match="waiting for a value for 'ticket'") as info:
        p.ask("ticket")
    assert "--ack STEP --field ticket=VALUE" in (info.value.hint or "")
    with pytest.raises(Paused, match="waiting for the checklist"):
        p.checklist(("a",))
    with pytest.raises(Paused, match="waiting for an operator to acknowledge: Escalate") as info:
        p.acknowledge("## Escalate\nnow")
    assert "`vvrun resume 20240101-abc --ack STEP`" in (info.value.hint or "")


def test_ack_prompter_answers_a_manual_step() -> None:
    p = AckPrompter({"ticket": "INC-1", "typo": "x"}, notes="done by phone", step_id="esc")
    assert p.acknowledge("x") == "done by phone"
    assert p.checklist(("a", "b")) == ["a", "b"]
    assert p.ask("ticket") == "INC-1"
    assert p.unused() == ["typo"]
    with pytest.raises(UsageError) as info:
        p.ask("action", choices=("a", "b"))
    assert info.value.message == "step 'esc' records 'action', and --ack did not give it"
    assert info.value.hint == "add `--field action=a|b`"
    with pytest.raises(Paused):
        p.confirm("Check again?")


def test_ack_prompter_falls_back_to_a_terminal() -> None:
    terminal, _ = prompter("INC-9\ny\n")
    p = AckPrompter({}, fallback=terminal)
    assert p.ask("ticket") == "INC-9"
    assert p.confirm("Check again?") is True


def test_the_action_the_step_header_showed_is_not_repeated_at_the_prompt() -> None:
    from tests.test_ui_console import started
    from vvrun.ui.console import TerminalSink

    screen = io.StringIO()
    sink = TerminalSink(screen, color=False, interactive=False)
    sink.emit(started(1, "kill", "sql", summary="SELECT pg_terminate_backend($1)",
                      body="SELECT pg_terminate_backend($1)", language="sql", params=(42,),
                      target="postgresql://ops@db:5432/app", danger=True))
    p = TerminalPrompter(screen, stdin=io.StringIO("y\ny\n"), before_prompt=sink.pause)
    shown = ("SELECT pg_terminate_backend($1)\nparameters: $1 = 42\n"
             "on postgresql://ops@db:5432/app")
    assert p.confirm("Run dangerous step 'kill'?", detail=shown) is True
    assert screen.getvalue().count("pg_terminate_backend") == 1
    assert screen.getvalue().count("$1 = 42") == 1
    # a detail the header did not show (a failed verification, say) is printed
    assert p.confirm("Again?", detail="verification failed: 3 rows left") is True
    assert "verification failed: 3 rows left" in screen.getvalue()
