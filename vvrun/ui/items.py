"""A dangerous loop's items as one table: what the operator approves once (and what a plan
shows when it can render the items). Pure text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vvrun.ui.tables import fit
from vvrun.ui.values import parameters

TABLE_WIDTH = 120  # wider rows are shown expanded, one block per item, nothing cut


def items_table(key: str, items: Sequence[tuple[str, Mapping[str, Any]]],
                width: int = TABLE_WIDTH) -> str:
    """A title line, then one row per `(item key, shown action)`: its rendered action, its
    parameters when it has any, and its target when the items do not all act on the same one.
    `shown` is a Description as event data (summary, body, params, target), masked."""
    targets = {str(shown.get("target") or "") for _, shown in items}
    n = len(items)
    title = f"dangerous step '{key}', {n} item{'' if n == 1 else 's'}"
    if len(targets) == 1 and "" not in targets:
        title += f", on {targets.pop()}"
    columns: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        ("action", lambda d: d.get("body") or d.get("summary") or "")]
    if any(shown.get("params") for _, shown in items):
        columns.append(("parameters", lambda d: parameters(d).removeprefix("parameters: ")))
    if len(targets) > 1:
        columns.append(("on", lambda d: d.get("target") or ""))
    rows = [[ikey, *(get(shown) for _, get in columns)] for ikey, shown in items]
    return "\n".join([title + ":", *fit(["item", *(name for name, _ in columns)], rows, width)])
