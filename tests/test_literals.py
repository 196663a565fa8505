"""Parameters are written one way wherever a reviewer or an approver reads them: the plan, the
step header, the danger prompt (with or without a header above it) and the text a second
approver signs off (`vvrun.text.literals`)."""

from __future__ import annotations

from vvrun.engine.approval import _detail
from vvrun.language.templates import Unknown
from vvrun.plan.render import show_value
from vvrun.steps.base import Description
from vvrun.text.literals import sql_literal
from vvrun.ui.values import param_text

VALUES = [None, True, 42, 1.5, "o'brien", [10476, 10477], ("a", None), {"k": [1]}]
WRITTEN = ["NULL", "true", "42", "1.5", "'o''brien'", "[10476, 10477]", "['a', NULL]",
           '{"k": [1]}']


def test_every_place_writes_a_value_the_same_way() -> None:
    assert [sql_literal(v) for v in VALUES] == WRITTEN
    assert [param_text(v) for v in VALUES] == WRITTEN
    assert [show_value(v) for v in VALUES] == WRITTEN


def test_a_plan_keeps_its_placeholders_at_any_depth() -> None:
    unknown = Unknown("steps.find.result.rows")
    assert show_value(unknown) == str(unknown)
    assert show_value([1, unknown]) == f"[1, {unknown}]"


def test_the_danger_prompt_without_a_header_writes_them_so_too() -> None:
    desc = Description("DELETE FROM t WHERE id = ANY($1)", params=([10476, 10477], "o'brien"))
    assert "parameters: $1 = [10476, 10477], $2 = 'o''brien'" in _detail(desc)


def test_the_text_an_approver_signs_off_writes_them_so_too() -> None:
    from vvrun.identity.flow import PendingAction

    pending = PendingAction(run_id="r", step_id="s", step_type="sql", attempt=1,
                              body="SELECT $1", params=([1, 2],))
    assert "parameters: $1 = [1, 2]" in pending.text()
