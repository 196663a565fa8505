"""The masker is one linear pass over all secret forms (issue 14 item 4, SPEC §8): adversarial
text — `a://` repeated, `a:` repeated, long words, near-misses of a secret, unterminated
quotes — costs time proportional to its length, never its square."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from vvrun.secrets import MASK, Masker

SECRET = "Zq9-long-secret-value-0123456789"


def _masker() -> Masker:
    masker = Masker([SECRET, "postgres://ops:pg-pass-1@db/app",
                     "https://hooks.example.com/services/T00/B00/xyzxyzxyz"])
    masker.add_env({"API_TOKEN": "tok-abcdef-123"})
    return masker


def _best_of(fn: Callable[[], object], reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


ADVERSARIAL = {
    "scheme separators": "a://",
    "colons": "a:",
    "one long word": "a",
    "userinfo without @": "x://u:",
    "near misses of a secret": SECRET[:-1] + " ",
    "unterminated quotes": "password='",
    "header names": "Authorization: ",
    "bearer words": "Bearer ",
    "words with at signs": "a:b@",
}


@pytest.mark.parametrize("unit", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_text_costs_linear_work(unit: str) -> None:
    masker = _masker()
    # both sizes past the CPU caches, so the ratio measures the algorithm, not the memory
    small = unit * (512_000 // len(unit))  # 60 KB took 49 s with the old URL regex
    large = unit * (4 * 512_000 // len(unit))
    masker.mask("warm up " + SECRET)
    t_small = max(_best_of(lambda: masker.mask(small), reps=5), 1e-3)
    t_large = _best_of(lambda: masker.mask(large), reps=3)
    # linear work: 4× the text ≈ 4× the time; quadratic would be 16× (and the old URL regex
    # took hours at this size). Generous, for a loaded 2-core box.
    assert t_large / t_small < 12, (unit, t_small, t_large)


@pytest.mark.parametrize("unit", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_a_megabyte_of_adversarial_text_is_masked_in_bounded_time(unit: str) -> None:
    masker = _masker()
    text = unit * (1_000_000 // len(unit))
    assert _best_of(lambda: masker.mask(text), reps=1) < 2.0  # ~0.1 s on a 2-core box


def test_secrets_inside_a_megabyte_are_all_masked() -> None:
    masker = _masker()
    filler = "INFO step ran 12 rows in 3 ms a://b c:d " * 25_000
    text = filler + SECRET + filler + "postgres://ops:pg-pass-1@db/app" + filler + "tok-abcdef-123"
    masked = masker.mask(text)
    assert SECRET not in masked and "pg-pass-1" not in masked and "tok-abcdef-123" not in masked
    assert masked.count(MASK) == 3
    assert "postgres://ops:***@db/app" in masked


def test_adding_many_secrets_compiles_once_per_mask() -> None:
    masker = Masker()
    for i in range(2_000):  # a Masker.add used to recompile the whole alternation each time
        masker.add(f"secret-number-{i:05d}")
    assert masker.mask("x secret-number-01999 y secret-number-00000") == f"x {MASK} y {MASK}"


def test_the_longest_secret_wins_over_one_it_contains() -> None:
    masker = Masker(["abcdef", "abcdefghij"])
    assert masker.mask("[abcdefghij]") == f"[{MASK}]"
