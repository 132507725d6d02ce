"""The pure rules: what counts as a change of weather, and the budget's window arithmetic."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.subscriptions import CITY_ID, fingerprint, plan_limit
from shared.domain.upstream_budget import BudgetState, block, decide_claim
from shared.domain.weather import Observation

BASE = Observation(12.34, 11.0, 70, 1013.2, 3.21, 40, 20, "partly cloudy",
                   datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "metric")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ({"observed_at": BASE.observed_at + timedelta(minutes=15)}, False),  # time alone
        ({"temperature": 12.31}, False),  # the same to 0.1
        ({"temperature": 12.4}, True),
        ({"feels_like": 11.2}, True),
        ({"humidity": 71}, True),
        ({"pressure": 1013.4}, False),  # the same to 1 hPa
        ({"pressure": 1014.0}, True),
        ({"wind_speed": 3.3}, True),
        ({"clouds": 41}, True),
        ({"precipitation_probability": None}, True),
        ({"conditions": "overcast"}, True),
        ({"units": "imperial"}, True),
    ],
)
def test_what_subscribers_see_decides_a_change(change: dict[str, object], changed: bool) -> None:
    assert (fingerprint(replace(BASE, **change)) != fingerprint(BASE)) is changed  # type: ignore[arg-type]


def test_plans_and_city_ids() -> None:
    assert (plan_limit("basic", 3, 15), plan_limit("premium", 3, 15)) == (3, 15)
    for good in ("2950159", "1", "ow:48.8566,2.3522", "ow:-33.8688,-151.2093"):
        assert CITY_ID.fullmatch(good)
    for bad in ("", "Berlin", "ow:48.85,2.35", "2950159\n", "12/3", "ow:48.8566;2.3522"):
        assert not CITY_ID.fullmatch(bad)


def test_random_claims_never_put_more_than_the_limit_in_any_window() -> None:
    rng = random.Random(7)
    state, now, taken = BudgetState(), 1_000.0, []
    for _ in range(3000):
        now += rng.expovariate(2.0)  # about two attempts a second
        decision = decide_claim(state, now, limit=60, window=62.0)
        if decision.allowed:
            state = decision.state
            taken.append(now)
        else:
            assert decision.wait > 0
            assert decide_claim(state, now + decision.wait, 60, 62.0).allowed
    assert max(sum(1 for t in taken if s <= t < s + 62.0) for s in taken) == 60
    assert len(taken) >= 60 * int((now - 1_000.0) // 62.0)  # and the budget gets used


def test_a_block_holds_claims_until_it_ends() -> None:
    state = block(BudgetState(), 100.0)
    assert decide_claim(state, 40.0, 60, 62.0).wait == pytest.approx(60.0)
    assert decide_claim(state, 100.0, 60, 62.0).allowed
    assert block(state, 50.0).blocked_until == 100.0
