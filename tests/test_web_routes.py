"""`vvrun serve`'s routes through Starlette's TestClient: pages, forms, plans, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web_world import RUNBOOKS

pytest.importorskip("starlette", reason="the web extra is not installed")

# Starlette 1.x prefers httpx2 for its TestClient; httpx (vvrun's dependency) still works
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
    (tmp_path / "rb" / "broken.yaml").write_text("version: 1\nname: broken\nsteps: 3\n")
    masker = Masker()
    masker.add("hunter2-the-password")
    cfg = ServeConfig(runbooks_dir=str(tmp_path / "rb"),
                      environ={"VVRUN_STATE": str(tmp_path / "state.db"),
                               "DB_PASSWORD": "hunter2-the-password"},
                      work_dir=str(tmp_path / "work"), secret=b"k" * 32,
                      tokens={ALICE: "alice"}, masker=masker, scheduler=False)
    with TestClient(create_app(cfg)) as c:
        yield c


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/")
    return re.search(r'name="csrf-token" content="(\w+)"', page.text).group(1)


def test_catalogue_lists_runbooks_and_a_broken_one_with_its_error(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/")
    assert page.status_code == 200
    assert "web-gated" in page.text and "web-four-eyes" in page.text
    assert "broken" in page.text and 'class="problem"' in page.text
    assert "anonymous (read only)" in page.text


def test_runbook_page_has_docs_and_a_form_that_never_prefills_secrets(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/runbooks/web-gated").text
    assert 'id="input.greeting" value="hello"' in page
    assert re.search(r'type="password" name="input.api_token" id="input.api_token" '
                     r'autocomplete="new-password">', page)
    assert "Waits for a file" in page  # the rendered docs
    assert 'id="start" disabled' in page  # anonymous: cannot start


def test_plan_of_entered_values_is_shown_and_the_secret_is_not_echoed(client) -> None:  # type: ignore[no-untyped-def]
    csrf = _csrf(client)
    page = client.post("/runbooks/web-gated", data={
        "csrf": csrf, "action": "plan", "input.greeting": "salut",
        "input.api_token": "typed-secret-value"})
    assert page.status_code == 200
    assert "echo salut from the worker" in page.text
    assert "typed-secret-value" not in page.text


def test_a_bad_value_is_one_clear_message(client) -> None:  # type: ignore[no-untyped-def]
    csrf = _csrf(client)
    client.headers["Authorization"] = f"Bearer {ALICE}"
    page = client.post("/runbooks/web-manual", data={"csrf": csrf, "action": "plan"})
    assert page.status_code == 200  # no inputs: a plan, nothing more
    assert "Traceback" not in page.text


def test_posts_without_csrf_or_identity_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/runbooks/web-gated", data={"action": "run"}).status_code == 403
    csrf = _csrf(client)
    anonymous = client.post("/runbooks/web-gated", data={"csrf": csrf, "action": "run"})
    assert anonymous.status_code == 403 and "sign in" in anonymous.text
    other_session = client.post("/runbooks/web-gated", data={"csrf": "f" * 64, "action": "run"})
    assert other_session.status_code == 403


def test_login_sets_a_signed_cookie_and_a_forged_one_is_anonymous(client) -> None:  # type: ignore[no-untyped-def]
    csrf = _csrf(client)
    wrong = client.post("/login", data={"csrf": csrf, "token": "nope"})
    assert wrong.status_code == 403
    ok = client.post("/login", data={"csrf": csrf, "token": ALICE}, follow_redirects=False)
    assert ok.status_code == 303
    assert '<span id="user">alice</span>' in client.get("/").text
    value = client.cookies.get("vvrun_auth")
    body, _, mac = value.partition(".")
    client.cookies.set("vvrun_auth", body + "." + "0" * len(mac))
    assert "anonymous (read only)" in client.get("/").text


def test_secrets_of_the_environment_never_reach_the_page(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rb = tmp_path / "rb" / "leaky.yaml"
    rb.write_text("version: 1\nname: leaky\ntitle: hunter2-the-password\nsteps:\n"
                  "  - id: a\n    shell: echo hi\n")
    page = client.get("/").text
    assert "hunter2-the-password" not in page and "***" in page


def test_unknown_run_and_runbook_are_404_pages(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/runbooks/nope").status_code == 404
    assert client.get("/inbox").status_code == 200
