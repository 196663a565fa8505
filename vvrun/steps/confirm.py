"""`confirm`: the operator approves (or not) before the run goes on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Aborted, Location, Paused
from vvrun.steps.base import Connection, Description, StepIO, Templater

NAME = "confirm"

SCHEMA: Mapping[str, Any] = {
    "description": "Ask the operator. A `no` aborts the run (exit 4) unless `on_no: continue`. "
    "With no terminal and no `--yes`, the run pauses (exit 3).",
    "examples": ["Terminate these queries?", {"prompt": "Restore over production?",
                                              "type_to_confirm": "db-restore"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The question."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string", "minLength": 1, "description": "The question."},
                "default": {"type": "boolean", "default": False,
                            "description": "The answer when the operator just presses Enter."},
                "type_to_confirm": {"type": "string", "minLength": 1,
                                    "description": "A word the operator must type to confirm "
                                    "(`--yes` alone does not answer it; `--confirm-word` does)."},
                "on_no": {"type": "string", "enum": ["abort", "continue"], "default": "abort",
                          "description": "What a `no` does: abort the run, or continue."},
            },
        },
    ],
}


@dataclass(frozen=True)
class ConfirmSpec:
    prompt: str
    default: bool = False
    type_to_confirm: str | None = None
    on_no: str = "abort"


def parse(body: Any, where: Location) -> ConfirmSpec:
    if isinstance(body, str):
        return ConfirmSpec(prompt=body)
    return ConfirmSpec(
        prompt=body["prompt"],
        default=bool(body.get("default", False)),
        type_to_confirm=body.get("type_to_confirm"),
        on_no=body.get("on_no", "abort"),
    )


# -- render / describe / execute ------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmAction:
    prompt: str
    default: bool = False
    type_to_confirm: str | None = None
    on_no: str = "abort"


def render(spec: ConfirmSpec, tpl: Templater, conns: Mapping[str, Connection]) -> ConfirmAction:
    word = None if spec.type_to_confirm is None else str(tpl.text(spec.type_to_confirm))
    return ConfirmAction(prompt=str(tpl.text(spec.prompt)), default=spec.default,
                         type_to_confirm=word, on_no=spec.on_no)


def describe(action: ConfirmAction) -> Description:
    notes = []
    if action.type_to_confirm:
        notes.append(f"the operator types {action.type_to_confirm!r} to confirm")
    else:
        notes.append(f"default answer: {'yes' if action.default else 'no'}")
    notes.append("a no continues the run" if action.on_no == "continue"
                 else "a no aborts the run")
    return Description(summary=action.prompt, language="text", notes=tuple(notes))


def execute(action: ConfirmAction, io: StepIO) -> dict[str, Any]:
    """Ask the operator. The engine has already handled `--yes` and approvers; this is the
    question itself. A no aborts (exit 4) unless `on_no: continue`."""
    try:
        if action.type_to_confirm:
            confirmed = io.prompter.type_word(action.prompt, action.type_to_confirm)
        else:
            confirmed = io.prompter.confirm(action.prompt, default=action.default)
    except Paused as exc:
        word = (f" --confirm-word {action.type_to_confirm}" if action.type_to_confirm else "")
        raise Paused(
            f"waiting for an answer to {action.prompt!r}, and there is no terminal to ask",
            where=io.where,
            hint=f"run `vvrun resume {io.run_id}` at a terminal to answer it, or resume with "
            f"`--yes{word}` to answer yes") from exc
    if not confirmed and action.on_no != "continue":
        what = (f"did not type {action.type_to_confirm!r}" if action.type_to_confirm
                else "answered no")
        raise Aborted(f"the operator {what} to {action.prompt!r}; the run stops here",
                      where=io.where,
                      hint="nothing after this step ran; start the run again when it is time")
    return {"confirmed": bool(confirmed)}
