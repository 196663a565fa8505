"""The templating layer's safety promise, against real PostgreSQL, bash, Redis and HTTP:
a templated value arrives as data, never as SQL text, shell syntax, an extra redis argument
or another host; sandbox escapes and pathological expressions fail cleanly."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import connections, run_step
from vvrun.engine.context import evaluate
from vvrun.errors import RunbookError, StepFailed
from vvrun.language.templates import Templater, TemplateRefused, TemplateRenderError

SQL_PAYLOADS = ["1; DROP TABLE {t}; --", "' OR '1'='1", "$$;DROP TABLE {t};$$",
                "x'); DROP TABLE {t}; --", "\\'; DROP TABLE {t}; --"]


@pytest.fixture
def victim(pg_url: str):
    import psycopg

    table = f"t_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (name text)")
        conn.execute(f"INSERT INTO {table} VALUES ('alice'), ('bob')")
    yield table
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _rows(pg_url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize("payload", SQL_PAYLOADS)
def test_sql_values_are_bound_parameters(pg_url: str, victim: str, payload: str) -> None:
    value = payload.format(t=victim)
    result = run_step("sql", f"SELECT {{{{ inputs.v }}}}::text AS v, count(*) AS n FROM {victim} "
                      f"WHERE name = {{{{ inputs.v }}}}",
                      context={"inputs": {"v": value}, "env": {}, "steps": {}},
                      conns=connections(db=pg_url))
    assert result["row"] == {"v": value, "n": 0}
    assert _rows(pg_url, victim) == 2


def test_sql_ident_is_quoted_as_an_identifier(pg_url: str, victim: str) -> None:
    result = run_step("sql", "SELECT count(*) AS n FROM {{ inputs.t | ident }}",
                      context={"inputs": {"t": victim}, "env": {}, "steps": {}},
                      conns=connections(db=pg_url))
    assert result["value"] == 2
    hostile = f"{victim}; DROP TABLE {victim}"
    with pytest.raises(StepFailed) as err:
        run_step("sql", "SELECT count(*) FROM {{ inputs.t | ident }}",
                 context={"inputs": {"t": hostile}, "env": {}, "steps": {}},
                 conns=connections(db=pg_url))
    assert "does not exist" in str(err.value)
    assert _rows(pg_url, victim) == 2


SHELL_PAYLOADS = ["$(touch M)", "`touch M`", ";touch M", "a\ntouch M", "-rf", "' ; touch M ; '",
                  "\"$(touch M)\"", "M && touch M", "*"]


@pytest.mark.parametrize("payload", SHELL_PAYLOADS)
def test_shell_values_are_one_quoted_word(tmp_path: Path, payload: str) -> None:
    result = run_step("shell", {"run": "printf '%s|' {{ inputs.v }}", "cwd": str(tmp_path)},
                      context={"inputs": {"v": payload}, "env": {}, "steps": {}})
    assert result["stdout"] == payload + "|"
    assert not (tmp_path / "M").exists()


def test_shell_raw_opts_out(tmp_path: Path) -> None:
    result = run_step("shell", {"run": "echo {{ inputs.v | raw }}", "cwd": str(tmp_path)},
                      context={"inputs": {"v": "a; echo b"}, "env": {}, "steps": {}})
    assert result["stdout"] == "a\nb"


def test_redis_value_with_spaces_and_crlf_is_one_argument(redis_url: str) -> None:
    import redis

    key = f"t:tpl:{uuid.uuid4().hex}"
    value = "a b\r\nSET pwned 1\r\n"
    run_step("redis", f"SET {key} {{{{ inputs.v }}}}",
             context={"inputs": {"v": value}, "env": {}, "steps": {}},
             conns=connections(cache=redis_url))
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.get(key) == value.encode()
        assert client.exists(f"{key}:x") == 0
    finally:
        client.delete(key)
        client.close()


@pytest.mark.parametrize(("payload", "path"), [
    ("../admin", "/users/..%2Fadmin"),
    ("//evil.example/", "/users/%2F%2Fevil.example%2F"),
    ("..", "/users/%2E%2E"),
    ("a?admin=1#x", "/users/a%3Fadmin%3D1%23x"),
])
def test_url_values_stay_one_path_part(http_server, payload: str, path: str) -> None:
    http_server.json("*", "/users/x", {})
    with pytest.raises(StepFailed):  # 404: the server saw the encoded part, not another path
        run_step("http", "GET /users/{{ inputs.v }}",
                 context={"inputs": {"v": payload}, "env": {}, "steps": {}},
                 conns=connections(api=http_server.url))
    assert http_server.requests[-1]["path"] == path
    assert http_server.requests[-1]["headers"]["Host"].startswith("127.0.0.1")


ESCAPES = [
    "''.__class__.__mro__",
    "''.__class__.__mro__[1].__subclasses__()",
    "cycler.__init__.__globals__",
    "lipsum.__globals__",
    "('{0.__class__}'|attr('format'))(1)",
    "'{0.__class__.__mro__}'.format(1)",
    "range.__self__",
    "self.__init__.__globals__",
    "inputs.__class__.__base__.__subclasses__()",
    "namespace.__init__.__globals__",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_fail_cleanly(source: str) -> None:
    tpl = Templater({"inputs": {}, "env": {}, "steps": {}})
    with pytest.raises((TemplateRenderError, RunbookError)) as err:
        evaluate(tpl, source)  # how the engine evaluates when/expect/outputs/until
    assert source in str(err.value)
    with pytest.raises((TemplateRenderError, RunbookError)):
        tpl.text("{{ " + source + " }}")


def test_an_escape_in_a_runbook_is_a_validate_error_with_its_line(tmp_path: Path) -> None:
    from tests.test_engine_support import write_runbook
    from vvrun.language.pipeline import check_file

    rb = write_runbook(tmp_path, """
        version: 1
        name: escape
        title: Escape
        steps:
          - id: sneaky
            when: "cycler.__init__.__globals__.os"
            shell: echo never
          - id: sneaky2
            shell: echo {{ lipsum.__globals__ }}
            on_failure: continue
    """)
    _, problems = check_file(str(rb))
    found = {(p.where.line, p.code, p.where.step_id) for p in problems}
    assert {(6, "sandbox", "sneaky"), (9, "sandbox", "sneaky2")} <= found


def test_an_escape_that_only_a_run_can_see_is_refused_with_exit_2() -> None:
    from vvrun.language.templates import TemplateRefused

    tpl = Templater({"inputs": {"name": "__class__"}})
    with pytest.raises(TemplateRefused) as err:
        tpl.expr("inputs.name | string | attr(inputs.name)")
    assert err.value.exit_code == 2 and "refused" in err.value.message


@pytest.mark.parametrize("source", ["9 ** (9 ** 9)", "'a' * 10**9", "[1] * 10**8",
                                    "2 ** 100000", "'ab' * 600000"])
def test_pathological_expressions_fail_fast(source: str) -> None:
    tpl = Templater({"inputs": {}})
    with pytest.raises(TemplateRefused) as err:  # the runbook is wrong: exit 2, as a plan's
        tpl.expr(source)
    assert err.value.exit_code == 2 and "is refused" in str(err.value)


def test_power_is_left_associative_in_jinja_and_small_enough() -> None:
    assert Templater({}).expr("9**9**9") == (9**9) ** 9


def test_one_render_pass_a_value_is_never_a_template(tmp_path: Path) -> None:
    tpl = Templater({"inputs": {"v": "{{ 7 * 6 }}"}})
    assert tpl.text("x {{ inputs.v }}") == "x {{ 7 * 6 }}"
    result = run_step("shell", "echo {{ inputs.v }}",
                      context={"inputs": {"v": "{{ 7 * 6 }}"}, "env": {}, "steps": {}})
    assert result["stdout"] == "{{ 7 * 6 }}"


def test_no_loader_no_include() -> None:
    tpl = Templater({"inputs": {}})
    with pytest.raises((TemplateRenderError, RunbookError)):
        tpl.text("{% include '/etc/passwd' %}")
    with pytest.raises((TemplateRenderError, RunbookError)):
        tpl.text("{% import 'x' as y %}")


def test_undefined_names_are_errors_with_the_template() -> None:
    tpl = Templater({"inputs": {}})
    with pytest.raises(TemplateRenderError) as err:
        tpl.text("hello {{ inputs.nope }}")
    assert "hello {{ inputs.nope }}" in str(err.value) and "nope" in str(err.value)


@pytest.mark.parametrize("source", [
    "SELECT 1", "SELECT 1\n", "SELECT 1\n\n", "a\r\nb\r\n", "a\r", "x\n\r\n", "\n", "",
    "x {# not a comment here #} y", "tab\there  \n ", "a { b } c", "-- {x}\nSELECT '}}'",
    "SELECT $$ { $$", "  leading\n  lines\n"])
def test_a_query_without_markup_is_what_jinja_would_render(source: str) -> None:
    """The sql step skips Jinja for a query with no `{{`, `{%` or `{##`: the text it sends,
    shows and hashes for approvals must be what Jinja itself would have made of it."""
    from vvrun.language.templates.environment import ENV

    expected = ENV.from_string(source).render()
    assert Templater({}, where=None).sql(source).parts == ((expected,) if expected else ())


def test_a_template_comment_is_markup_everywhere() -> None:
    """`{## … ##}` is Jinja's comment here: text and SQL drop it, as Jinja does."""
    tpl = Templater({}, where=None)
    assert tpl.text("a {## note ##}b") == "a b"
    assert tpl.sql("SELECT 1 {## why ##}").parts == ("SELECT 1 ",)
