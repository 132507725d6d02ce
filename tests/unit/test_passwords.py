"""The cap on concurrent password hashes: every caller is served, never more than the cap
at once, and a caller that cannot get a slot in time gets 503 with Retry-After."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.domain.errors import UpstreamUnavailable
from shared.passwords import PasswordHasher, default_max_concurrent

FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def test_fifty_concurrent_hashes_and_checks_stay_within_the_cap() -> None:
    hasher = PasswordHasher(max_concurrent=3, **FAST_ARGON2)
    stored = hasher.hash("correct horse battery")
    start = threading.Barrier(50)

    def work(index: int) -> bool:
        start.wait()
        if index % 3 == 0:
            return hasher.hash(f"password {index}").startswith("$argon2id$")
        if index % 3 == 1:
            return hasher.verify(stored, "correct horse battery")
        return not hasher.verify(None, "anything")  # the unknown-account dummy check

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(work, range(50)))
    assert all(results)
    assert 1 <= hasher.peak <= 3
    assert hasher.running == 0


class MeetingHasher:
    """Stands in for argon2: each hash waits until ``cap`` hashes are inside at once, so
    the cap is reached for certain (no timing), and counts how many ever were."""

    def __init__(self, cap: int) -> None:
        self.meet = threading.Barrier(cap, timeout=10)
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()

    def hash(self, password: str) -> str:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.meet.wait()
        with self.lock:
            self.inside -= 1
        return "$argon2id$fake"


def test_the_cap_is_filled_and_never_exceeded() -> None:
    hasher = PasswordHasher(max_concurrent=3, **FAST_ARGON2)
    meeting = MeetingHasher(3)
    hasher._hasher = meeting  # type: ignore[assignment]
    with ThreadPoolExecutor(max_workers=30) as pool:
        assert list(pool.map(lambda i: hasher.hash(str(i)), range(30))) == ["$argon2id$fake"] * 30
    assert meeting.most == 3  # a fourth would have waited at the barrier alone: never
    assert hasher.peak == 3


def test_a_caller_that_waits_too_long_for_a_slot_gets_503_with_retry_after() -> None:
    hasher = PasswordHasher(max_concurrent=1, wait_seconds=0.0, **FAST_ARGON2)
    with hasher._slot(), pytest.raises(UpstreamUnavailable) as busy:  # the one slot is taken
        hasher.hash("correct horse battery")
    assert busy.value.status == 503
    assert busy.value.headers["Retry-After"] == "2"
    assert hasher.hash("correct horse battery")  # the slot is free again


def test_the_default_cap_follows_the_cores_within_bounds() -> None:
    assert 1 <= default_max_concurrent() <= 8
    assert default_max_concurrent(memory_cost_kib=2**40) == 1  # memory bounds it too
