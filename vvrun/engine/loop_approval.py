"""A dangerous loop asks once (SPEC §3, `for_each`): every item's action is rendered first and
shown as one table, and one answer (or one set of signatures, with `approvers: 2`) covers them
all. `confirm_each: true` keeps the question per item (the engine's ordinary approval).

The answer is bound to the digest of the whole table — every item's rendered action, in order
— so a resume that renders the same items does not ask again, and one whose items changed
(another row found, another parameter) does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vvrun.engine.approval import record_confirmed
from vvrun.engine.context import action_hash, describe_dict, evaluate
from vvrun.engine.groups import loop_view
from vvrun.engine.secret_env import shell_secrets_to_env
from vvrun.engine.session import RunSession
from vvrun.engine.signed import approve_proved
from vvrun.errors import Aborted, Paused
from vvrun.language.model import Step
from vvrun.language.templates import Templater
from vvrun.steps import STEP_TYPES
from vvrun.steps.base import Description
from vvrun.ui.items import items_table


@dataclass(frozen=True)
class Item:
    key: str  # the item's ledger key, `step[2]`
    digest: str  # what its own approval would be bound to
    shown: dict[str, Any]  # its Description as event data, masked


def asks_once(step: Step) -> bool:
    """Whether this loop asks once for all its items."""
    return (step.danger and step.for_each is not None and not step.confirm_each
            and step.type not in ("group", "confirm", "manual", "runbook"))


def approve_loop(run: RunSession, step: Step, key: str, tpl: Templater, items: list[Any],
                 per_item_when: bool) -> dict[str, str]:
    """Ask once for every item of the loop (those done before a resume included: the table is
    the whole loop's); returns the digest each item's action must render to when it runs to be
    covered. Raises Aborted on a no, Paused when nobody can answer, StepFailed when an item
    does not render (before any item ran)."""
    rendered, left = [], 0
    for i, item in enumerate(items):
        itpl = tpl.child(item=item, loop=loop_view(i, len(items)))
        if per_item_when and not evaluate(itpl, step.when or "true"):
            continue
        ikey = f"{key}[{i}]"
        rendered.append(_render(run, step, ikey, itpl))
        done = run.ledger.get(ikey)
        left += done is None or done.status.value not in ("succeeded", "skipped")
    if not left:
        return {}
    table = items_table(key, [(i.key, i.shown) for i in rendered])
    digest = hashlib.sha256(json.dumps([(i.key, i.digest) for i in rendered]).encode()
                            ).hexdigest()
    covered = {i.key: i.digest for i in rendered}
    run.current = key  # a pause or a no while asking is the loop's, recorded as such
    _ask(run, step, key, rendered, left, table, digest)
    run.current = None
    return covered


def _ask(run: RunSession, step: Step, key: str, rendered: list[Item], left: int, table: str,
         digest: str) -> None:
    if step.approvers > 1 or step.approvers_group:
        desc = Description(summary=f"{len(rendered)} items of dangerous step '{key}'",
                           body=table, language="text")
        approve_proved(run, step, key, None, desc)
        return
    if _confirmed_before(run, key, digest):
        return
    if run.opts.yes:
        record_confirmed(run, key, digest, via="--yes")
        return
    where = step.where.with_step(key)
    n = len(rendered)
    question = f"Run dangerous step '{key}' for {'this item' if n == 1 else f'all {n} items'}"
    question += f" ({n - left} done before)?" if left < n else "?"
    try:
        yes = run.prompter.confirm(question, default=False, detail=run.masker.mask(table))
    except Paused as exc:
        raise Paused(f"this loop is marked danger and waits for one confirmation of its {n} "
                     "items, and there is no terminal to ask", where=where,
                     hint=f"resume at a terminal with `vvrun resume {run.run_id}`, or with "
                     f"`vvrun resume {run.run_id} --yes` to confirm them") from exc
    if not yes:
        raise Aborted(f"the operator answered no to the {n} items of dangerous step '{key}'; "
                      "the run stops here", where=where,
                      hint="no item of this step ran; start again when it is time")
    record_confirmed(run, key, digest, via="prompt")


def _confirmed_before(run: RunSession, key: str, digest: str) -> bool:
    return any(e.get("kind") == "confirmed" and (e.get("data") or {}).get("step_id") == key
               and e["data"].get("action_hash") == digest for e in run.store.events(run.run_id))


def _render(run: RunSession, step: Step, key: str, tpl: Templater) -> Item:
    """An item's action exactly as the engine will render it when the item runs."""
    module = STEP_TYPES[step.type]
    action = module.render(step.spec, tpl, run.runbook.connections)
    if step.type == "shell":
        action = shell_secrets_to_env(action, run.runbook, run.inputs)
    desc = module.describe(action)
    return Item(key, action_hash(desc, run.masker), describe_dict(desc, run.masker))
