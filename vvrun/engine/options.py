"""What the edge decides for a run, as plain values, and the engine's own error."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import VvrunError
from vvrun.steps.base import Prompter


@dataclass
class RunOptions:
    """Everything decided at the edge, as plain values."""

    operator: str
    host: str
    pid: int
    environ: Mapping[str, str] = field(default_factory=dict)
    yes: bool = False
    confirm_word: str | None = None
    from_step: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    #: at a terminal: wait up to N seconds for Enter, True when pressed (`watch`); None: none
    watch_wait: Callable[[float], bool] | None = None
    lock_ttl: float = 60.0
    source: str = ""  # the runbook text, kept with the run (resume shows what changed)
    path: str | None = None  # where the run record says the runbook is (absolute: resume)
    vvrun_version: str = ""
    # resume only
    ack: str | None = None  # the manual step `--ack` completes (with `ack_prompter`)
    ack_prompter: Prompter | None = None
    acks: Mapping[str, Prompter] = field(default_factory=dict)  # several `--ack`s: step → prompter
    #: `--allow-changed` accepted this runbook content (its source hash) for the run: recorded,
    #: so the next resume of the same content need not be told again
    allow_changed: Mapping[str, object] | None = None
    rerun: tuple[str, ...] = ()  # uncertain steps to run again without asking
    mark_done: tuple[str, ...] = ()  # uncertain steps to take as done
    sleep: Callable[[float], None] = time.sleep
    # proved approvals (`approvers: 2`, a group); read only where a step needs them
    signing_key: str | None = None  # --key (else $VVRUN_SIGNING_KEY, ~/.ssh/id_ed25519)
    allowed_signers: str | None = None  # --allowed-signers (else the runbook's repository's)
    # set by a second signal during a cancel: the cleanup skips its grace (engine/signals.py)
    hurry: threading.Event = field(default_factory=threading.Event)
    # held while the run's end is recorded: a signal then must not cut the record short
    shield: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext


def ack_prompter_for(options: RunOptions, step_id: str, key: str) -> Prompter | None:
    """The prompter `resume --ack` gave this manual step, if any."""
    for name in (key, step_id):
        if name in options.acks:
            return options.acks[name]
    if options.ack is not None and options.ack in (step_id, key):
        return options.ack_prompter
    return None


class UncertainStep(VvrunError):
    """A step was in flight when the run stopped and nobody said what to do about it."""
