"""A value templated into a raw http `body:` is escaped for the body's content type (SPEC §4:
escaping depends on where a value lands): the attack values arrive as the one value they were,
at a real local HTTP server that parses the body as the service would."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.helpers import connections, run_step

FORM = "application/x-www-form-urlencoded"
ATTACKS = ['x&admin=true', 'a b+c=d%26', '", "admin": true, "x": "', '\\", "admin": true}',
           "line\nbreak\ttab", "ünïcode ✓", "{{ not a template }}", '\\u0022']


def _post(http_server: Any, body: str, content_type: str, **inputs: Any) -> bytes:
    http_server.route("POST", "/in", lambda r: (204, {}, b""))
    run_step("http", {"method": "POST", "url": "/in", "body": body,
                      "headers": {"Content-Type": content_type}},
             conns=connections(api=http_server.url),
             context={"inputs": inputs, "env": {}, "steps": {}})
    return http_server.requests[-1]["body"]


@pytest.mark.parametrize("value", ATTACKS)
def test_a_form_value_stays_one_field(http_server: Any, value: str) -> None:
    sent = _post(http_server, "name={{ inputs.v }}&role=viewer", FORM, v=value)
    assert parse_qs(sent.decode(), keep_blank_values=True, strict_parsing=True) == {
        "name": [value], "role": ["viewer"]}


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/vnd.api+json"])
def test_a_json_string_value_cannot_close_its_string(http_server: Any, value: str,
                                                     content_type: str) -> None:
    sent = _post(http_server, '{"name": "{{ inputs.v }}", "note": "hi {{ inputs.v }}!", '
                 '"role": "viewer"}', content_type, v=value)
    assert json.loads(sent) == {"name": value, "note": f"hi {value}!", "role": "viewer"}


def test_a_json_value_outside_a_string_is_a_json_value(http_server: Any) -> None:
    sent = _post(http_server, '{"n": {{ inputs.n }}, "tags": {{ inputs.tags }}, '
                 '"who": {{ inputs.who }}, "on": {{ inputs.on }}, "cfg": {{ inputs.cfg }}}',
                 "application/json", n=5, tags=["a", '"b"'], who='x", "admin": true, "y": "',
                 on=True, cfg={"k": None})
    assert json.loads(sent) == {"n": 5, "tags": ["a", '"b"'], "on": True, "cfg": {"k": None},
                                "who": 'x", "admin": true, "y": "'}


def test_text_that_is_one_json_value_fills_its_place_and_no_more(http_server: Any) -> None:
    sent = _post(http_server, '{"n": {{ inputs.n }}, "cfg": {{ inputs.cfg | tojson }}, '
                 '"s": {{ inputs.s }}, "bad": {{ inputs.bad }}}', "application/json",
                 n="5", cfg={"a": [1, "<b>"]}, s='"quoted"', bad='1, "admin": true')
    assert json.loads(sent) == {"n": 5, "cfg": {"a": [1, "<b>"]}, "s": "quoted",
                                "bad": '1, "admin": true'}


def test_an_escaped_quote_in_the_template_does_not_confuse_the_strings(http_server: Any) -> None:
    sent = _post(http_server, '{"say": "a \\"quoted\\" {{ inputs.v }}", "n": {{ inputs.n }}}',
                 "application/json", v='"', n=2)
    assert json.loads(sent) == {"say": 'a "quoted" "', "n": 2}


def test_raw_opts_out_and_other_bodies_are_text(http_server: Any) -> None:
    sent = _post(http_server, "a={{ inputs.v | raw }}", FORM, v="1&b=2")
    assert parse_qs(sent.decode()) == {"a": ["1"], "b": ["2"]}
    sent = _post(http_server, "key={{ inputs.v }}", "text/plain", v="a&b c")
    assert sent == b"key=a&b c"
