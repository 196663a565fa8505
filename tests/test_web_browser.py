"""`vvrun serve` in a real headless Chromium (Debian's chromium + chromium-driver) and over
plain HTTP: runs from the form, live pages, approvals by two people, acknowledgements, and the
refusals (anonymous, CSRF-less, the same person twice)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_world import HAVE_BROWSER, Server, chrome, wait_for

pytest.importorskip("starlette", reason="the web extra is not installed")
# selenium's urllib3 pool to chromedriver leaves its sockets to the garbage collector
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path, extra=("--no-scheduler",))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    if not HAVE_BROWSER:
        pytest.skip("no browser: apt-get install -y chromium chromium-driver")
    with chrome() as driver:
        yield driver


def _sign_in(driver: object, server: Server, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(server.url + "/login")
    driver.find_element(By.ID, "token").send_keys(server.tokens[user])
    driver.find_element(By.ID, "signin").click()
    wait_for(lambda: _text(driver, "user") == user, what=f"{user} signed in")


def _text(driver: object, element_id: str) -> str:
    """An element's text, or "" while the page is being replaced (a stale node)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.ID, element_id).text)
    except WebDriverException:
        return ""


def _click(driver: object, element_id: str) -> None:
    """Click once the element is there; the live page may swap the panel that holds it."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    def attempt() -> bool:
        try:
            driver.find_element(By.ID, element_id).click()
            return True
        except WebDriverException:
            return False

    wait_for(attempt, what=f"a clickable #{element_id}")


def _status(driver: object) -> str:
    return _text(driver, "status")


def test_run_from_the_form_finishes_live_without_reload(server: Server, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    _sign_in(driver, server, "alice")
    driver.get(server.url + "/runbooks/web-gated")
    secret = driver.find_element(By.ID, "input.api_token")
    assert secret.get_attribute("type") == "password" and secret.get_attribute("value") == ""
    greeting = driver.find_element(By.ID, "input.greeting")
    greeting.clear()
    greeting.send_keys("bonjour")
    _click(driver, "start")
    WebDriverWait(driver, 30).until(lambda d: "/runs/" in d.current_url)
    assert _status(driver) == "running"
    driver.execute_script("window.__same_page = true")  # a reload would drop it
    server.gate.write_text("go")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "succeeded")
    assert driver.execute_script("return window.__same_page") is True
    timeline = driver.find_element(By.ID, "timeline").text
    assert "step `greet` succeeded" in timeline
    WebDriverWait(driver, 10).until(
        lambda d: "bonjour from the worker" in _text(d, "timeline"))


def test_second_approval_comes_from_another_person(server: Server, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    _sign_in(driver, server, "alice")
    driver.get(server.url + "/runbooks/web-four-eyes")
    _click(driver, "start")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "paused")
    run_url = driver.current_url
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "approve"))
    assert "echo changed with four eyes" in driver.find_element(By.ID, "waiting").text
    _click(driver, "approve")  # alice's first approval
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "waiting-second"))
    refusal = driver.find_element(By.CSS_SELECTOR, "#waiting .refusal").text
    assert "someone other than who started the run (alice)" in refusal
    assert not driver.find_elements(By.ID, "approve")

    _sign_in(driver, server, "bob")
    driver.get(run_url)
    _click(driver, "approve")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "succeeded")
    text = driver.find_element(By.ID, "timeline").text
    assert "approved in the web console by alice" in text
    assert "approved in the web console by bob" in text and "step `change` succeeded" in text
    trail = server.client("bob").get(run_url.removeprefix(server.url) + "/timeline?raw=1").text
    assert "bob" in trail and "alice" in trail


def test_acknowledge_a_manual_step_with_its_field(server: Server, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    _sign_in(driver, server, "bob")
    driver.get(server.url + "/runbooks/web-manual")
    _click(driver, "start")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "ack"))
    Select(driver.find_element(By.ID, "field.action")).select_by_visible_text("restart")
    driver.find_element(By.ID, "note").send_keys("dashboard red")
    _click(driver, "ack")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "succeeded")
    assert "action = restart" in driver.find_element(By.ID, "timeline").text


def _paused_run(server: Server) -> str:
    alice = server.client("alice")
    started = alice.post("/runbooks/web-four-eyes", data={"csrf": alice.csrf, "action": "run"})
    assert started.status_code == 303
    run = started.headers["location"].rsplit("/", 1)[1]
    wait_for(lambda: 'data-kind="approve"' in alice.get(f"/runs/{run}").text, what="pause")
    return run


def test_anonymous_and_csrf_less_posts_are_refused(server: Server) -> None:
    run = _paused_run(server)
    anonymous = server.client(None)
    refused = anonymous.post(f"/runs/{run}/steps/change/approve", data={"csrf": anonymous.csrf})
    assert refused.status_code == 403 and "sign in" in refused.text
    bob = server.client("bob")
    no_token = bob.post(f"/runs/{run}/steps/change/approve", data={})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    forged = bob.post(f"/runs/{run}/steps/change/approve", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    started = anonymous.post("/runbooks/web-gated", data={"csrf": anonymous.csrf,
                                                          "action": "run"})
    assert started.status_code == 403
    page = bob.get(f"/runs/{run}").text
    assert 'data-kind="approve"' in page  # nothing changed
    assert "approved in" not in re.sub(r"<[^>]+>", "", page.split('id="timeline"')[1])


def test_the_same_person_cannot_give_the_second_approval(server: Server) -> None:
    run = _paused_run(server)
    alice = server.client("alice")
    first = alice.post(f"/runs/{run}/steps/change/approve", data={"csrf": alice.csrf})
    assert first.status_code == 303
    again = alice.post(f"/runs/{run}/steps/change/approve", data={"csrf": alice.csrf})
    assert again.status_code == 403 and "someone other than" in again.text
    page = alice.get(f"/runs/{run}").text
    assert 'data-kind="second"' in page and 'id="status" class="status s-paused"' in page


INVISIBLE = r"""version: 1
name: web-invisible
title: "Drop the old us\u200bers table"
steps:
  - id: drop
    danger: true
    shell: "echo dropping us\u200bers; echo report\u202etxt.exe"
"""


def test_an_approver_reads_invisible_characters_as_escapes(server: Server,
                                                            browser: object) -> None:
    # The attack on the second approver: a name with a zero-width space reads as `users`, and a
    # right-to-left override turns `report<RLO>txt.exe` into `reportexe.txt` — in a browser as
    # on a terminal. The page must show what will run, character for character.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    (server.tmp / "rb" / "invisible.yaml").write_text(INVISIBLE)
    driver = browser
    _sign_in(driver, server, "alice")
    driver.get(server.url + "/runbooks/web-invisible")
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "Drop the old us\\u200bers table" in page, page
    _click(driver, "start")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "paused")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "approve"))
    waiting = driver.find_element(By.ID, "waiting").text
    assert "dropping us\\u200bers" in waiting and "report\\u202etxt.exe" in waiting, waiting
    assert "\u200b" not in waiting and "\u202e" not in waiting
    _click(driver, "approve")
    WebDriverWait(driver, 30).until(lambda d: _status(d) == "succeeded")
    # the live output (server-sent, appended by the page's script) is shown the same way
    WebDriverWait(driver, 10).until(lambda d: "dropping us\\u200bers" in _text(d, "timeline"))
    timeline = _text(driver, "timeline")
    assert "\u200b" not in timeline and "\u202e" not in timeline
