"""The web console's forms are bounded: a field's size and the number of fields (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web_world import RUNBOOKS

pytest.importorskip("starlette", reason="the web extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ALICE = "a" * 32


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from vvrun.secrets import Masker
    from vvrun.web.app import create_app
    from vvrun.web.config import ServeConfig

    (tmp_path / "rb").mkdir()
    for name, text in RUNBOOKS.items():
        (tmp_path / "rb" / name).write_text(text)
    cfg = ServeConfig(runbooks_dir=str(tmp_path / "rb"),
                      environ={"VVRUN_STATE": str(tmp_path / "state.db")},
                      work_dir=str(tmp_path / "work"), secret=b"k" * 32,
                      tokens={ALICE: "alice"}, masker=Masker(), scheduler=False)
    with TestClient(create_app(cfg)) as c:
        yield c


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'name="csrf-token" content="(\w+)"', client.get("/").text).group(1)


def test_a_huge_form_field_is_refused_before_any_handler(client) -> None:  # type: ignore[no-untyped-def]
    from vvrun.web.csrf import MAX_FIELD_BYTES

    page = client.post("/runbooks/web-gated", headers={"Authorization": f"Bearer {ALICE}"},
                       data={"csrf": _csrf(client), "action": "plan",
                             "input.greeting": "x" * (MAX_FIELD_BYTES + 1)})
    assert page.status_code == 400
    assert "exceeded maximum size" in page.text


def test_too_many_form_fields_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    from vvrun.web.csrf import MAX_FIELDS

    data = {f"f{i}": "x" for i in range(MAX_FIELDS + 1)}
    page = client.post("/runbooks/web-gated", data={"csrf": _csrf(client), **data})
    assert page.status_code == 400
    assert "Too many fields" in page.text


def test_an_ordinary_form_still_plans(client) -> None:  # type: ignore[no-untyped-def]
    page = client.post("/runbooks/web-gated", headers={"Authorization": f"Bearer {ALICE}"},
                       data={"csrf": _csrf(client), "action": "plan",
                             "input.greeting": "y" * 1000})
    assert page.status_code == 200
