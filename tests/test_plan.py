"""`vvrun plan`: every step rendered as it would run, with ⟨placeholders⟩, leaking nothing."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from vvrun import __version__
from vvrun.cli import cli
from vvrun.commands.app import App
from vvrun.errors import UsageError
from vvrun.guard import no_side_effects
from vvrun.language.pipeline import load_runbook
from vvrun.plan import make_plan

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("text", "markdown", "json")


def vv(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """`vvrun ARGS` in-process, with exactly `env` as its environment."""
    app = App(environ=dict(env or {}))
    app.masker.add_env(app.environ)
    return CliRunner().invoke(cli, list(args), obj=app, standalone_mode=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def plan_of(path: str, variables: Mapping[str, Any] | None = None,
            env: Mapping[str, str] | None = None, show_env: tuple[str, ...] = ()) -> Any:
    with no_side_effects():
        return make_plan(load_runbook(path), variables or {}, environ=env or {},
                         show_env=show_env)


BASIC = """
    version: 1
    name: basic
    title: Basic
    description: Plans for tests.
    inputs:
      stuck_after: {type: string, default: 5 minutes}
      mode: {type: string, default: soft, choices: [soft, hard]}
      email: {type: string}
      limit: {type: integer, default: 10}
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
      cache: {redis: "{{ env.REDIS_URL }}"}
      api: {http: {base_url: "https://api.example.com"}}
    locks: ["users:{{ inputs.mode }}"]
    steps:
      - id: find
        title: Find the user {{ inputs.email }}
        sql: SELECT id FROM users WHERE email = {{ inputs.email }} LIMIT {{ inputs.limit }}
      - id: soft
        when: inputs.mode == 'soft'
        sql: UPDATE users SET deleted_at = now() WHERE id = {{ steps.find.result.value }}
        danger: true
      - id: hard
        when: inputs.mode == 'hard'
        sql: DELETE FROM users WHERE id = {{ steps.find.result.value }}
        danger: true
        approvers: 2
      - id: check
        when: steps.find.result.rowcount > 0
        redis: GET user:{{ steps.find.result.value }}
      - id: ping
        http: GET /users/{{ inputs.email }}?run={{ run.id }}
      - id: sure
        confirm:
          prompt: Delete {{ inputs.email }} for good?
          type_to_confirm: basic
      - id: notes
        manual:
          instructions: |
            Tell support that {{ inputs.email }} is gone.
            Run {{ run.id }} by {{ run.operator }} (dry run: {{ run.dry_run }}).
          checklist: [Ticket updated, "Customer told ({{ inputs.email }})"]
          record:
            - ticket_url
            - {name: outcome, description: What happened, choices: [done, refused]}
          verify:
            sql: SELECT count(*) FROM users WHERE email = {{ inputs.email }}
            expect: result.value == 0
      - id: say
        shell: echo {{ inputs.email }} {{ env.HOME }}
        timeout: 30s
        retry: {attempts: 3, delay: 2s, until: "result.exit_code == 0"}
        expect: result.exit_code == 0
        on_failure: continue
"""


def test_steps_render_with_inputs_and_placeholders(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC), {"email": "ann@example.com"})
    find = plan.step("find")
    assert find.title == "Find the user ann@example.com"
    assert find.body == "SELECT id FROM users WHERE email = $1 LIMIT $2"
    assert find.params == ("'ann@example.com'", "10")
    assert find.condition == "always" and find.will_run is True
    soft = plan.step("soft")
    assert soft.body == "UPDATE users SET deleted_at = now() WHERE id = $1"
    assert soft.params == ("⟨steps.find.result.value⟩",)
    assert soft.will_run is True and soft.condition.startswith("runs")
    hard = plan.step("hard")
    assert hard.will_run is False and hard.condition.startswith("skipped")
    check = plan.step("check")
    assert check.will_run is None
    assert check.condition == "depends on find"
    assert check.depends_on == ("find",)
    assert "⟨steps.find.result.value⟩" in check.body


def test_run_values_are_placeholders_and_dry_run_is_true(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC), {"email": "a@b.c"})
    assert "⟨run.id⟩" in plan.step("ping").body
    notes = plan.step("notes").instructions
    assert "Run ⟨run.id⟩ by ⟨run.operator⟩ (dry run: True)." in notes


def test_danger_confirmations_approvers_and_locks_are_flagged(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC), {"email": "a@b.c", "mode": "hard"})
    assert plan.locks == ("basic", "users:hard")
    assert plan.danger_steps == 2
    assert plan.confirmations == 3  # two danger steps and one confirm
    hard = plan.step("hard")
    assert hard.danger and hard.approvers == 2 and hard.will_run is True
    sure = plan.step("sure")
    assert sure.confirm_prompt == "Delete a@b.c for good?"
    assert sure.type_to_confirm == "basic"
    text = vv("plan", write(tmp_path, "b.yaml", BASIC), "--var", "email=a@b.c").stdout
    assert "!! DANGER, asks to confirm, 2 approvers" in text
    assert "the operator must type: basic" in text
    assert "needs 2 approvers, each signing with an SSH key (`vvrun approve RUN hard`)" in text


def test_manual_steps_are_shown_in_full(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC), {"email": "a@b.c"})
    notes = plan.step("notes")
    assert notes.instructions.startswith("Tell support that a@b.c is gone.")
    assert notes.checklist == ("Ticket updated", "Customer told (a@b.c)")
    assert [r.name for r in notes.record] == ["ticket_url", "outcome"]
    assert notes.record[1].choices == ("done", "refused")
    assert notes.verify is not None
    assert "SELECT count(*) FROM users WHERE email = $1" in notes.verify
    assert "$1 = 'a@b.c'" in notes.verify and "expect: result.value == 0" in notes.verify
    md = vv("plan", "--format", "markdown", write(tmp_path, "b.yaml", BASIC),
            "--var", "email=a@b.c").stdout
    assert "- [ ] Ticket updated" in md
    assert "- `outcome` — What happened (one of `done`, `refused`)" in md


def test_step_settings_are_listed(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC), {"email": "a@b.c"})
    say = plan.step("say")
    assert say.timeout == "30 s"
    assert say.retry == "up to 3 attempts, 2 s apart, until `result.exit_code == 0`"
    assert say.expect == ("result.exit_code == 0",)
    assert say.on_failure == "continue"
    assert say.body == "echo a@b.c ⟨env.HOME⟩"


def test_environment_values_are_placeholders_unless_shown(tmp_path: Path) -> None:
    path = write(tmp_path, "basic.yaml", BASIC)
    env = {"HOME": "/home/ann", "REDIS_URL": "redis://cache.internal:6379/0"}
    hidden = plan_of(path, {"email": "a@b.c"}, env)
    assert hidden.step("say").body == "echo a@b.c ⟨env.HOME⟩"
    assert {c.name: c.target for c in hidden.connections}["cache"] == "⟨env.REDIS_URL⟩"
    shown = plan_of(path, {"email": "a@b.c"}, env, show_env=("HOME", "REDIS_URL"))
    assert shown.step("say").body == "echo a@b.c /home/ann"
    assert {c.name: c.target for c in shown.connections}["cache"] == "redis://cache.internal:6379/0"


def test_a_missing_input_is_a_placeholder_and_a_warning(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "basic.yaml", BASIC))
    assert plan.step("find").params[0] == "⟨inputs.email⟩"
    assert plan.warnings == (
        "input 'email' has no value: the plan shows ⟨inputs.email⟩ "
        "(give it with --var email=...)",
    )
    assert {i.name: i.source for i in plan.inputs}["email"] == "missing"


def test_bad_input_values_are_refused_as_a_run_would(tmp_path: Path) -> None:
    path = write(tmp_path, "basic.yaml", BASIC)
    result = vv("plan", path, "--var", "email=a@b.c", "--var", "mode=nuke")
    assert isinstance(result.exception, UsageError)
    assert "input 'mode' (--var) must be one of 'soft', 'hard'" in result.exception.message
    result = vv("plan", path, "--var", "limit=ten")
    assert "must be an integer" in result.exception.message


def test_an_unknown_var_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    result = vv("plan", write(tmp_path, "basic.yaml", BASIC), "--var", "emial=a@b.c")
    assert isinstance(result.exception, UsageError)
    assert result.exception.message.startswith("unknown input 'emial'")
    assert result.exception.hint == "did you mean 'email'?"


def test_base_needs_exactly_one_runbook(tmp_path: Path) -> None:
    path = write(tmp_path, "basic.yaml", BASIC)
    result = vv("plan", "--base", path, path, path)
    assert isinstance(result.exception, UsageError)
    assert "--base compares one runbook with its old version, and 2 were given" in str(
        result.exception)


def test_an_invalid_runbook_is_reported_not_planned(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "version: 1\nname: bad\ntitle: Bad\nsteps:\n"
                 "  - id: a\n    sql: SELECT 1\n    tiemout: 5s\n")
    result = vv("plan", path)
    assert result.exception is not None
    assert "tiemout" in str(result.exception)
    assert result.stdout == ""


# -- secrets and canaries ------------------------------------------------------------------

CANARY_INPUT = "Zq9CanaryInput7x"
CANARY_DB_PASSWORD = "Wv3CanaryDbPass8k"
CANARY_DB_HOST = "canaryhost4u"
CANARY_TOKEN = "ghp_Kx5CanaryToken2m"

CANARY = """
    version: 1
    name: canary
    title: Canary
    inputs:
      token: {type: string, secret: true}
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
      cache: {redis: "{{ env.REDIS_URL }}"}
      api:
        http:
          base_url: "{{ env.API_URL }}"
          headers: {Authorization: "Bearer {{ env.GITHUB_TOKEN }}"}
    locks: ["pg:{{ inputs.database_url | host }}", "t:{{ inputs.token | b64encode }}"]
    steps:
      - id: q
        title: "Use {{ inputs.token[:5] }} {{ env.GITHUB_TOKEN | upper }}"
        sql: >-
          SELECT {{ inputs.token }}, {{ inputs.token | b64encode }}, {{ inputs.token | reverse }},
          {{ inputs.token[2:] }}, {{ inputs.token | upper }}, {{ env.GITHUB_TOKEN }},
          {{ env.DATABASE_URL | reverse }}, {{ inputs.database_url[3:] }}
      - id: sh
        shell: >-
          echo {{ inputs.token }} {{ inputs.token | b64encode }} {{ inputs.token | reverse }}
          {{ env.GITHUB_TOKEN[1:] }} {{ env.DATABASE_URL }} {{ inputs.database_url | b64encode }}
      - id: r
        redis: SET k:{{ inputs.token }} {{ env.GITHUB_TOKEN | b64encode }}
        danger: false
      - id: h
        http:
          method: POST
          url: "/x/{{ inputs.token }}"
          json: {t: "{{ inputs.token | reverse }}", g: "{{ env.GITHUB_TOKEN }}"}
          headers: {X-T: "{{ inputs.token | upper }}"}
      - id: m
        description: "About {{ inputs.token | reverse }}"
        manual:
          instructions: "Paste {{ inputs.token }} and {{ env.GITHUB_TOKEN | b64encode }}"
          checklist: ["{{ inputs.token | reverse }}", "{{ env.DATABASE_URL[:20] }}"]
      - id: c
        confirm: "Really use {{ inputs.token[:4] }} on {{ inputs.database_url | host }}?"
        when: inputs.token | length > 3
"""


def _leak_forms(secret: str) -> set[str]:
    forms = {secret, secret[::-1], secret.upper(), secret[2:], secret[1:], secret[3:],
             base64.b64encode(secret.encode()).decode().rstrip("=")}
    return {f for f in forms if len(f) >= 6}


CANARY_ENV = {
    "DATABASE_URL": f"postgresql://app:{CANARY_DB_PASSWORD}@{CANARY_DB_HOST}:5432/app",
    "GITHUB_TOKEN": CANARY_TOKEN,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "API_URL": "https://api.example.com",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_canary_reaches_any_plan_format(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, "canary.yaml", CANARY)
    result = vv("plan", path, "--format", fmt, "--var", f"token={CANARY_INPUT}", env=CANARY_ENV)
    assert result.exception is None, result.exception
    out = result.stdout
    assert "⟨secret⟩" in out and "⟨env.GITHUB_TOKEN⟩" in out
    for secret in (CANARY_INPUT, CANARY_DB_PASSWORD, CANARY_DB_HOST, CANARY_TOKEN):
        for form in _leak_forms(secret):
            assert form not in out, f"{form!r} (from {secret!r}) leaked into the {fmt} plan"


def test_placeholders_survive_filters(tmp_path: Path) -> None:
    plan = plan_of(write(tmp_path, "canary.yaml", CANARY), {"token": CANARY_INPUT},
                   CANARY_ENV)
    q = plan.step("q")
    assert q.params == ("⟨secret⟩", "⟨secret | b64encode⟩", "⟨secret⟩", "⟨secret[…]⟩",
                        "⟨SECRET⟩", "⟨env.GITHUB_TOKEN⟩", "⟨env.DATABASE_URL⟩", "⟨secret[…]⟩")
    assert q.title == "Use ⟨secret[…]⟩ ⟨ENV.GITHUB_TOKEN⟩"
    assert plan.step("r").body.endswith("\"⟨env.GITHUB_TOKEN | b64encode⟩\"")
    assert plan.step("c").condition == "depends on a secret input"
    assert plan.step("c").confirm_prompt == "Really use ⟨secret[…]⟩ on ⟨secret | host⟩?"
    assert plan.locks[2] == "t:⟨secret | b64encode⟩"
    # `| host` of a placeholder stays a placeholder, never a wrong value such as "pg:"
    assert plan.locks[1] == "pg:⟨secret | host⟩"


def test_secret_looking_environment_values_stay_masked_even_when_shown(tmp_path: Path) -> None:
    path = write(tmp_path, "canary.yaml", CANARY)
    result = vv("plan", path, "--var", f"token={CANARY_INPUT}", "--show-env", "GITHUB_TOKEN",
                "--show-env", "DATABASE_URL", env=CANARY_ENV)
    assert CANARY_TOKEN not in result.stdout and CANARY_DB_PASSWORD not in result.stdout
    assert "***" in result.stdout
    # DATABASE_URL is also a secret input's value: its password is masked, --show-env or not,
    # and its host stays readable so the operator knows which database a step aims at (§5.3)
    assert CANARY_DB_HOST in result.stdout


# -- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_byte_identical_for_the_same_input(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, "basic.yaml", BASIC)
    runs = [vv("plan", path, "--format", fmt, "--var", "email=a@b.c").stdout_bytes
            for _ in range(3)]
    assert runs[0] and runs[0] == runs[1] == runs[2]


def test_markdown_has_a_summary_table_and_fenced_actions(tmp_path: Path) -> None:
    a = write(tmp_path, "basic.yaml", BASIC)
    b = write(tmp_path, "canary.yaml", CANARY)
    md = vv("plan", "--format", "markdown", a, b, "--var", "email=a@b.c").stdout
    assert md.startswith("<!-- vvrun-plan -->\n## vvrun plan\n")
    assert "| Runbook | Steps | Danger | Confirmations | Manual | Locks |" in md
    assert "| `basic` Basic | 8 | **2** | 3 | 1 | `basic`, `users:soft` |" in md
    assert "| `canary` Canary | 6 | 0 | 1 | 1 |" in md
    assert "```sql\nSELECT id FROM users WHERE email = $1 LIMIT $2\n```" in md
    assert "| `$1` | `'a@b.c'` |" in md
    assert "```bash\necho a@b.c ⟨env.HOME⟩\n```" in md
    assert "> [!CAUTION]\n> **Danger**: the operator must confirm this exact action" in md
    assert "**When** `steps.find.result.rowcount > 0` — depends on find" in md
    assert "#### 3. `hard` — DELETE FROM users WHERE id = $1 · ⚠️ **danger** · ⏭️ skipped" in md


def test_json_is_a_plan_file(tmp_path: Path) -> None:
    path = write(tmp_path, "basic.yaml", BASIC)
    doc = json.loads(vv("plan", "--format", "json", path, "--var", "email=a@b.c").stdout)
    assert doc["format"] == "vvrun-plan/1"
    assert doc["vvrun_version"] == __version__
    (entry,) = doc["runbooks"]
    assert entry["runbook_hash"] == load_runbook(path).source_hash
    assert entry["inputs"] == {"email": "a@b.c", "limit": 10, "mode": "soft",
                               "stuck_after": "5 minutes"}
    assert entry["unknown_inputs"] == {"database_url": "⟨secret⟩"}
    assert [s["id"] for s in entry["steps"]] == ["find", "soft", "hard", "check", "ping",
                                                 "sure", "notes", "say"]
    assert entry["summary"] == {"steps": 8, "danger": 2, "confirmations": 3, "manual": 1,
                                "locks": 2}
    assert entry["steps"][0]["params"] == ["'a@b.c'", "10"]


def test_a_secret_given_with_var_is_not_in_the_plan_file(tmp_path: Path) -> None:
    path = write(tmp_path, "canary.yaml", CANARY)
    out = vv("plan", "--format", "json", path, "--var", f"token={CANARY_INPUT}").stdout
    entry = json.loads(out)["runbooks"][0]
    assert entry["inputs"] == {}
    assert entry["unknown_inputs"] == {"token": "⟨secret⟩", "database_url": "⟨secret⟩"}
    assert CANARY_INPUT not in out


# -- every runbook we ship plans, under the guard ---------------------------------------------


def _shipped() -> list[str]:
    files = sorted((REPO / "runbooks").glob("*.yaml")) + sorted((REPO / "examples").rglob(
        "*.yaml"))
    return [str(f.relative_to(REPO)) for f in files]


@pytest.mark.parametrize("path", _shipped())
def test_every_shipped_runbook_plans_in_every_format(path: str, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    for fmt in FORMATS:
        result = vv("plan", path, "--format", fmt, env=CANARY_ENV)
        assert result.exception is None, f"{path} ({fmt}): {result.exception}"
        assert result.stdout
        for secret in (CANARY_DB_PASSWORD, CANARY_DB_HOST, CANARY_TOKEN):
            assert secret not in result.stdout


def test_the_runbook_library_is_there_to_plan() -> None:
    assert len(_shipped()) >= 5, "runbooks/ should hold the library"


def test_plan_imports_no_driver(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, "basic.yaml", BASIC)
    code = (
        "import sys; from vvrun.cli import main\n"
        f"try:\n    main(['plan', {path!r}, '--var', 'email=a@b.c'])\n"
        "except SystemExit:\n    pass\n"
        "bad = [m for m in ('psycopg', 'redis', 'httpx', 'rich') if m in sys.modules]\n"
        "print('IMPORTED', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("IMPORTED []")
