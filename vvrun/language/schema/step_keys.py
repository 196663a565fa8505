"""The keys every step takes (SPEC §3 common keys), as JSON Schema fragments: `id`, `when`,
`retry`, `expect`, `outputs`, `for_each`, a group's `steps` and `repeat`…"""

from __future__ import annotations

from typing import Any

from vvrun.identity.schema import APPROVERS_SCHEMA
from vvrun.language.model import MAX_BACKOFF
from vvrun.text.durations import LIMIT, MAX_SECONDS, SCHEMA_PATTERN

ID_PATTERN = "^[a-z][a-z0-9_]*$"
DURATION_PATTERN = SCHEMA_PATTERN  # the one grammar, shared with the parser


def duration(description: str, examples: list[Any] | None = None) -> dict[str, Any]:
    return {
        "type": ["string", "number"],
        "pattern": DURATION_PATTERN,
        "minimum": 0,
        "maximum": MAX_SECONDS,  # text is held to it after the schema (`schema.durations`)
        "description": description
        + f" A duration: `500ms`, `30s`, `5m`, `1h`, `1h30m`, or seconds; at most {LIMIT}.",
        "examples": examples or ["30s", "5m"],
    }


def expression(description: str, examples: list[str]) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description, "examples": examples}


EXPECT = {
    "description": "An expression about `result`, or a list of them; any false → the step "
    "fails, showing the expression and the values it saw.",
    "examples": ["result.rowcount == 0", ["result.status == 200", "result.json.ok"]],
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    ],
}

RETRY = {
    "type": "object",
    "additionalProperties": False,
    "description": "Try again on failure; with `until` the step polls until the expression holds.",
    "examples": [{"attempts": 3, "delay": "2s", "backoff": 2},
                 {"attempts": 30, "delay": "10s", "until": "result.value == 0"}],
    "properties": {
        "attempts": {"type": "integer", "minimum": 1, "default": 1,
                     "description": "How many times to run the step at most."},
        "delay": duration("Wait between attempts.", ["2s"]),
        "backoff": {"type": "number", "minimum": 1, "maximum": MAX_BACKOFF, "default": 1,
                    "description": "Multiply the delay by this after each attempt (at most "
                    f"{MAX_BACKOFF}; the longest wait must stay within {LIMIT})."},
        "until": expression("Poll: repeat (within `attempts`) until this expression about "
                             "`result` holds.", ["result.value == 0"]),
        "on_exhausted": {"type": "string", "enum": ["fail", "continue"], "default": "fail",
                         "description": "When `until` still does not hold after the last "
                         "attempt: `fail` the step, or `continue` (the step succeeds with its "
                         "last result, and says so)."},
    },
}

REPEAT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["until"],
    "description": "On a group: run its steps again, round after round, until the expression "
    "holds (inside it, `steps.<id>` is this round's step).",
    "examples": [{"until": "steps.lag.outputs.seconds < 5", "max": 10, "delay": "30s"}],
    "properties": {
        "until": expression("Stop repeating when this holds (checked after each round).",
                             ["steps.check.result.value == 0"]),
        "max": {"type": "integer", "minimum": 1, "default": 10,
                "description": "At most this many rounds."},
        "delay": duration("Wait between rounds.", ["30s"]),
        "on_exhausted": {"type": "string", "enum": ["fail", "continue"], "default": "fail",
                         "description": "When `until` still does not hold after `max` rounds: "
                         "`fail` the group, or `continue` (it succeeds, and says so)."},
    },
}

ON_FAILURE = {
    "type": "string",
    "pattern": "^(abort|continue|ignore|[a-z][a-z0-9_]*)$",
    "default": "abort",
    "description": "`abort` (the run fails, exit 1), `continue` (recorded; the run goes on and "
    "ends `completed_with_failures`, exit 6), `ignore` (for a step whose failure truly does "
    "not matter: shown, not counted), or the id of a later step to jump to (a rollback path).",
    "examples": ["abort", "continue", "ignore", "rollback"],
}

TAGS = {
    "type": "array",
    "items": {"type": "string", "pattern": r"^[^\s,]+$"},
    "uniqueItems": True,
    "description": "Words to select by (`--tags`, `--skip-tags`).",
    "examples": [["database", "emergency"]],
}


def common_step_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "pattern": ID_PATTERN,
               "description": "Unique in the file; templates reach it as `steps.<id>`.",
               "examples": ["long_running"]},
        "title": {"type": "string", "minLength": 1,
                  "description": "One line for the operator; defaults to a summary of the step."},
        "description": {"type": "string",
                        "description": "Markdown guidance shown before the step runs."},
        "when": {"type": ["string", "boolean"], "minLength": 1,
                 "description": "A bare expression; false → the step is `skipped`.",
                 "examples": ["steps.long_running.result.rowcount > 0"]},
        "timeout": duration("Stop the step after this long (for sql, the statement_timeout)."),
        "grace": duration("After a timeout or a cancel: how long its processes get between "
                          "SIGTERM and SIGKILL (a query: between the cancel request and "
                          "terminating its backend). Default 5s.", ["5s"]),
        "retry": RETRY,
        "expect": EXPECT,
        "outputs": {
            "type": "object",
            "propertyNames": {"pattern": ID_PATTERN},
            "additionalProperties": {"type": "string", "minLength": 1},
            "description": "`{name: expression}` evaluated over `result`, kept as "
            "`steps.<id>.outputs.<name>`.",
            "examples": [{"count": "result.rowcount"}],
        },
        "on_failure": ON_FAILURE,
        "danger": {"type": "boolean", "default": False,
                   "description": "The operator must confirm before it runs; plans flag it."},
        "idempotent": {"type": "boolean", "default": False,
                       "description": "Safe to run again automatically when resuming after a "
                       "crash mid-step."},
        "approvers": APPROVERS_SCHEMA,
        "tags": TAGS,
        "watch": duration("At a terminal, re-run this read-only step every interval and redraw "
                           "its result until Enter (or `retry.until` holds).", ["2s"]),
        "for_each": expression("An expression giving a list; the step (or group) runs once "
                                "per `item` (`loop.index` counts from 1); its result is "
                                "`{items: [...]}`, one result per item; a loop whose items were "
                                "all skipped is `skipped`; a `danger` loop asks once, with a "
                                "table of every rendered item (`confirm_each: true` asks per "
                                "item).",
                                ["steps.find.result.rows", "inputs.replicas"]),
        "confirm_each": {"type": "boolean", "default": False,
                         "description": "With `danger` and `for_each`: ask before each item. "
                         "By default a dangerous loop asks once, showing every rendered item "
                         "as a table."},
        "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"},
                  "description": "Instead of a type key: a group of steps run in order as one "
                  "step (with `for_each`, per item; with `repeat`, until a condition holds). "
                  "Inside, `steps.<id>` is the current round's step; after it, "
                  "`steps.<group>.result.items[i].<id>` and the group's `outputs`.",
                  "examples": [[{"id": "look", "sql": "SELECT 1"},
                                {"id": "act", "shell": "echo act"}]]},
        "repeat": REPEAT,
    }
