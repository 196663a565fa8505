"""A runbook cannot hide or disguise its own steps from the reviewer who reads its plan
(`vvrun plan --format markdown`, a pull-request comment) or its document (`vvrun docs`).

Each case below is a hostile author's runbook: three steps, the second a dangerous
`rm -rf /srv/data`, with text in the others (or in the dangerous one) meant to make that step
vanish or pass for something else. Both documents are parsed as CommonMark (markdown-it, tables
on, raw HTML on, as GitHub would) and the parse, not the bytes, must still show every step's
heading, the danger badge and box, and the command, in order, with no raw HTML of the author's
and no control or bidirectional character.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from vvrun.commands.docs import render_docs
from vvrun.commands.plan import emit_plan
from vvrun.text.controls import visible

COMMAND = "rm -rf /srv/data"
HEAD = "version: 1\nname: hostile\ntitle: Harmless check\n"

# step b, the one the author wants to hide; `{b}` adds keys to it
DANGER = """\
  - id: b
    title: Drop it
    danger: true
    shell: rm -rf /srv/data
"""

ATTACKS: dict[str, str] = {
    # an HTML comment opened in one step and closed two steps later (the tester's hide3.yaml)
    "html_comment_across_steps": HEAD + """\
steps:
  - id: a
    title: Read the dashboard
    manual: |
      Look at the dashboard.

      <!--
""" + DANGER + """\
  - id: c
    title: Done
    manual: |
      -->
      All good.
""",
    # the same, from the titles (the tester's hide.yaml)
    "html_comment_in_titles": HEAD + """\
steps:
  - id: a
    title: "Check status <!--"
    shell: echo ok
""" + DANGER + """\
  - id: c
    title: "done -->"
    shell: echo done
""",
    # an unclosed fence: the rest of the document becomes code
    "unclosed_fence": HEAD + """\
description: |
  Routine check.

  ~~~~~~
steps:
  - id: a
    title: Read the dashboard
    manual: |
      Look at the dashboard.

      ```
""" + DANGER + """\
  - id: c
    title: Done
    description: |
      ````text
    manual: All good.
""",
    # fences inside a list: a guess at fences line by line goes out of step with the parser
    "fence_nested_in_a_list": HEAD + """\
steps:
  - id: a
    title: Read the dashboard
    manual: |
      - open it:
        ```
        x
        ```
      <!--
      ```
""" + DANGER + """\
  - id: c
    title: Done
    manual: |
      - ```
        -->
        ```
      <!--
      ```
  - id: d
    title: Done
    manual: |
      -->
""",
    # backtick runs: longer than the renderer's fence, and lone ones that pair with its code spans
    "backtick_runs": HEAD + """\
steps:
  - id: a
    title: "Read ` the dashboard"
    manual:
      instructions: "Look ``"
      checklist: ["seen `"]
      record:
        - name: ok
          description: "a lone ` here"
          choices: ["yes", "no"]
  - id: b
    title: "Drop ``` it"
    danger: true
    shell: |
      echo '````'
      rm -rf /srv/data
      echo '```'
  - id: c
    title: Done
    confirm: "Type ```` to go on `"
""",
    # an escaped backtick: a code span for a naive scanner, raw HTML for the parser
    "escaped_backtick_hides_html": HEAD + """\
steps:
  - id: a
    title: Read the dashboard
    manual: |
      Look \\`<img src=x onerror="alert(1)">` at it.
      \\`<!-- `-->`
""" + DANGER + """\
  - id: c
    title: Done
    manual: "`-->` all good"
""",
    # raw HTML: a folded <details> that hides what follows, a script, an image with a handler
    "raw_html_tags": HEAD + """\
description: |
  <details><summary>Routine check, nothing to see</summary>

  <img src=x onerror="alert(1)">
inputs:
  who:
    type: string
    default: me
    description: "<pre>"
steps:
  - id: a
    title: "Read <b>the</b> dashboard <img src=x onerror=alert(1)>"
    description: |
      <script>
    manual: |
      <details>
      <summary>Dashboard</summary>
""" + DANGER + """\
  - id: c
    title: "<style>"
    manual: <textarea>
""",
    # closing the renderer's (or GitHub's) elements from inside a step
    "closing_details": HEAD + """\
steps:
  - id: a
    title: "Read </details> the dashboard"
    description: "</details></blockquote></table>"
    manual: |
      </details>

      </div>
""" + DANGER + """\
  - id: c
    title: Done
    manual: "</details>"
""",
    # terminal escapes and bidi overrides, raw and as character references
    "esc_and_bidi": HEAD + """\
steps:
  - id: a
    title: "Read the dashboard \\e]8;;https://evil.example\\e\\\\here\\e]8;;\\e\\\\"
    manual: "Look \\e[8mhidden\\e[0m at \\u202Eatad/vrs/ fr- mr\\u202C it &#x202E;x &#27;[2J"
  - id: b
    title: "Drop it\\rSAFE STEP       "
    danger: true
    shell: "rm -rf /srv/data # \\e[8mhidden\\e[0m \\u2066x\\u2069"
  - id: c
    title: "Done \\u202E"
    manual: All good.
""",
    # headings that pass for steps of their own, and a reference that turns the danger box
    # into a link
    "fake_steps_and_references": HEAD + """\
steps:
  - id: a
    title: Read the dashboard
    manual: |
      Look.

      #### 2. `b` — Drop it (already done, nothing to do)

      ### 2. Drop it (already done)

      Done
      ====

      [!caution]: https://evil.example
      [!CAUTION]: https://evil.example
""" + DANGER + """\
  - id: c
    title: "Done\\n#### 4. `d` — Fake"
    manual: All good.
""",
}


def _parse(markdown: str) -> list[Any]:
    return MarkdownIt("commonmark", {"html": True}).enable("table").parse(markdown)


def _text(inline: Any) -> str:
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def _plan(path: Path) -> str:
    import io

    out = io.StringIO()
    emit_plan([str(path)], {}, "markdown", (), {}, out)
    return out.getvalue()


def _docs(path: Path) -> str:
    return next(iter(render_docs([str(path)]).values()))


def _steps(runbook: str) -> int:
    return len(re.findall(r"^  - id: ", runbook, re.MULTILINE))


def _assert_contained(markdown: str, ours: tuple[str, ...], count: int = 3) -> None:
    """Every step's heading, b's danger badge and box and its command, in order, at the top
    level; no raw HTML but the renderer's `ours`; no hidden character."""
    assert visible(markdown) == markdown, "a control or bidi character reached the document"
    tokens = _parse(markdown)
    for t in tokens:
        if t.type == "html_block":
            assert t.content.startswith(ours), f"raw HTML from the runbook: {t.content!r}"
        for child in t.children or ():
            assert child.type != "html_inline" or child.content == "<br>", child.content
            assert visible(child.content) == child.content, child.content
    steps = [(i, _text(tokens[i + 1])) for i, t in enumerate(tokens)
             if t.type == "heading_open" and re.match(r"\d+\. ", tokens[i + 1].content)]
    assert [tokens[i].level for i, _ in steps] == [0] * count, steps
    assert [s[1].split(".")[0] for s in steps] == [str(n) for n in range(1, count + 1)], steps
    (a, _), (b, b_head), (c, _) = steps[:3]
    assert "Drop" in b_head and "danger" in b_head
    section = tokens[b:c]
    fences = [t for t in section if t.type == "fence" and t.level == 0]
    assert any(COMMAND in t.content for t in fences), "b's command is not shown as code"
    quotes = [i for i, t in enumerate(section) if t.type == "blockquote_open" and t.level == 0]
    box = [_text(section[i + 2]) for i in quotes]
    assert any(x.startswith("[!CAUTION]") and "Danger" in x for x in box), box
    assert not any(COMMAND in t.content for t in tokens[a:b] + tokens[c:] if t.type == "fence")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_plan_shows_every_step_whatever_the_runbook_says(tmp_path: Path, attack: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(ATTACKS[attack], encoding="utf-8")
    _assert_contained(_plan(path), ("<!-- vvrun-plan -->",), _steps(ATTACKS[attack]))


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_document_shows_every_step_whatever_the_runbook_says(tmp_path: Path,
                                                                attack: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(ATTACKS[attack], encoding="utf-8")
    _assert_contained(_docs(path), ("<!-- Generated by `vvrun docs` from ",),
                      _steps(ATTACKS[attack]))


def test_a_file_name_cannot_end_the_generated_comment(tmp_path: Path) -> None:
    path = tmp_path / "x --><img src=x onerror=alert(1)><!--.yaml"
    path.write_text(ATTACKS["html_comment_in_titles"], encoding="utf-8")
    doc = _docs(path)
    first = _parse(doc)[0]
    assert first.type == "html_block" and first.content.count("-->") == 1
    _assert_contained(doc, ("<!-- Generated by `vvrun docs` from ",))


@pytest.mark.parametrize("render", [_plan, _docs])
def test_a_lone_backtick_cannot_pair_with_the_renderers_code(tmp_path: Path, render: Any) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(ATTACKS["backtick_runs"], encoding="utf-8")
    tokens = _parse(render(path))
    record = next(t for t in tokens if t.type == "inline" and "a lone" in t.content)
    assert [c.content for c in record.children if c.type == "code_inline"] == ["ok", "yes", "no"]
    assert any(t.type == "inline" and _text(t).startswith("1. a — Read ` the") for t in tokens) \
        or any(t.type == "inline" and _text(t).startswith("1. Read ` the") for t in tokens)


def test_a_title_cannot_shift_the_danger_count_in_the_plan_summary(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(ATTACKS["html_comment_in_titles"].replace(
        "title: Harmless check", 'title: "ok \\\\| 3 \\\\| 0 \\\\| 0 | 0 | 0 | 0 |"'),
        encoding="utf-8")
    tokens = _parse(_plan(path))
    cells = [_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "td_open"]
    assert cells[1:3] == ["3", "1"], cells  # steps, danger


def test_legitimate_markdown_stays_markdown(tmp_path: Path) -> None:
    path = tmp_path / "fine.yaml"
    path.write_text(HEAD + """\
description: |
  Rotates the key. Leaves a `<NAME>_NEW` variable behind, **never** the old one.

  - check [the dashboard](https://example.com/d) first
  - then *tell* #incidents

  ```sh
  echo "<b>not html</b>"
  ```
steps:
  - id: a
    title: Read the `dashboard` & the R&D page
    manual: |
      1. Open it.
      2. Read `a < b` and <https://example.com>.
""" + DANGER + """\
  - id: c
    manual: All good.
""", encoding="utf-8")
    doc = _docs(path)
    assert "Leaves a `<NAME>_NEW` variable behind, **never** the old one." in doc
    assert "- check [the dashboard](https://example.com/d) first" in doc
    assert '```sh\necho "<b>not html</b>"\n```' in doc
    assert "### 1. Read the `dashboard` & the R&D page" in doc
    assert "1. Open it.\n2. Read `a < b` and " in doc
    types = {t.type for t in _parse(doc)}
    assert {"bullet_list_open", "ordered_list_open", "fence"} <= types
    _assert_contained(doc, ("<!-- Generated by `vvrun docs` from ",))
