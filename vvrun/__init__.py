"""vvrun: declarative YAML runbooks for SREs — validated, planned, resumable."""

__version__ = "0.1.0"

# First, before any vvrun dataclass is defined: their generated methods come from a cache
# instead of being compiled at every start (vvrun/dataclass_code.py says why and how safely).
from vvrun import dataclass_code as _dataclass_code

_dataclass_code.install()
