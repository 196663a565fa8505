"""The environment a shell step's process gets (SPEC §3.4): the operator's, minus vvrun's own
variables and the secrets the step was not given. A step gets what it declares in `env:`
(`env: {PGPASSWORD: "{{ env.PGPASSWORD }}"}`) and the secrets templated into its command
(`"$VVRUN_SECRET_…"`); nothing else that is secret leaks into it, or into its children."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from vvrun.secrets import env_name_is_secret
from vvrun.secrets.scan import by_shape

#: Credentials under names that do not say so, read by the tools a step may run
#: (psql, redis-cli, every twelve-factor app).
CREDENTIAL_NAMES = frozenset({
    "PGPASSWORD", "DATABASE_URL", "REDIS_URL", "REDISCLI_AUTH", "MYSQL_PWD", "MONGODB_URI",
    "AMQP_URL", "SENTRY_DSN", "SSH_ASKPASS", "GIT_ASKPASS", "SUDO_ASKPASS",
})
OWN_PREFIX = "VVRUN_"  # VVRUN_STATE (the store's URL), VVRUN_OPERATOR, VVRUN_AUDIT_KEY…


def withheld(name: str, value: str, is_secret: Callable[[str], bool] | None = None) -> bool:
    """True when the variable must not reach a step that did not declare it."""
    if name.startswith(OWN_PREFIX) or name.upper() in CREDENTIAL_NAMES:
        return True
    if env_name_is_secret(name):
        return True
    if "://" in value and by_shape(value) != value:  # a URL with a password in it
        return True
    return bool(is_secret is not None and is_secret(value))


def scrubbed(environ: Mapping[str, str],
             is_secret: Callable[[str], bool] | None = None) -> dict[str, str]:
    """`environ` without what `withheld` keeps back (`is_secret`: the run's registered
    secrets, matched by value whatever the variable's name)."""
    return {k: v for k, v in environ.items() if not withheld(k, v, is_secret)}


def step_environment(environ: Mapping[str, str], secret_env: Mapping[str, str],
                     declared: Mapping[str, str]) -> dict[str, str]:
    """What the step's process gets: the scrubbed environment, then the secrets it was given
    (`VVRUN_SECRET_…`), then what it declares in `env:` (last: the step's word wins)."""
    return {**scrubbed(environ), **secret_env, **declared}
