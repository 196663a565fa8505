"""The VocaVision test world: its database, a stand-in for its API, and CLI test doubles.

- `schema.sql` + `seed.sql`: plain SQL (psql -f works too); `setup_database(url)` loads both.
- `create_database(admin_url)` makes a fresh `vocavision_test_<hex>` database and returns its
  URL; `drop_database(admin_url, url)` removes it. The tests load one template database per
  session and copy it for every test (`CREATE DATABASE ... TEMPLATE`), so each runbook starts
  from the same data.
- `api.py`: `VocaVisionAPI`, a real local HTTP server for the app's endpoints the seed names
  (`/health`, `/api/health`, `/api/v1/auth/forgot-password`).
- `vercel.py`: `VercelAPI`, Vercel's REST API as documented (projects, deployments, promote,
  redeploy, env, edge-cache invalidation by tag), Bearer token and `teamId` required.
- `sentry.py`: `SentryAPI`, Sentry's Discover events query (the SLIs).
- `bin/`: `vercel`, `npm`, `node` test doubles. Tests alone put this folder on PATH; each
  double appends its argv to `$VOCAVISION_FAKE_LOG` and prints plausible output.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
SCHEMA_SQL = HERE / "schema.sql"
SEED_SQL = HERE / "seed.sql"
BIN = HERE / "bin"


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def setup_database(url: str) -> None:
    """Load the VocaVision schema and seed data into the (empty) database at `url`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute(SEED_SQL.read_text())


def create_database(admin_url: str, *, template: str | None = None,
                    prefix: str = "vocavision_test_") -> str:
    """Create a new, uniquely named database (a copy of `template` when given); its URL."""
    import psycopg
    from psycopg import sql

    name = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin_url, name)


def drop_database(admin_url: str, url_or_name: str) -> None:
    """Drop a database made by `create_database`, disconnecting whoever is still in it."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url_or_name).path.lstrip("/") if "://" in url_or_name else url_or_name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def path_with_doubles(path: str | None = None) -> str:
    """A PATH with the test doubles in front (for the environment of a test's subprocess)."""
    return os.pathsep.join([str(BIN), path if path is not None else os.environ.get("PATH", "")])
