"""The language front end: YAML text → a checked, frozen model, in the order data flows.

    load.py      text → data + positions (bounded: aliases, depth, size, encoding)
    schema/      the JSON Schema from each step type's fragment; a small validator; plain errors
    build.py     data → the model (`model.py`), leaving out what the schema refused
    checks/      meaning checks: ids, references, templates, danger
    pipeline.py  the stages in one call: `check_file`, `load_runbook`
    templates/   sandboxed Jinja2 with escaping per destination; expressions
    inputs.py    operator-supplied values (`--var`, `--vars-file`, env) → typed inputs

The rest of vvrun imports the model and these entry points, never the loader's internals.
"""

from vvrun.language.model import Runbook, Step
from vvrun.language.pipeline import check_file, load_runbook

__all__ = ["Runbook", "Step", "check_file", "load_runbook"]
