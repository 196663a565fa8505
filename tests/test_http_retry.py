"""`retry` never sends a POST/PATCH twice when the first may have reached the server (SPEC §3.3).

A real local HTTP server counts the requests it receives and what `Idempotency-Key` each had;
the first request of a test sleeps past the step's timeout (it *was* received: the server may
act on it). Through the real engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_engine_support import Runner, write_runbook
from vvrun.steps.http import replay


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str | None]] = []  # (method, Idempotency-Key)
        self.slow_first = True
        self.release = threading.Event()  # ends the slow reply once the test has seen it
        self.status_first: int | None = None


@pytest.fixture
def counting() -> Iterator[tuple[str, Counter]]:
    counter = Counter()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(size)
            with counter.lock:
                counter.requests.append((self.command, self.headers.get("Idempotency-Key")))
                first = len(counter.requests) == 1
            if first and counter.slow_first:
                counter.release.wait(10)  # past the step's timeout: the client gives up
            status = counter.status_first if first and counter.status_first else 200
            body = b'{"ok": true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on the slow reply (the point of the test)

        do_POST = do_PATCH = do_PUT = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counter
    finally:
        counter.release.set()
        server.shutdown()
        server.server_close()


def _book(tmp_path: Path, url: str, *, method: str = "POST", extra: str = "",
          body_extra: str = "") -> Path:
    return write_runbook(tmp_path, f"""
        version: 1
        name: retry
        title: Retry
        steps:
          - id: charge
            timeout: 1s
            retry: {{attempts: 3, delay: 0s}}
            {extra}
            http:
              method: {method}
              url: {url}/charge
              json: {{amount: 5}}
              {body_extra}
    """)


def test_a_post_that_timed_out_after_sending_is_sent_once(tmp_path: Path,
                                                          counting: tuple[str, Counter]) -> None:
    url, counter = counting
    out = Runner().run(_book(tmp_path, url))
    counter.release.set()
    assert out.status == "failed"
    assert [m for m, _ in counter.requests] == ["POST"]  # never a second copy
    error = out.result.error or ""
    assert "not retried: POST is not idempotent and it timed out after the request was sent" \
        in error
    assert out.events("step_retry") == []
    assert out.step("charge").attempts == 1  # the ledger says how many were really made


def test_the_refusal_says_how_to_allow_a_retry(tmp_path: Path,
                                               counting: tuple[str, Counter]) -> None:
    url, counter = counting
    out = Runner().run(_book(tmp_path, url, method="PATCH"))
    counter.release.set()
    ended = out.events("step_ended")
    assert ended and ended[-1]["status"] == "failed", ended
    text = str(ended[-1])
    assert "idempotent: true" in text and "idempotency_key: true" in text
    assert len(counter.requests) == 1


@pytest.mark.parametrize("extra,body_extra", [
    ("idempotent: true", ""),
    ("", "idempotency_key: true"),
    ("", "headers: {Idempotency-Key: order-77}"),
])
def test_a_post_marked_safe_is_retried_with_the_same_key(
        tmp_path: Path, counting: tuple[str, Counter], extra: str, body_extra: str) -> None:
    url, counter = counting
    out = Runner().run(_book(tmp_path, url, extra=extra, body_extra=body_extra))
    counter.release.set()
    assert out.status == "succeeded", out.result.error
    assert len(counter.requests) == 2  # the slow first, then the retry that answered
    keys = {k for _, k in counter.requests}
    if "idempotency_key" in body_extra:
        run_id = out.result.run_id
        assert keys == {replay.derived_key(run_id, "charge")}  # the same on every attempt
    elif "order-77" in body_extra:
        assert keys == {"order-77"}
    else:
        assert keys == {None}


def test_a_put_is_retried(tmp_path: Path, counting: tuple[str, Counter]) -> None:
    url, counter = counting
    out = Runner().run(_book(tmp_path, url, method="PUT"))
    counter.release.set()
    assert out.status == "succeeded", out.result.error
    assert len(counter.requests) == 2


def test_a_post_that_could_not_connect_is_retried(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: nothing is ever sent
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Runner().run(_book(tmp_path, f"http://127.0.0.1:{port}"))
    assert out.status == "failed"
    # attempts 2 and 3: connecting failed, nothing was sent, so retrying is safe
    assert len(out.events("step_retry")) == 2
    assert "not retried" not in (out.result.error or "")


def test_a_post_answered_with_a_5xx_is_not_repeated(tmp_path: Path,
                                                    counting: tuple[str, Counter]) -> None:
    url, counter = counting
    counter.slow_first = False
    counter.status_first = 502
    out = Runner().run(_book(tmp_path, url))
    assert out.status == "failed"
    assert len(counter.requests) == 1
    assert "the server answered 502" in (out.result.error or "")


def test_a_post_answered_429_is_retried(tmp_path: Path, counting: tuple[str, Counter]) -> None:
    url, counter = counting
    counter.slow_first = False
    counter.status_first = 429  # "too many requests": the server did not act on it
    out = Runner().run(_book(tmp_path, url))
    assert out.status == "succeeded", out.result.error
    assert len(counter.requests) == 2
