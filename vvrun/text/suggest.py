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
