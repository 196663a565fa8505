"""`vvrun show RUN --follow`: a live run's audit trail as it is written, until the run ends.

The store is polled, as the web console's live page does: it is shared by every process that
runs or answers the run, so a run started in a terminal, in the page or by a schedule is
followed alike, through its pauses (a pause waits for someone; it is not the end). Ctrl-C stops
following, not the run, and exits 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vvrun.state import Store
from vvrun.state.verify import verify_chain
from vvrun.ui import timeline

POLL = 0.3  # seconds between two looks at the store
ENDED = ("succeeded", "failed", "aborted")


def follow(store: Store, run_id: str, out: Callable[[str], None], *,
           poll: float = POLL, sleep: Callable[[float], None] = time.sleep) -> int:
    """Print the run's events as `show --events` does, then its steps when it ends; 1 when
    its audit trail does not verify, else 0 (also on Ctrl-C)."""
    seen, status = 0, None
    try:
        while True:
            run = store.get_run(run_id)
            if run is None:  # the caller checked it exists: it was deleted meanwhile
                out(f"run {run_id} is no longer in the state store")
                return 1
            for event in store.events(run_id):
                if int(event.get("n") or 0) > seen:
                    seen = int(event["n"])
                    out(timeline.events_text([event], []).split("\n", 1)[0])
            if run.status != status and run.status in ("paused", "interrupted"):
                out(f"      … {run.status}" + (f": {run.error}" if run.error else "")
                    + " (still following; Ctrl-C to stop)")
            status = run.status
            if status in ENDED:
                break
            sleep(poll)
    except KeyboardInterrupt:
        return 0
    problems = verify_chain(store, run_id).problems
    out("")
    out(timeline.run_text(run, store.step_results(run_id)))
    out(timeline.chain_verdict(store.events(run_id), problems))
    return 1 if problems else 0
