"""Migration 3's second half: an old store's unkeyed sha256 chains become keyed ones.

A chain is re-keyed only if it verifies under the old scheme — a trail edited before the
migration must not be laundered into a valid keyed one — and each re-keyed chain ends with an
`audit_rekeyed` event that says so. A chain that does not verify is left as it was: `vvrun
verify` reports it. Ledger rows are signed for the runs whose chain was re-keyed (or that have
no events).
"""

from __future__ import annotations

import vvrun.state._sql_events as events_table
from vvrun.state._liveness import this_host
from vvrun.state._sql_ledger import rows as ledger_rows
from vvrun.state._sql_ledger import write as write_ledger
from vvrun.state._sql_tx import Tx
from vvrun.state.audit import GENESIS, check_legacy, event_mac


def rekey(tx: Tx, key: bytes) -> None:
    chains = [r[0] for r in tx.all("SELECT DISTINCT chain FROM {p}events ORDER BY chain")]
    refused: set[str] = set()
    for chain in chains:
        trail = events_table.read(tx, chain or None)
        if not check_legacy(trail):
            refused.add(chain)
            continue
        prev = GENESIS
        for event in trail:
            mac = event_mac(key, prev, event)
            tx.run("UPDATE {p}events SET prev_hash = ?, hash = ? WHERE chain = ? AND n = ?",
                   (prev, mac, chain, event["n"]))
            prev = mac
        events_table.append(tx, key, chain or None, "audit_rekeyed", {
            "from": "sha256", "to": "hmac-sha256", "events": len(trail),
            "why": "schema migration 3: the unkeyed chain verified, and was re-keyed with the "
                   "store's audit key"}, operator="vvrun migration", host=this_host())
    for (run_id,) in tx.all("SELECT DISTINCT run_id FROM {p}ledger"):
        if run_id in refused:
            continue
        for row in ledger_rows(tx, run_id):
            row.pop("mac", None)
            write_ledger(tx, key, row)
