"""The interpreter: `Engine(runbook, inputs, ...).start()` runs a runbook, `.resume(run)`
continues a recorded one. See `vvrun.engine.core` for the contract."""

from vvrun.engine.core import Engine
from vvrun.engine.options import RunOptions, UncertainStep

__all__ = ["Engine", "RunOptions", "UncertainStep"]
