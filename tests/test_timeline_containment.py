"""Whatever a run recorded cannot change the incident timeline it is told in
(`vvrun show RUN --format markdown`, pasted into a post-mortem).

Each case runs a hostile runbook through the engine into a SQLite store: steps print an
`<!--`, an unclosed fence, a `</details>`, terminal escapes and a bidi override, and that
output reaches the record as an error, a stop reason, a typed value, an operator's name and
note. The timeline is rendered by the real `vvrun show`, parsed as CommonMark (markdown-it,
tables and raw HTML on, as GitHub would), and the parse must still hold every event's row and
every step's row, in order, with no raw HTML and no control or bidirectional character.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook
from vvrun.cli import main
from vvrun.state.sqlite import SqliteStore
from vvrun.text.controls import visible

# each line opens or closes something a renderer would honour
HOSTILE = "\n".join([
    "<!--", "```", "</details>", "<details><summary>fine</summary>",
    "\x1b[2J\x1b]8;;https://evil.example\x1b\\here", "\u202etxt.exe", "&#x202e;x",
    "| a | b |", "#### 9. `z` — fake step", "[!caution]: https://evil.example", "````"])


def _printf(text: str) -> str:
    """A shell command printing `text` (octal escapes keep the YAML plain)."""
    body = "".join(c if c.isascii() and c.isprintable() and c not in "'\\%" else
                   "".join(f"\\{b:03o}" for b in c.encode()) for c in text)
    return f"printf '{body}\\n'"


def _book(tmp_path: Path) -> Path:
    fail = f"{_printf(HOSTILE)}; {_printf(HOSTILE)} >&2; exit 3"
    return write_runbook(tmp_path, f"""
        version: 1
        name: hostile
        title: "Hostile ``` run <!--"
        steps:
          - id: noisy
            title: Print and fail
            shell: {json.dumps(fail)}
            on_failure: continue
          - id: printed
            title: Print
            shell: {json.dumps(_printf(HOSTILE))}
          - id: typed
            title: Acknowledge
            manual:
              instructions: Read it
              record:
                - name: seen
                  description: what was seen
          - id: checked
            title: Check
            manual: Read it again
          - id: after
            title: After
            shell: echo after
          - id: end
            title: End
            stop:
              status: failed
              reason: "stopped: {{{{ steps.printed.result.stdout }}}}"
        """)


def _show(tmp_path: Path, operator: str, note: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    """Record the hostile run as `operator`; the timeline `vvrun show` prints, and the order
    the steps ran in."""
    db = tmp_path / "state.db"
    store = SqliteStore(db)
    runner = Runner(store=store, operator=operator)  # type: ignore[arg-type]
    outcome = runner.run(_book(tmp_path), prompter=ScriptedPrompter(
        answers={"seen": HOSTILE}, notes=note))
    assert outcome.status == "failed"
    run_id = outcome.result.run_id
    ran = [e["data"]["step_id"] for e in store.events(run_id) if e["kind"] == "step_started"]
    store.close()
    for name in ("VVRUN_STATE_SCHEMA", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VVRUN_STATE", str(db))
    monkeypatch.setenv("VVRUN_OPERATOR", "reader@h")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["show", run_id, "--format", "markdown"])
    out, err = capsys.readouterr()
    assert exit_.value.code in (0, None), err
    return out, ran


def _parse(markdown: str) -> list[Any]:
    return MarkdownIt("commonmark", {"html": True}).enable("table").parse(markdown)


def _text(inline: Any) -> str:
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def _rows(tokens: list[Any], header: str) -> list[list[str]]:
    """The body rows of the table under the level-2 heading `header`, as cell texts."""
    start = next(i for i, t in enumerate(tokens)
                 if t.type == "heading_open" and t.tag == "h2" and tokens[i + 1].content == header)
    body = next(i for i, t in enumerate(tokens) if i > start and t.type == "tbody_open")
    end = next(i for i, t in enumerate(tokens) if i > start and t.type == "table_close")
    rows: list[list[str]] = []
    for i in range(body, end):
        if tokens[i].type == "tr_open":
            rows.append([])
        elif tokens[i].type == "td_open":
            rows[-1].append(_text(tokens[i + 1]))
    return rows


# (operator, note): names and notes people typed, each one the note of two decisions
CASES = [
    ("mallory <!--", f"looked at it\n{HOSTILE}"),
    ("eve ```", "looked at it\n```\n<!--"),  # an unclosed fence
    ("bob</details>", "looked at it </details>\n\n    <!-- indented\n\n#### 9. fake"),
    ("\u202eadmin\x1b[8m", "looked at it\n- item\n  ```\n  <!--"),  # a fence in a list
    ("a | b", "looked at it\n[x]: https://evil.example\n\x1b[2J\u202e"),
]


@pytest.mark.parametrize(("operator", "note"), CASES)
def test_a_timeline_keeps_every_entry_whatever_the_run_recorded(
        tmp_path: Path, operator: str, note: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    markdown, ran = _show(tmp_path, operator, note, monkeypatch, capsys)
    assert ran == ["noisy", "printed", "typed", "checked", "after", "end"]
    assert visible(markdown) == markdown, "a control or bidi character reached the timeline"
    tokens = _parse(markdown)
    for t in tokens:
        assert t.type != "html_block", f"raw HTML from the run: {t.content!r}"
        for child in t.children or ():
            assert child.type != "html_inline", child.content
            assert visible(child.content) == child.content, child.content
    assert all(t.level > 2 for t in tokens if t.type in ("fence", "code_block")), \
        "code only inside a note's quotation"
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [headings[0], "Timeline (UTC)", "Decisions, approvals and acknowledgements",
                        "Steps", "Audit trail"]
    assert [t.level for t in tokens if t.type == "heading_open"] == [0] * 5

    shown_operator = visible(operator)
    events = _rows(tokens, "Timeline (UTC)")
    assert all(len(row) == 3 for row in events), events
    assert {row[1] for row in events} == {shown_operator}
    what = [row[2] for row in events]
    assert what[0].startswith("run started")
    assert [w.split(" ")[1] for w in what[1:-1]] == [
        "noisy", "noisy", "printed", "printed", "typed", "typed", "typed", "checked",
        "checked", "checked", "after", "after", "end", "end"]
    assert "seen = <!-- ``` </details>" in what[6]
    assert what[-1].startswith("run ended: failed — ")
    assert "stopped: <!-- ``` </details> <details><summary>fine</summary>" in what[-1]

    steps = _rows(tokens, "Steps")
    assert [row[0] for row in steps] == ran
    assert all(len(row) == 6 for row in steps), steps
    assert [row[1] for row in steps] == ["failed"] + ["succeeded"] * 5

    items = [_text(tokens[i + 2]) for i, t in enumerate(tokens)
             if t.type == "list_item_open" and t.level == 1 and tokens[i + 2].type == "inline"]
    decisions = [x for x in items if "acknowledged" in x]
    assert len(decisions) == 2, items
    assert f"— {shown_operator}: step typed acknowledged: seen = <!--" in decisions[0]
    assert decisions[1].endswith(f"— {shown_operator}: step checked acknowledged")
    quotes = [i for i, t in enumerate(tokens) if t.type == "blockquote_open"]
    assert [tokens[i].level for i in quotes] == [2, 2], "each note inside its own list item"
    # a note kept as Markdown starts with a paragraph; one that would not stay inside its
    # quotation is shown literally, in a fence
    assert all("looked at it" in tokens[i + 1].content + tokens[i + 2].content for i in quotes)
    assert markdown.rstrip().endswith(f"audit trail: {len(events)} events, hash chain verifies.")
    assert markdown.count("\\x1b") >= 3 and "\\u202e" in markdown


def test_the_runbook_path_is_code_whatever_its_backticks() -> None:
    from tests.test_state_support import run_record
    from vvrun.ui.timeline import markdown

    path = "/srv/run`books/`` <!-- x.yaml"
    run = run_record(runbook="db`fix", path=path, error="```\n<!--", inputs={"who": "a`b"})
    tokens = _parse(markdown(run, {}, [], []))
    assert not any(t.type == "html_block" or t.type == "fence" for t in tokens)
    about = next(t for t in tokens if t.type == "inline" and t.content.startswith("**Runbook:**"))
    assert [c.content for c in about.children if c.type == "code_inline"][:2] == ["db`fix", path]
    inputs = next(t for t in tokens if t.type == "inline" and t.content.startswith("**Inputs:**"))
    assert [c.content for c in inputs.children if c.type == "code_inline"] == ["who", "a`b"]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[1:] == ["Timeline (UTC)", "Steps", "Audit trail"]
