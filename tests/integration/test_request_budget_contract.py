"""One contract, two implementations of the RequestBudget port: the in-memory fake and the
Table Storage adapter (on Azurite). Limits hold across instances (threads on one table)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_budget import MemoryRequestBudget
from shared.adapters.table_budget import TableRequestBudget
from shared.container import Container
from shared.domain.upstream_budget import BudgetState, decide_claim
from shared.ports import RequestBudget

LIMIT = 10


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "table"])
def budgets(
    request: pytest.FixtureRequest, make_container: Callable[..., Container], clock: FakeClock
) -> Callable[[], RequestBudget]:
    """Builds budgets that share one store: two of them are two instances of the app."""
    if request.param == "memory":
        shared = MemoryRequestBudget(clock, LIMIT, 60.0, margin_seconds=2.0)
        return lambda: shared
    table = make_container().table("upstreambudget")
    return lambda: TableRequestBudget(table, clock, LIMIT, 60.0, margin_seconds=2.0)


def key() -> str:
    return f"weather:test-{uuid.uuid4().hex[:12]}"


def test_the_limit_at_once_then_the_wait_until_the_first_leaves_the_window(
    budgets: Callable[[], RequestBudget], clock: FakeClock
) -> None:
    budget, k = budgets(), key()
    assert [budget.claim(k) for _ in range(LIMIT)] == [0.0] * LIMIT
    assert budget.claim(k) == pytest.approx(62.0, abs=0.01)  # 60 s and the 2 s margin
    clock.advance(30)
    assert budget.claim(k) == pytest.approx(32.0, abs=0.01)  # refusals take nothing
    clock.advance(32.01)  # all ten claims left the window together
    assert [budget.claim(k) for _ in range(LIMIT)] == [0.0] * LIMIT
    assert budget.claim(k) == pytest.approx(62.0, abs=0.01)


def test_claims_spread_out_never_exceed_the_limit_in_any_window(
    budgets: Callable[[], RequestBudget], clock: FakeClock
) -> None:
    budget, k = budgets(), key()
    taken: list[float] = []
    for _ in range(400):  # 200 s in steps of 0.5 s
        if budget.claim(k) == 0.0:
            taken.append(clock.now().timestamp())
        clock.advance(0.5)
    for start in taken:
        assert sum(1 for t in taken if start <= t < start + 62.0) <= LIMIT
    assert len(taken) >= 3 * LIMIT  # and the budget is used: ~LIMIT per 62 s


def test_keys_are_separate(budgets: Callable[[], RequestBudget]) -> None:
    budget, a, b = budgets(), key(), key()
    for _ in range(LIMIT):
        budget.claim(a)
    assert budget.claim(a) > 0
    assert budget.claim(b) == 0.0


def test_a_block_refuses_everything_until_it_ends(
    budgets: Callable[[], RequestBudget], clock: FakeClock
) -> None:
    first, second, k = budgets(), budgets(), key()
    assert first.claim(k) == 0.0
    first.block(k, 30)
    assert second.claim(k) == pytest.approx(30.0)  # another instance sees the block
    first.block(k, 10)  # a shorter block does not shorten it
    clock.advance(29)
    assert second.claim(k) == pytest.approx(1.0)
    clock.advance(1)
    assert second.claim(k) == 0.0


def test_instances_on_threads_take_exactly_the_limit_together(
    budgets: Callable[[], RequestBudget],
) -> None:
    k = key()
    instances = [budgets() for _ in range(4)]
    barrier = threading.Barrier(4)

    def claim_many(budget: RequestBudget) -> int:
        barrier.wait()
        return sum(1 for _ in range(3 * LIMIT) if budget.claim(k) == 0.0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        taken = sum(pool.map(claim_many, instances))
    assert taken == LIMIT


def test_a_claim_confirmed_later_than_the_margin_is_not_handed_out(
    make_container: Callable[..., Container], clock: FakeClock
) -> None:
    """The write came back 3 s after the claim's time (a slow storage call): that claim
    stays counted, and a new one is taken, so the request leaves within the margin."""
    table = make_container().table("upstreambudget")

    class SlowTable:
        def __init__(self) -> None:
            self.writes = 0

        def __getattr__(self, name: str) -> object:
            attribute = getattr(table, name)
            if name in ("create_entity", "update_entity"):

                def write(*args: object, **kwargs: object) -> object:
                    self.writes += 1
                    result = attribute(*args, **kwargs)
                    if self.writes == 1:
                        clock.advance(3)
                    return result

                return write
            return attribute

    slow = SlowTable()
    budget = TableRequestBudget(slow, clock, LIMIT, 60.0, margin_seconds=2.0)  # type: ignore[arg-type]
    k = key()
    assert budget.claim(k) == 0.0
    assert slow.writes == 2
    for _ in range(LIMIT - 2):
        assert budget.claim(k) == 0.0
    assert budget.claim(k) > 0  # the dropped claim counted


def test_the_rule_orders_claims_even_when_a_clock_runs_behind() -> None:
    state = BudgetState((100.0, 105.0))
    decision = decide_claim(state, 103.0, limit=5, window=62.0)
    assert decision.allowed
    assert decision.state.claims == (100.0, 105.0, 105.0)
