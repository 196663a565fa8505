"""Taint, attacked through a real run: every transformation of a secret — case, slices,
reversal, `~`, base64, URL and JSON encoding, `format`, `replace`, `join`, a Basic-auth
header — templated into a shell step, an http header and an SQL parameter, must never show
in clear in what vvrun prints (terminal, JSON events, `vvrun show`), nor in the bytes of the
SQLite store (SPEC §5.4)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

from tests.conftest import HttpServer
from tests.test_run_cli import _env, events, vv

TOKEN = "Tk9-Secret_value-42"
USER = "deploy"
FROM_ENV = "EnvTok-77-abcdef"
DERIVED = {
    "upper": "$T | upper",
    "lower": "$T | lower",
    "reversed": "$T[::-1]",
    "slice": "$T[2:8]",
    "concat": "'x' ~ $T ~ 'y'",
    "b64": "$T | b64encode",
    "basic": "($U ~ ':' ~ $T) | b64encode",
    "urlencode": "$T | urlencode",
    "tojson": "{'t': $T} | tojson",
    "format": "'%s!' | format($T | upper)",
    "replace": "$T | replace('-', '+')",
    "join": "$T | list | reverse | join('.')",
    "env_token": "env.DEPLOY_TOKEN | upper",
    "secret_b64": "secrets.api | lower | b64encode",
}


def _values() -> dict[str, str]:
    t = TOKEN
    return {
        "upper": t.upper(), "lower": t.lower(), "reversed": t[::-1], "slice": t[2:8],
        "concat": f"x{t}y", "b64": base64.b64encode(t.encode()).decode(),
        "basic": base64.b64encode(f"{USER}:{t}".encode()).decode(),
        "urlencode": quote(t), "tojson": json.dumps({"t": t}),
        "format": f"{t.upper()}!", "replace": t.replace("-", "+"), "join": ".".join(t[::-1]),
        "env_token": FROM_ENV.upper(),
        "secret_b64": base64.b64encode(FROM_ENV.lower().encode()).decode(),
    }


def _expr(source: str) -> str:
    return source.replace("$T", "inputs.token").replace("$U", "inputs.user")


def _runbook(tmp_path: Path, server: HttpServer, pg_url: str) -> Path:
    def tpl(src: str) -> str:
        return "{{ " + _expr(src) + " }}"

    shell = "\n".join(f"echo {name}={tpl(src)}" for name, src in DERIVED.items())
    headers = {f"X-{name}": tpl(src) for name, src in DERIVED.items()}
    headers["Authorization"] = "Basic " + tpl("($U ~ ':' ~ $T) | b64encode")
    sql = "SELECT " + ", ".join(f"{tpl(src)}::text AS {name}" for name, src in DERIVED.items())
    runbook = {  # JSON is YAML: no quoting puzzles for the templates
        "version": 1, "name": "taint", "title": "Taint",
        "connections": {"db": {"postgres": pg_url}},
        "secrets": {"api": {"from": "env", "name": "DEPLOY_TOKEN"}},
        "inputs": {"token": {"type": "string", "secret": True, "env": "API_TOKEN"},
                   "user": {"type": "string", "default": USER}},
        "steps": [
            {"id": "sh", "shell": shell, "outputs": {"b": "inputs.token | b64encode"}},
            {"id": "call", "http": {"method": "GET", "url": f"{server.url}/echo",
                                    "headers": headers}},
            {"id": "q", "sql": sql},
            {"id": "fail", "shell": 'echo "{{ inputs.token | upper }}" >&2; exit 3'},
        ],
    }
    path = tmp_path / "rb.yaml"
    path.write_text(json.dumps(runbook, indent=1))
    return path


def test_no_derived_secret_reaches_output_or_store(tmp_path: Path, http_server: HttpServer,
                                                   pg_url: str) -> None:
    def echo(req):  # type: ignore[no-untyped-def]
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"headers": dict(req.headers)}).encode()

    http_server.route("GET", "/echo", echo)
    rb = _runbook(tmp_path, http_server, pg_url)
    env = _env(tmp_path, API_TOKEN=TOKEN, DEPLOY_TOKEN=FROM_ENV)
    out = vv(tmp_path, "run", str(rb), "--output", "json", env=env)
    assert out.returncode == 1, out.stderr  # the last step fails on purpose: errors too
    evs = events(out.stdout)
    ran = {e["step_id"] for e in evs if e["event"] == "step_ended"}
    assert {"sh", "call", "q"} <= ran, out.stdout[-2000:]
    # the server did receive the real values: vvrun sent them, it just never shows them
    got = http_server.requests[-1]["headers"]
    assert got["X-upper"] == TOKEN.upper()
    assert got["Authorization"] == "Basic " + _values()["basic"]
    run_id = evs[0]["run_id"]
    shown = vv(tmp_path, "show", run_id, env=env).stdout
    shown_json = vv(tmp_path, "show", run_id, "--format", "json", env=env).stdout
    shown_events = vv(tmp_path, "show", run_id, "--events", env=env).stdout
    text_run = vv(tmp_path, "run", str(rb), env=env)  # the terminal's own rendering
    store = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    printed = {"json events": out.stdout + out.stderr, "show": shown, "show json": shown_json,
               "show events": shown_events, "terminal": text_run.stdout + text_run.stderr}
    assert "***" in shown_json
    for name, value in {**_values(), "token": TOKEN, "env": FROM_ENV}.items():
        for where, text in printed.items():
            assert value not in text, f"{name} ({value}) in {where}"
        assert value.encode() not in store, f"{name} ({value}) in the store"
