"""The test world's pytest fixtures; test modules load them with
`pytest_plugins = ["world.fixtures"]`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from world import create_database, drop_database, setup_database
from world.api import VocaVisionAPI
from world.harness import World
from world.sentry import SentryAPI
from world.vercel import VercelAPI


@pytest.fixture(scope="session")
def world_template(pg_url: str) -> Iterator[str]:
    """A database with the VocaVision schema and seed, copied for every test."""
    url = create_database(pg_url, prefix="vocavision_tmpl_")
    try:
        setup_database(url)
        yield urlsplit(url).path.lstrip("/")
    finally:
        drop_database(pg_url, url)


@pytest.fixture
def world(pg_url: str, redis_url: str, world_template: str, tmp_path: Path) -> Iterator[World]:
    db_url = create_database(pg_url, template=world_template)
    api = VocaVisionAPI()
    hosting, monitoring = VercelAPI(live_changed=api.set_live), SentryAPI()
    w = World(admin_url=pg_url, db_url=db_url, redis_url=redis_url, api=api, tmp=tmp_path,
              prefix=f"t:library:{uuid.uuid4().hex[:10]}:", vercel=hosting,
              sentry=monitoring)
    try:
        yield w
    finally:
        api.close()
        hosting.close()
        monitoring.close()
        drop_database(pg_url, db_url)
        r = w.redis()
        keys = list(r.scan_iter(match=w.prefix + "*", count=1000))
        if keys:
            r.unlink(*keys)
        r.close()


@pytest.fixture
def keys(world: World) -> dict[str, Path]:
    """Two approvers' ed25519 keys (alice, bob) and the world's allowed_signers naming them
    as @vocavision.com: for the runbooks whose steps need two people."""
    from tests.identity_keys import make_key, pub_text, write_signers

    folder = world.tmp / "keys"
    folder.mkdir()
    made = {n: make_key(folder, n) for n in ("alice", "bob")}
    write_signers(world.tmp / "allowed_signers",
                  *(f"{n}@vocavision.com {pub_text(k)}" for n, k in made.items()))
    return made
