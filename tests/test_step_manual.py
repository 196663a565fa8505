"""The `manual` step: instructions, checklist, recorded fields and `verify` (real bash/HTTP)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ListConsole, ScriptedPrompter, connections, run_step
from vvrun.errors import EXIT_PAUSED, Location, Paused, StepFailed
from vvrun.language.templates import Templater
from vvrun.steps import manual

WHERE = Location("test.yaml", 1, 1, "t")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def ctx(**inputs: object) -> dict[str, object]:
    return {"inputs": inputs, "env": {}, "steps": {}}


def test_short_form_is_acknowledged() -> None:
    prompter = ScriptedPrompter(notes="done, ticket 12")
    result = run_step("manual", "Post the incident link in #incidents.", prompter=prompter)
    assert result == {"acknowledged": True, "checklist": [], "fields": {},
                      "notes": "done, ticket 12", "verified": None}
    assert prompter.asked == ["ack"]


def test_checklist_and_fields() -> None:
    prompter = ScriptedPrompter(ticks=["paged the DBA"],
                                answers={"ticket_url": "https://t/1", "action": "cancel"})
    body = {"instructions": "Open a ticket for {{ inputs.db }}.",
            "checklist": ["paged the DBA", "posted in #incidents"],
            "record": ["ticket_url", {"name": "action", "choices": ["cancel", "terminate"]}]}
    result = run_step("manual", body, prompter=prompter, context=ctx(db="main"))
    assert result["checklist"] == ["paged the DBA"]
    assert result["fields"] == {"ticket_url": "https://t/1", "action": "cancel"}
    assert prompter.asked == ["ack", "ticket_url", "action"]


@pytest.mark.parametrize(("field", "answer", "good", "message"), [
    ({"name": "action", "choices": ["cancel", "terminate"]}, "leave", "cancel",
     "field 'action' must be one of cancel, terminate, not 'leave'"),
    ({"name": "ticket", "pattern": "^INC-[0-9]+$"}, "12", "INC-12",
     "field 'ticket' must match ^INC-[0-9]+$, not '12'"),
    ("ticket", "  ", "INC-1", "field 'ticket' needs a value"),
])
def test_a_bad_answer_is_asked_again(field, answer, good, message) -> None:
    """SPEC §3.10: an invalid answer is asked again, never the end of the run."""
    name = field if isinstance(field, str) else field["name"]
    console = ListConsole()
    prompter = ScriptedPrompter(answers={name: [answer, good]})
    result = run_step("manual", {"instructions": "x", "record": [field]},
                      prompter=prompter, console=console)
    assert result["fields"] == {name: good}
    assert prompter.asked == ["ack", name, name]
    assert ("stderr", message) in console.lines


def test_a_prompter_that_keeps_answering_wrong_pauses_the_run() -> None:
    prompter = ScriptedPrompter(answers={"action": ["leave"]})
    with pytest.raises(Paused):
        run_step("manual", {"instructions": "x",
                            "record": [{"name": "action", "choices": ["cancel"]}]},
                 prompter=prompter)
    assert prompter.asked.count("action") == manual.ASK_TRIES


def test_no_terminal_pauses_with_the_resume_command() -> None:
    body = {"instructions": "## Promote the replica\nThen say so.",
            "record": ["ticket_url", {"name": "action", "choices": ["cancel", "terminate"]}]}
    with pytest.raises(Paused) as info:
        run_step("manual", body, prompter=ScriptedPrompter(notes=""), console=ListConsole())
    # ScriptedPrompter acknowledges but has no answers: it pauses at the first field
    err = info.value
    assert err.exit_code == EXIT_PAUSED
    assert err.message == ("waiting for an operator to do this and acknowledge it: "
                           "Promote the replica")
    assert ("`vvrun resume test --ack t --field ticket_url=... "
            "--field action=cancel|terminate`") in (err.hint or "")


class FixingPrompter(ScriptedPrompter):
    """Says "check again" after doing what the check looks for."""

    def __init__(self, fix, answers: list[bool]) -> None:
        super().__init__(confirms=answers)
        self.fix = fix
        self.details: list[str] = []

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        self.details.append(detail)
        self.fix()
        return super().confirm(question, default=default, detail=detail)


def test_verify_keeps_the_operator_until_it_holds(tmp_path: Path) -> None:
    marker = tmp_path / "promoted"
    body = {"instructions": "Promote the replica.",
            "verify": {"shell": f"test -f {marker} && echo yes || echo no",
                       "expect": "result.stdout == 'yes'"}}
    prompter = FixingPrompter(marker.touch, [True])
    console = ListConsole()
    result = run_step("manual", body, prompter=prompter, env=ENV, console=console)
    assert result["verified"] is True
    assert prompter.details == ["`result.stdout == 'yes'` is false (result.stdout = 'no')"]
    assert ("stderr", "verify: `result.stdout == 'yes'` is false (result.stdout = 'no')") \
        in console.lines


def test_verify_that_holds_at_once_asks_nothing_more(http_server) -> None:
    http_server.json("GET", "/replica", {"in_recovery": False})
    body = {"instructions": "Promote the replica.",
            "verify": {"http": "GET /replica", "expect": ["result.status == 200",
                                                          "not result.json.in_recovery"]}}
    prompter = ScriptedPrompter()
    result = run_step("manual", body, prompter=prompter, conns=connections(api=http_server.url))
    assert result["verified"] is True
    assert prompter.asked == ["ack"]


def test_verify_without_a_terminal_fails_with_what_it_saw(http_server) -> None:
    http_server.json("GET", "/replica", {"in_recovery": True})
    body = {"instructions": "Promote the replica.",
            "verify": {"http": "GET /replica", "expect": "result.json.in_recovery == false"}}
    with pytest.raises(StepFailed) as info:
        run_step("manual", body, prompter=ScriptedPrompter(),
                 conns=connections(api=http_server.url))
    assert info.value.message == ("acknowledged, but the check does not hold: "
                                  "`result.json.in_recovery == false` is false "
                                  "(result.json.in_recovery = true)")
    assert "vvrun resume test" in (info.value.hint or "")


def test_verify_the_operator_gives_up(tmp_path: Path) -> None:
    body = {"instructions": "x", "verify": {"shell": "exit 1", "expect": "true"}}
    with pytest.raises(StepFailed) as info:
        run_step("manual", body, prompter=ScriptedPrompter(confirms=[False]), env=ENV)
    assert info.value.message.startswith(
        "acknowledged, but the check does not hold: the shell check failed: "
        "command exited with 1")


def test_verify_expression_errors_count_as_not_holding(http_server) -> None:
    http_server.json("GET", "/x", {})
    body = {"instructions": "x", "verify": {"http": "GET /x", "expect": "result.json.nope > 1"}}
    with pytest.raises(StepFailed, match=r"`result\.json\.nope > 1` could not be evaluated"):
        run_step("manual", body, prompter=ScriptedPrompter(),
                 conns=connections(api=http_server.url))


def test_field_problem_and_resume_hint() -> None:
    f = manual.RecordField("ticket", pattern=r"^INC-\d+$")
    assert manual.field_problem(f, "INC-1") is None
    assert manual.field_problem(f, "INC-1x") == (
        r"field 'ticket' must match ^INC-\d+$, not 'INC-1x'")
    action = manual.ManualAction("x", record=(f,))
    assert manual.resume_hint(action, "r1", "s") == "vvrun resume r1 --ack s --field ticket=..."


def test_describe_shows_everything_a_reviewer_needs() -> None:
    body = {"instructions": "# Escalate\nOpen a ticket for {{ inputs.db }}.",
            "checklist": ["paged"],
            "record": [{"name": "action", "description": "what you did",
                        "choices": ["a", "b"]}],
            "verify": {"shell": "check {{ inputs.db }}", "expect": "result.exit_code == 0"}}
    spec = manual.parse(body, WHERE)
    action = manual.render(spec, Templater(ctx(db="main db"), where=WHERE), {})
    d = manual.describe(action)
    assert d.summary == "Escalate"
    assert d.body == "# Escalate\nOpen a ticket for main db."
    assert d.language == "markdown"
    assert d.notes == ("[ ] paged", "record action: what you did (one of: a, b)",
                       "verify (shell): check 'main db'", "  expect: result.exit_code == 0")


def test_verify_with_sql_against_real_postgres(pg_url: str) -> None:
    import uuid

    import psycopg

    table = f"t_manual_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (promoted boolean)")
        try:
            body = {"instructions": "Promote the replica, then record it.",
                    "verify": {"sql": f"SELECT count(*) AS n FROM {table} WHERE promoted",
                               "expect": "result.value == 1"}}
            prompter = FixingPrompter(
                lambda: conn.execute(f"INSERT INTO {table} VALUES (true)"), [True])
            result = run_step("manual", body, prompter=prompter,
                              conns=connections(db=pg_url))
            assert result["verified"] is True
            assert prompter.details == ["`result.value == 1` is false (result.value = 0)"]
        finally:
            conn.execute(f"DROP TABLE {table}")


def test_a_verify_that_would_write_is_refused_by_the_server(pg_url: str) -> None:
    """The attack: a `verify` whose SELECT calls a function that writes (no static check can
    see inside it). The check runs in a READ ONLY session: the server refuses the write, the
    table is untouched, and the step fails saying why."""
    import uuid

    import psycopg

    table = f"t_verify_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (n int)")
        conn.execute(f"CREATE FUNCTION {table}_bump() RETURNS int LANGUAGE sql AS "
                     f"$$ INSERT INTO {table} VALUES (1) RETURNING n $$")
        try:
            body = {"instructions": "Look at it.",
                    "verify": {"sql": f"SELECT {table}_bump() AS n", "expect": "true"}}
            with pytest.raises(StepFailed) as info:
                run_step("manual", body, prompter=ScriptedPrompter(confirms=[False]),
                         conns=connections(db=pg_url))
            assert "read-only transaction" in info.value.message
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        finally:
            conn.execute(f"DROP FUNCTION {table}_bump()")
            conn.execute(f"DROP TABLE {table}")


def test_a_verify_sql_is_parsed_read_only() -> None:
    spec = manual.parse({"instructions": "x", "verify": {"sql": "SELECT 1", "expect": "true"}},
                        WHERE)
    assert spec.verify is not None and spec.verify.spec.read_only is True


def test_a_record_pattern_is_searched_as_an_inputs_and_the_web_consoles_are() -> None:
    """`pattern: '^https://'` accepts `https://t/1` (a full match refused every answer and the
    operator was asked again for ever); the terminal, `resume --field` and the web inbox agree."""
    f = manual.RecordField("ticket_url", pattern="^https://")
    assert manual.field_problem(f, "https://t/1") is None
    assert manual.field_problem(f, "http://t/1") == (
        "field 'ticket_url' must match ^https://, not 'http://t/1'")
    anchored = manual.RecordField("n", pattern=r"^\d+$")
    assert manual.field_problem(anchored, "12x") is not None
