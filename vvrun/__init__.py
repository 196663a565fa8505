"""vvrun: declarative YAML runbooks for SREs — validated, planned, resumable."""

__version__ = "0.1.0"
