"""Plans: what a runbook would do, rendered for review, touching nothing (SPEC §7).

- `make_plan(runbook, variables, *, environ, show_env=()) -> Plan`: every step rendered through
  its type's pure `render`/`describe`, with ⟨placeholders⟩ for what only a live run knows,
  secrets as ⟨secret⟩ and environment values as ⟨env.NAME⟩ unless `show_env` allows them.
- `plan_document(plans)` / `verify_plan_file(path, runbook, inputs)`: the JSON plan file, bound
  to the runbook's hash, its non-secret inputs and the vvrun version.
- `diff_plans(old, new)`: which steps a change adds, removes or changes.

Run it inside `vvrun.guard.no_side_effects()` (the commands do) to have the promise checked.
"""

from vvrun.plan.diff import PlanDiff, diff_plans
from vvrun.plan.make import make_plan
from vvrun.plan.model import Plan, PlannedConnection, PlannedInput, PlannedStep, RecordInfo
from vvrun.plan.planfile import plan_document, verify_plan_file

__all__ = [
    "Plan",
    "PlanDiff",
    "PlannedConnection",
    "PlannedInput",
    "PlannedStep",
    "RecordInfo",
    "diff_plans",
    "make_plan",
    "plan_document",
    "verify_plan_file",
]
