"""The `http` step against a real local HTTP server (and real sockets for the odd cases)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.helpers import connections, run_step
from vvrun.errors import Cancelled, ConnectFailed, Location, RunbookError, StepFailed, StepTimeout
from vvrun.language.model import Connection
from vvrun.language.templates import Templater
from vvrun.steps import http
from vvrun.steps.base import Clients
from vvrun.steps.http import transport

WHERE = Location("test.yaml", 1, 1, "t")


def ctx(**inputs: object) -> dict[str, object]:
    return {"inputs": inputs, "env": {}, "steps": {}}


def test_get_short_form_gives_every_result_field(http_server) -> None:
    http_server.json("GET", "/health", {"ok": True, "db": "up"})
    result = run_step("http", "GET /health", conns=connections(api=http_server.url))
    assert result["status"] == 200
    assert result["reason"] == "OK"
    assert result["json"] == {"ok": True, "db": "up"}
    assert json.loads(result["text"]) == {"ok": True, "db": "up"}
    assert result["headers"]["content-type"] == "application/json"
    assert result["url"] == http_server.url + "/health"
    assert result["elapsed_ms"] >= 0
    assert result["truncated"] is False
    assert http_server.requests[-1]["headers"]["User-Agent"].startswith("vvrun/")


def test_a_bare_url_is_a_get(http_server) -> None:
    http_server.json("GET", "/x", [1, 2])
    result = run_step("http", http_server.url + "/x")
    assert result["json"] == [1, 2]
    assert http_server.requests[-1]["method"] == "GET"


def test_post_json_params_and_merged_headers(http_server) -> None:
    http_server.json("POST", "/api/v1/users", {"id": 7}, status=201)
    conns = {"api": Connection("api", "http", {
        "base_url": http_server.url + "/api/v1/",
        "headers": {"Accept": "application/json", "X-Team": "{{ inputs.team }}"}})}
    body = {"method": "POST", "url": "/users", "params": {"dry": True, "n": 3},
            "headers": {"X-Request": "r-{{ inputs.n }}"},
            "json": {"email": "{{ inputs.email }}", "n": "{{ inputs.n }}", "tags": ["a"]}}
    result = run_step("http", body, conns=conns,
                      context=ctx(team="sre", n=5, email="a@b.example"))
    assert result["status"] == 201
    req = http_server.requests[-1]
    assert req["path"] == "/api/v1/users?dry=true&n=3"
    assert req["headers"]["Accept"] == "application/json"
    assert req["headers"]["X-Team"] == "sre"
    assert req["headers"]["X-Request"] == "r-5"
    # a value that is one whole template keeps its type (n is the number 5); text stays text
    assert json.loads(req["body"]) == {"email": "a@b.example", "n": 5, "tags": ["a"]}


def test_raw_body(http_server) -> None:
    http_server.route("PUT", "/raw", lambda r: (204, {}, b""))
    result = run_step("http", {"method": "PUT", "url": "/raw", "body": "key={{ inputs.v }}",
                               "headers": {"Content-Type": "text/plain"}},
                      conns=connections(api=http_server.url), context=ctx(v="a b"))
    assert result["status"] == 204
    assert result["json"] is None and result["text"] == ""
    assert http_server.requests[-1]["body"] == b"key=a b"


def test_a_500_fails_with_status_and_body_excerpt(http_server) -> None:
    http_server.route("GET", "/boom", lambda r: (500, {"Content-Type": "text/plain"},
                                                 b"database is down" + b"x" * 2000))
    with pytest.raises(StepFailed) as info:
        run_step("http", "GET /boom", conns=connections(api=http_server.url))
    err = info.value
    assert type(err) is StepFailed
    assert f"GET {http_server.url}/boom returned 500 Internal Server Error" in err.message
    assert "(expected 2xx or 3xx)" in err.message
    assert "body: database is down" in err.message
    assert err.message.endswith("…")
    assert len(err.message) < 800
    assert "accept it with `status:`" in (err.hint or "")
    assert err.where == WHERE
    assert err.result["status"] == 500  # type: ignore[attr-defined]


@pytest.mark.parametrize(("accepted", "ok"), [
    (404, True), ([200, 404], True), ("4xx", True), (["2xx"], False), (200, False)])
def test_status_accepts_codes_lists_and_classes(http_server, accepted, ok) -> None:
    body = {"url": "/missing", "status": accepted}
    conns = connections(api=http_server.url)
    if ok:
        assert run_step("http", body, conns=conns)["status"] == 404
    else:
        with pytest.raises(StepFailed, match="returned 404 Not Found"):
            run_step("http", body, conns=conns)


def test_redirects_are_not_followed_unless_asked(http_server) -> None:
    http_server.route("GET", "/old", lambda r: (302, {"Location": "/new"}, b""))
    http_server.json("GET", "/new", {"moved": True})
    conns = connections(api=http_server.url)
    assert run_step("http", "GET /old", conns=conns)["status"] == 302
    result = run_step("http", {"url": "/old", "follow_redirects": True}, conns=conns)
    assert result["status"] == 200 and result["url"] == http_server.url + "/new"


def test_injection_values_stay_in_the_path_of_the_intended_host(http_server) -> None:
    conns = connections(api=http_server.url)
    for name, path in [("../admin", "/users/..%2Fadmin"),
                       ("..", "/users/%2E%2E"),
                       ("//evil.example/", "/users/%2F%2Fevil.example%2F"),
                       ("a?admin=1#x", "/users/a%3Fadmin%3D1%23x"),
                       ("@evil.example", "/users/%40evil.example")]:
        result = run_step("http", {"url": "/users/{{ inputs.name }}", "status": 404},
                          conns=conns, context=ctx(name=name))
        req = http_server.requests[-1]
        assert req["path"] == path, name
        assert req["headers"]["Host"] == http_server.url.removeprefix("http://")
        assert result["url"].startswith(http_server.url + "/users/")


def test_connection_headers_go_only_to_their_own_host(http_server) -> None:
    other = http_server.url.replace("127.0.0.1", "localhost")
    http_server.json("GET", "/x", {})
    conns = {"api": Connection("api", "http", {"base_url": http_server.url,
                                               "headers": {"Authorization": "Bearer s3cret"}})}
    run_step("http", http_server.url + "/x", conns=conns)
    assert http_server.requests[-1]["headers"]["Authorization"] == "Bearer s3cret"
    run_step("http", other + "/x", conns=conns)
    assert "Authorization" not in http_server.requests[-1]["headers"]


def test_one_client_per_connection_is_reused(http_server) -> None:
    http_server.json("GET", "/x", {})
    clients = Clients()
    conns = connections(api=http_server.url)
    try:
        run_step("http", "GET /x", conns=conns, clients=clients)
        first = dict(clients._clients)
        run_step("http", "GET /x", conns=conns, clients=clients)
        assert dict(clients._clients) == first
        assert list(first) == ["http:api:verify"]
    finally:
        clients.close()


def test_large_bodies_are_capped(http_server) -> None:
    http_server.route("GET", "/big", lambda r: (200, {"Content-Type": "text/plain"},
                                                b"y" * (200 * 1024)))
    result = run_step("http", "GET /big", conns=connections(api=http_server.url))
    assert len(result["text"]) == http.TEXT_CAP
    assert result["truncated"] is True


def test_a_json_error_body_is_kept_on_failure(http_server) -> None:
    http_server.json("GET", "/bad", {"error": "nope"}, status=503)
    with pytest.raises(StepFailed, match=r'returned 503 .*\n  body: \{"error": "nope"\}'):
        run_step("http", "GET /bad", conns=connections(api=http_server.url))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_connect_failed() -> None:
    port = _closed_port()
    with pytest.raises(ConnectFailed) as info:
        run_step("http", f"GET http://127.0.0.1:{port}/health")
    assert f"could not connect to 127.0.0.1:{port}" in info.value.message
    assert "server is up" in (info.value.hint or "")


def test_unknown_host_is_connect_failed() -> None:
    with pytest.raises(ConnectFailed, match=r"could not connect to no-such-host\.invalid"):
        run_step("http", "GET http://no-such-host.invalid/health", timeout=10)


@pytest.fixture
def trickle_server() -> Iterator[str]:
    """Answers with headers at once, then one body byte every 0.2 s: no single read is slow."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    sock.close()
    thread.join(5)


def test_the_timeout_covers_the_whole_request(trickle_server) -> None:
    with pytest.raises(StepTimeout) as info:
        run_step("http", f"GET {trickle_server}/slow", timeout=1.0)
    assert "did not complete within 1s" in info.value.message
    assert "timeout" in (info.value.hint or "")


def test_a_server_that_never_answers_times_out(http_server) -> None:
    def slow(r):
        time.sleep(3)
        return 200, {}, b""

    http_server.route("GET", "/hang", slow)
    with pytest.raises(StepTimeout):
        run_step("http", "GET /hang", conns=connections(api=http_server.url), timeout=0.5)


def test_a_timed_out_client_is_replaced(trickle_server, http_server) -> None:
    clients = Clients()
    try:
        with pytest.raises(StepTimeout):
            run_step("http", f"GET {trickle_server}/slow", timeout=0.5, clients=clients)
        assert clients._clients == {}
        http_server.json("GET", "/x", {})
        assert run_step("http", http_server.url + "/x", clients=clients)["status"] == 200
    finally:
        clients.close()


def test_cancel_stops_the_request(trickle_server) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="interrupted"):
        run_step("http", f"GET {trickle_server}/slow", cancel=cancel)


def test_a_relative_url_needs_a_connection() -> None:
    with pytest.raises(RunbookError) as info:
        run_step("http", "GET /health")
    assert "relative URL '/health' and no http connection" in info.value.message
    assert "base_url" in (info.value.hint or "")


def test_a_connection_without_base_url_cannot_take_a_relative_url() -> None:
    conns = {"api": Connection("api", "http", {"headers": {}})}
    with pytest.raises(RunbookError, match="connection 'api' has no base_url"):
        run_step("http", "GET /health", conns=conns)


def test_only_http_urls() -> None:
    with pytest.raises(RunbookError, match="is not http or https"):
        run_step("http", "GET file:///etc/passwd")


def test_json_and_body_together_are_refused(http_server) -> None:
    with pytest.raises(RunbookError, match="either `json` or `body`"):
        run_step("http", {"url": "/x", "json": {}, "body": "x"},
                 conns=connections(api=http_server.url))


def test_a_header_value_cannot_smuggle_a_line(http_server) -> None:
    with pytest.raises(StepFailed, match="header 'X-User' contains a line break"):
        run_step("http", {"url": "/x", "headers": {"X-User": "{{ inputs.u }}"}},
                 conns=connections(api=http_server.url),
                 context=ctx(u="bob\r\nX-Admin: 1"))


def test_a_bad_connection_timeout_is_a_runbook_error(http_server) -> None:
    conns = {"api": Connection("api", "http", {"base_url": http_server.url, "timeout": "soon"})}
    with pytest.raises(RunbookError, match="connection 'api': timeout not a duration"):
        run_step("http", "GET /x", conns=conns)


def test_describe_shows_the_request_and_hides_credentials(http_server) -> None:
    conns = {"api": Connection("api", "http", {"base_url": "https://api.example/v1",
                                               "headers": {"Authorization": "Bearer abc"}})}
    spec = http.parse({"method": "POST", "url": "/q/{{ inputs.x }}", "params": {"a": 1},
                       "json": {"k": "{{ inputs.x }}"}, "status": "2xx", "verify": False},
                      WHERE)
    action = http.render(spec, Templater(ctx(x="a/b"), where=WHERE), conns)
    d = http.describe(action)
    assert d.summary == "POST https://api.example/v1/q/a%2Fb?a=1"
    assert "Authorization: ***" in d.body and "abc" not in d.body
    assert '"k": "a/b"' in d.body
    assert d.language == "http" and d.target == "https://api.example"
    assert d.notes == ("accepts status 2xx", "TLS certificates NOT verified")


def test_every_driver_error_is_translated() -> None:
    import httpx

    from vvrun.errors import VvrunError

    action = http.HttpAction(method="GET", url="http://h:1/x")

    def leaves(cls: type) -> list[type]:
        subs = cls.__subclasses__()
        return [cls] + [c for s in subs for c in leaves(s)]

    for cls in [*leaves(httpx.TransportError), httpx.TooManyRedirects, httpx.InvalidURL,
                httpx.StreamError, httpx.DecodingError]:
        err = transport.translate(cls("boom"), action, 1.0, WHERE)
        assert isinstance(err, VvrunError), cls
        assert err.where == WHERE


def test_a_plan_can_render_a_url_only_a_live_run_knows() -> None:
    from vvrun.language.templates import Unknown

    tpl = Templater({"steps": Unknown("steps"), "inputs": {}}, where=WHERE)
    action = http.render(http.parse("GET {{ steps.find.outputs.url }}/health", WHERE), tpl, {})
    assert http.describe(action).summary == "GET ⟨steps.find.outputs.url⟩/health"
