"""One contract, two implementations of the RateLimiter port: the in-memory fake and the
Table Storage adapter (on Azurite); plus what only the Table adapter promises: its cost in
storage calls, and limits that hold across instances."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_ratelimits import MemoryRateLimiter
from shared.adapters.table_ratelimits import TableRateLimiter
from shared.container import Container
from shared.domain.ratelimits import Rate
from shared.ports import RateLimiter

FIVE_PER_15_MIN = Rate("contract", 5, 900)


class CountingTable:
    """A TableClient that counts the calls made through it."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._table, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return call


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "table"])
def limiters(
    request: pytest.FixtureRequest, make_container: Callable[..., Container], clock: FakeClock
) -> Callable[[], RateLimiter]:
    """Builds limiters that share one store: two of them are two instances of the app."""
    if request.param == "memory":
        shared = MemoryRateLimiter(clock)
        return lambda: shared
    table = make_container().table("ratelimits")
    return lambda: TableRateLimiter(table, clock)


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def test_a_burst_of_the_limit_then_the_exact_wait(
    limiters: Callable[[], RateLimiter], clock: FakeClock
) -> None:
    limiter, k = limiters(), key()
    assert [limiter.hit(FIVE_PER_15_MIN, k) for _ in range(5)] == [0.0] * 5
    assert limiter.hit(FIVE_PER_15_MIN, k) == pytest.approx(180.0)
    assert limiter.peek(FIVE_PER_15_MIN, k) == pytest.approx(180.0)
    clock.advance(179)
    assert limiter.hit(FIVE_PER_15_MIN, k) == pytest.approx(1.0)  # refusals do not count
    clock.advance(1)
    assert limiter.hit(FIVE_PER_15_MIN, k) == 0.0
    assert limiter.hit(FIVE_PER_15_MIN, k) > 0


def test_peek_counts_nothing(limiters: Callable[[], RateLimiter]) -> None:
    limiter, k = limiters(), key()
    for _ in range(10):
        assert limiter.peek(FIVE_PER_15_MIN, k) == 0.0
    assert [limiter.hit(FIVE_PER_15_MIN, k) for _ in range(5)] == [0.0] * 5


def test_keys_and_rates_are_counted_apart(limiters: Callable[[], RateLimiter]) -> None:
    limiter, k = limiters(), key()
    other_rate = Rate("contract-other", 5, 900)
    for _ in range(5):
        limiter.hit(FIVE_PER_15_MIN, k)
    assert limiter.hit(FIVE_PER_15_MIN, k) > 0
    assert limiter.hit(FIVE_PER_15_MIN, key()) == 0.0
    assert limiter.hit(other_rate, k) == 0.0


@pytest.mark.parametrize(
    "odd", ["a/b@example.com", "a#b?c\\d", "\x00\x1f\x7f\x9f", "é" * 300, "", "x" * 5000]
)
def test_any_key_is_fine(limiters: Callable[[], RateLimiter], odd: str) -> None:
    limiter = limiters()
    suffix = uuid.uuid4().hex
    assert limiter.hit(FIVE_PER_15_MIN, odd + suffix) == 0.0
    assert limiter.peek(FIVE_PER_15_MIN, odd + suffix) == 0.0


def test_concurrent_hits_from_two_instances_allow_exactly_the_limit(
    limiters: Callable[[], RateLimiter],
) -> None:
    instances, k = [limiters(), limiters()], key()
    rate = Rate("contract-race", 6, 3600)
    allowed: list[bool] = []
    start = threading.Barrier(12)

    def attempt(index: int) -> None:
        start.wait()
        allowed.append(instances[index % 2].hit(rate, k) == 0.0)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) <= 6
    # Lost races are retried (each loss is another caller's success): all 6 tokens go.
    assert allowed.count(True) == 6


# -- the Table adapter only: what it costs -----------------------------------------------


@pytest.fixture
def counted(make_container: Callable[..., Container], clock: FakeClock) -> tuple[Any, Any]:
    table = CountingTable(make_container().table("ratelimits"))
    return TableRateLimiter(table, clock), table  # type: ignore[arg-type]


def test_a_key_this_instance_knows_costs_one_call(counted: tuple[Any, Any]) -> None:
    limiter, table = counted
    k = key()
    limiter.hit(FIVE_PER_15_MIN, k)
    assert table.calls == ["get_entity", "create_entity"]  # new to this instance: read
    table.calls.clear()
    for _ in range(4):
        limiter.hit(FIVE_PER_15_MIN, k)
    assert table.calls == ["update_entity"] * 4  # one conditional write each


def test_a_refusal_the_instance_can_prove_costs_no_call(counted: tuple[Any, Any]) -> None:
    limiter, table = counted
    k = key()
    for _ in range(5):
        limiter.hit(FIVE_PER_15_MIN, k)
    table.calls.clear()
    for _ in range(100):
        assert limiter.hit(FIVE_PER_15_MIN, k) > 0
        assert limiter.peek(FIVE_PER_15_MIN, k) > 0
    assert table.calls == []


def test_what_another_instance_counted_is_seen(
    make_container: Callable[..., Container], clock: FakeClock
) -> None:
    table = make_container().table("ratelimits")
    first, second = TableRateLimiter(table, clock), TableRateLimiter(table, clock)
    k = key()
    first.hit(FIVE_PER_15_MIN, k)
    for _ in range(4):
        second.hit(FIVE_PER_15_MIN, k)
    # ``first`` remembers one hit and an old ETag: its write is refused and it reads.
    assert first.hit(FIVE_PER_15_MIN, k) > 0
    assert second.hit(FIVE_PER_15_MIN, k) > 0


def _rows_of(limiter: RateLimiter, rate: Rate) -> int:
    """How many stored counts ``rate`` has (a range of PartitionKeys: ``{rate name}:``)."""
    if isinstance(limiter, MemoryRateLimiter):
        return sum(1 for name, _ in limiter._tats if name == rate.name)
    assert isinstance(limiter, TableRateLimiter)
    rows = limiter._table.query_entities(
        "PartitionKey ge @low and PartitionKey lt @high",
        parameters={"low": f"{rate.name}:", "high": f"{rate.name};"},
    )
    return sum(1 for _ in rows)


def test_item5_purge_keeps_the_counts_bounded(
    limiters: Callable[[], RateLimiter], clock: FakeClock
) -> None:
    """Issue 18, item 5: every client address leaves a count. 200 addresses make 200 rows;
    once their rate's period has passed, the purge deletes them, except a key hit again
    meanwhile (live: its count still matters), and a purged key counts afresh. (Other
    tests share the table: the rows of this test's own rate are counted.)"""
    limiter = limiters()
    rate = Rate(f"purge{uuid.uuid4().hex[:8]}", 5, 900)
    addresses = [f"203.0.{i // 250}.{i % 250}" for i in range(200)]
    for address in addresses:
        assert limiter.hit(rate, address) == 0
    assert _rows_of(limiter, rate) == 200
    limiter.purge_expired()
    assert _rows_of(limiter, rate) == 200  # all live
    clock.advance(seconds=899)
    assert limiter.hit(rate, addresses[0]) == 0  # live again, for 15 min more
    clock.advance(seconds=2)
    assert limiter.purge_expired() >= 199
    assert _rows_of(limiter, rate) == 1
    for _ in range(5):  # a purged key starts with its full burst, as if never seen
        assert limiter.hit(rate, addresses[7]) == 0
    assert limiter.hit(rate, addresses[7]) > 0
    # The live key kept its count: one of five taken (the first had run out).
    for _ in range(4):
        assert limiter.hit(rate, addresses[0]) == 0
    assert limiter.hit(rate, addresses[0]) > 0
