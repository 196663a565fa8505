"""Secrets: the Masker that every writer of text goes through (`mask.py`), and the providers
that fetch a runbook's `secrets:` when a template first reads them (`providers.py`, SPEC §5.4).

Importing this package loads no provider: `from vvrun.secrets import Masker` stays as cheap as
the masker alone.
"""

from vvrun.secrets.mask import MASK, MIN_SECRET_LENGTH, Masker, env_name_is_secret

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Masker", "env_name_is_secret"]
