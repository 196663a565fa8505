"""Did-you-mean: the one way vvrun suggests a known name for a misspelt one."""

from __future__ import annotations

from collections.abc import Iterable


def closest(word: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name nearest to `word`, or None when none is near enough."""
    import difflib  # only when there is a misspelling to suggest for (cold start)

    matches = difflib.get_close_matches(word, [str(k) for k in known], n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, known: Iterable[str], *, cutoff: float = 0.6) -> str:
    """`did you mean 'timeout'?`, or an empty string when nothing is close."""
    match = closest(word, known, cutoff=cutoff)
    return f"did you mean '{match}'?" if match else ""


def nearest_path(path: str) -> str | None:
    """The existing file or folder beside `path` whose name is nearest to its name, spelt the
    way `path` was (`runbooks/bse.yaml` → `runbooks/base.yaml`), or None. Names are compared
    without their suffix, so that `.yaml` shared by every runbook makes no two names look alike
    and `base.yml` still finds `base.yaml`. Lists one folder: only call it for a missing path."""
    import os.path

    folder, name = os.path.split(path.rstrip("/") or path)
    try:
        siblings = [n for n in os.listdir(folder or ".") if not n.startswith(".")]
    except OSError:  # the folder is missing or unreadable too: nothing to suggest from
        return None
    stem, suffix = os.path.splitext(name)
    by_stem: dict[str, list[str]] = {}
    for sibling in sorted(siblings):
        by_stem.setdefault(os.path.splitext(sibling)[0], []).append(sibling)
    match = closest(stem, by_stem)
    if match is None:
        return None
    # several files share the stem (base.yaml, base.md): the same suffix first, then a runbook
    ranked = sorted(by_stem[match], key=lambda n: (os.path.splitext(n)[1] != suffix,
                                                   os.path.splitext(n)[1] not in (".yaml", ".yml")))
    return os.path.join(folder, ranked[0]) if folder else ranked[0]
