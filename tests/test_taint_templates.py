"""Taint through templates (SPEC §5.4): whatever a template computes from a secret is a
secret, masked whole the moment it is computed — through filters, slices, `~`, `%`, format,
join and encodings — and a secret in a shell command is a variable, never its value."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from vvrun.language.templates import EnvVars, Templater
from vvrun.secrets import MASK, Masker
from vvrun.secrets.taint import Tainted, taint

SECRET = "Sup3r-Secret_Value"

CASES = {
    "{{ s | upper }}": SECRET.upper(),
    "{{ s | lower }}": SECRET.lower(),
    "{{ s[::-1] }}": SECRET[::-1],
    "{{ s[2:8] }}": SECRET[2:8],
    "{{ s | reverse }}": SECRET[::-1],
    "{{ s | b64encode }}": base64.b64encode(SECRET.encode()).decode(),
    "{{ (u ~ ':' ~ s) | b64encode }}": base64.b64encode(f"ops:{SECRET}".encode()).decode(),
    "{{ s | urlencode }}": quote(SECRET),
    "{{ {'k': s} | tojson }}": json.dumps({"k": SECRET}),
    "{{ '%s-x' | format(s | lower) }}": SECRET.lower() + "-x",
    "{{ '%s' % (s | upper) }}": SECRET.upper(),
    "{{ s | replace('S', 'Z') }}": SECRET.replace("S", "Z"),
    "{{ [u, s] | join('|') | upper }}": f"OPS|{SECRET.upper()}",
    "{{ s | list | reverse | join('.') }}": ".".join(SECRET[::-1]),
    "{{ s | list | map('upper') | join }}": SECRET.upper(),
    "{{ (s ~ s) | trim | title }}": "Sup3r-Secret_valuesup3r-Secret_value",  # Jinja's title
    "{{ s | center(30) }}": SECRET.center(30),
    "{{ s * 2 }}": SECRET * 2,
    "{{ env.DEPLOY_TOKEN | upper }}": "ENV-TOKEN-999",
    "{{ env.APP_DB | replace('postgres', 'pg') }}": "pg://app:dbpass-1@db/app",
}


@pytest.fixture
def world() -> tuple[Templater, Masker]:
    masker = Masker()
    env = EnvVars({"DEPLOY_TOKEN": "env-token-999", "APP_DB": "postgres://app:dbpass-1@db/app",
                   "HOME": "/root"}, masker=masker)
    return Templater({"s": taint(SECRET, masker, "s"), "u": "ops", "env": env}), masker


@pytest.mark.parametrize(("source", "derived"), CASES.items(), ids=CASES.keys())
def test_a_value_computed_from_a_secret_is_masked_whole(
        world: tuple[Templater, Masker], source: str, derived: str) -> None:
    tpl, masker = world
    rendered = tpl.text(source)
    assert rendered == derived  # the step gets the real value…
    shown = masker.mask(f"[{rendered}]")
    assert derived not in shown and MASK in shown  # …and nothing prints it


def test_an_expression_output_stays_a_secret(world: tuple[Templater, Masker]) -> None:
    tpl, masker = world
    value = tpl.expr("s | lower | b64encode")
    assert isinstance(value, Tainted)
    assert masker.mask(value) == MASK


def test_ordinary_values_stay_ordinary(world: tuple[Templater, Masker]) -> None:
    tpl, masker = world
    assert tpl.text("{{ env.HOME | upper }} {{ u | upper }} {{ s | length }}") == "/ROOT OPS 18"
    assert masker.mask("/ROOT OPS 18") == "/ROOT OPS 18"


def test_a_secret_in_a_shell_command_is_a_variable(world: tuple[Templater, Masker]) -> None:
    tpl, _ = world
    command = tpl.shell("psql {{ s }} {{ s | upper }} {{ u }} {{ s }}")
    assert str(command) == 'psql "$VVRUN_SECRET_S" "$VVRUN_SECRET_1" ops "$VVRUN_SECRET_S"'
    assert command.env == {"VVRUN_SECRET_S": SECRET, "VVRUN_SECRET_1": SECRET.upper()}
    raw = tpl.shell("echo {{ s | raw }}")  # opted out of quoting: unquoted, still by env
    assert str(raw) == "echo $VVRUN_SECRET_1" and raw.env == {"VVRUN_SECRET_1": SECRET}


def test_copies_of_a_secret_are_plain_values() -> None:
    import copy
    import pickle

    masker = Masker()
    s = taint(SECRET, masker)
    assert copy.deepcopy({"k": s})["k"] == SECRET
    assert type(pickle.loads(pickle.dumps(s))) is str


@pytest.mark.parametrize("value", [
    {"rows": [{"pw": SECRET, "n": 1}], "value": None},  # a known secret, nested
    {"url": "postgresql://app:Sh4pe-Only-Pw@db/app"},  # a secret found by its shape only
    {"authorization": "Bearer abc.def"},  # a credential header
    {"t": (1, "x")},  # a tuple: becomes a list either way
    {1: "x", "k": [1.5, float("nan")]},  # a key that is not a string
    {"plain": ["a", 1, True, None], "deep": {"er": {"est": "text"}}},  # nothing to taint
])
def test_tainting_a_result_against_its_masked_copy_is_tainting_it(value: dict) -> None:
    """The recorder hands `taint_secrets` the masked copy it already made, which skips the
    walk when masking changed nothing: every leaf is tainted (or not) exactly as by the
    walk, and the value read by later templates is the same."""
    from vvrun.secrets.taint import taint_secrets

    masker = Masker([SECRET])
    fast = taint_secrets(value, masker, masked=masker.mask_obj(value))
    slow = taint_secrets(value, masker)
    assert json.dumps(fast, default=str) == json.dumps(slow, default=str)

    def tainted(obj: object) -> list[bool]:
        if isinstance(obj, dict):
            return [t for v in obj.values() for t in tainted(v)]
        if isinstance(obj, list | tuple):
            return [t for v in obj for t in tainted(v)]
        return [isinstance(obj, Tainted)]

    assert tainted(fast) == tainted(slow)
