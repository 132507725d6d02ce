"""GCRA as a rule (no storage): bursts, refills, exact waits, no double burst at a
window edge."""

from __future__ import annotations

from shared.domain.ratelimits import Rate, decide

FIVE_PER_15_MIN = Rate("test", 5, 900)


def run(rate: Rate, times: list[float]) -> list[bool]:
    tat: float | None = None
    outcomes = []
    for now in times:
        decision = decide(rate, tat, now)
        if decision.allowed:
            tat = decision.tat
        outcomes.append(decision.allowed)
    return outcomes


def test_a_burst_of_the_limit_then_refusals_with_the_exact_wait() -> None:
    assert run(FIVE_PER_15_MIN, [0, 1, 2, 3, 4, 5]) == [True] * 5 + [False]
    tat: float | None = None
    for now in range(5):
        tat = decide(FIVE_PER_15_MIN, tat, now).tat
    refused = decide(FIVE_PER_15_MIN, tat, 5)
    assert refused.retry_after == 175  # the first token comes back at 180 s
    assert decide(FIVE_PER_15_MIN, tat, 180).allowed


def test_one_token_back_per_interval() -> None:
    times = [0.0] * 5 + [179.0, 180.0, 181.0, 360.0]
    assert run(FIVE_PER_15_MIN, times) == [True] * 5 + [False, True, False, True]


def test_no_window_edge_lets_twice_the_limit_through() -> None:
    # A fixed 15-minute window would allow 5 at 899 s and 5 more at 900 s.
    assert run(FIVE_PER_15_MIN, [899.0] * 5 + [900.0] * 5).count(True) == 5


def test_an_idle_key_starts_afresh() -> None:
    tat: float | None = None
    for now in range(5):
        tat = decide(FIVE_PER_15_MIN, tat, now).tat
    assert run(FIVE_PER_15_MIN, [10_000.0] * 6) == [True] * 5 + [False]
