"""The `confirm` step: the question, the answer, and what a no does."""

from __future__ import annotations

import pytest

from tests.helpers import ScriptedPrompter, run_step
from vvrun.errors import EXIT_ABORTED, EXIT_PAUSED, Aborted, Location, Paused
from vvrun.language.templates import Templater
from vvrun.steps import confirm

WHERE = Location("test.yaml", 1, 1, "t")


def test_yes_confirms() -> None:
    prompter = ScriptedPrompter(confirms=[True])
    assert run_step("confirm", "Terminate these queries?", prompter=prompter) == \
        {"confirmed": True}
    assert prompter.asked == ["Terminate these queries?"]


def test_the_prompt_is_a_template() -> None:
    prompter = ScriptedPrompter(confirms=[True])
    run_step("confirm", "Restart {{ inputs.svc }}?", prompter=prompter,
             context={"inputs": {"svc": "api"}, "env": {}, "steps": {}})
    assert prompter.asked == ["Restart api?"]


def test_no_aborts_with_exit_4() -> None:
    with pytest.raises(Aborted) as info:
        run_step("confirm", "Go on?", prompter=ScriptedPrompter(confirms=[False]))
    err = info.value
    assert err.exit_code == EXIT_ABORTED
    assert err.message == "the operator answered no to 'Go on?'; the run stops here"
    assert err.where == WHERE and "start the run again" in (err.hint or "")


def test_no_with_on_no_continue_gives_false() -> None:
    result = run_step("confirm", {"prompt": "Also purge the CDN?", "on_no": "continue"},
                      prompter=ScriptedPrompter(confirms=[False]))
    assert result == {"confirmed": False}


def test_type_to_confirm_asks_for_the_word() -> None:
    prompter = ScriptedPrompter(words=["db-restore"])
    result = run_step("confirm", {"prompt": "Restore over production?",
                                  "type_to_confirm": "db-restore"}, prompter=prompter)
    assert result == {"confirmed": True}


def test_a_wrong_word_aborts() -> None:
    with pytest.raises(Aborted, match="did not type 'db-restore' to 'Restore"):
        run_step("confirm", {"prompt": "Restore?", "type_to_confirm": "db-restore"},
                 prompter=ScriptedPrompter(words=["db-restor"]))


def test_no_terminal_pauses_with_how_to_continue() -> None:
    with pytest.raises(Paused) as info:
        run_step("confirm", "Go on?", prompter=ScriptedPrompter())
    err = info.value
    assert err.exit_code == EXIT_PAUSED
    assert "waiting for an answer to 'Go on?'" in err.message
    assert "`vvrun resume test`" in (err.hint or "") and "--yes" in (err.hint or "")


def test_no_terminal_for_a_typed_word_names_the_confirm_word_option() -> None:
    with pytest.raises(Paused) as info:
        run_step("confirm", {"prompt": "Restore?", "type_to_confirm": "db-{{ inputs.x }}"},
                 prompter=ScriptedPrompter(), context={"inputs": {"x": "a"}, "env": {},
                                                       "steps": {}})
    assert "--yes --confirm-word db-a" in (info.value.hint or "")


def test_describe() -> None:
    spec = confirm.parse({"prompt": "Wipe {{ inputs.t }}?", "type_to_confirm": "wipe",
                          "on_no": "continue"}, WHERE)
    action = confirm.render(spec, Templater({"inputs": {"t": "cache"}}, where=WHERE), {})
    d = confirm.describe(action)
    assert d.summary == "Wipe cache?"
    assert d.notes == ("the operator types 'wipe' to confirm", "a no continues the run")
    d = confirm.describe(confirm.ConfirmAction(prompt="Go?", default=True))
    assert d.notes == ("default answer: yes", "a no aborts the run")
