"""A real `vvrun serve` for the web tests: a subprocess on a free loopback port, a temp SQLite
store, a temp runbooks folder and a token file for two people."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

RUNBOOKS = {
    "gated.yaml": """version: 1
name: web-gated
title: Waits for a file, then greets
tags: [web]
inputs:
  greeting: {type: string, default: hello, description: What to say}
  api_token: {type: string, secret: true, default: "", description: Never shown}
steps:
  - id: wait
    shell: >-
      for i in $(seq 600); do [ -e {{ env.GATE }} ] && break; sleep 0.05; done;
      test -e {{ env.GATE }}
  - id: greet
    shell: "echo {{ inputs.greeting }} from the worker"
""",
    "four-eyes.yaml": """version: 1
name: web-four-eyes
title: A change that needs two people
steps:
  - id: prepare
    shell: echo prepared
  - id: change
    danger: true
    approvers: 2
    shell: echo changed with four eyes
""",
    "manual.yaml": """version: 1
name: web-manual
title: A person decides
steps:
  - id: decide
    manual:
      instructions: Look at the dashboard, then say what to do.
      record:
        - name: action
          choices: [restart, leave]
  - id: after
    shell: "echo decided {{ steps.decide.result.fields.action }}"
""",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp: Path, *, extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.tmp = tmp
        (tmp / "rb").mkdir()
        for name, text in RUNBOOKS.items():
            (tmp / "rb" / name).write_text(text)
        self.tokens = {"alice": secrets.token_hex(16), "bob": secrets.token_hex(16)}
        (tmp / "tokens").write_text("".join(f"{t} {u}\n" for u, t in self.tokens.items()))
        self.gate = tmp / "gate"
        self.clients: list[httpx.Client] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VVRUN_STATE": str(tmp / "state.db"),
               "GATE": str(self.gate), "XDG_STATE_HOME": str(tmp / "xdg"), **(env or {})}
        self.log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vvrun", "serve", "--runbooks", str(tmp / "rb"),
             "--bind", f"127.0.0.1:{self.port}", "--auth", str(tmp / "tokens"),
             "--work-dir", str(tmp / "work"), *extra],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    raise RuntimeError((tmp / "serve.log").read_text()) from None
                time.sleep(0.05)  # waiting for the port to open, bounded
        raise RuntimeError("vvrun serve did not start within 30 s")

    def client(self, user: str | None) -> httpx.Client:
        """An httpx client signed in with `user`'s bearer token (None: anonymous), with the
        CSRF token of its session in `.csrf`."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=10)
        self.clients.append(client)
        page = client.get("/")
        client.csrf = re.search(r'name="csrf-token" content="(\w+)"', page.text).group(1)  # type: ignore[attr-defined]
        return client

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wait_for(check: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)  # polling a real server's state, bounded
    raise AssertionError(f"timed out waiting for {what}")


CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMEDRIVER) and bool(shutil.which("chromium"))


@contextlib.contextmanager
def chrome() -> Iterator[object]:
    """A headless Debian Chromium under selenium, quit when the block ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
