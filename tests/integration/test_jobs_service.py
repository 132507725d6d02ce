"""The job system's rules on real Table Storage (Azurite), with a fake clock and the queue
captured in memory so each test sees exactly its own messages."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.clock import FakeClock
from shared.auth import Principal
from shared.container import Container
from shared.domain.errors import Forbidden, NotFound, ValidationFailed
from shared.domain.jobs import (
    JobNotCancellable,
    JobNotEditable,
    JobNotOpen,
    OwnJob,
    ResultNotReady,
)
from shared.ports import Versioned
from shared.services import job_kinds, jobs
from shared.settings import Settings
from tests.support.fakes import MemoryQueue


class QueueCapturingContainer(Container):
    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        super().__init__(settings=settings, clock=clock)
        self.queues: dict[str, MemoryQueue] = {}

    def queue(self, name: str) -> Any:
        return self.queues.setdefault(name, MemoryQueue(name))

    def take(self, name: str = jobs.JOBS_QUEUE) -> list[tuple[str, int | None]]:
        queue = self.queue(name)
        messages = list(queue.messages)
        queue.messages.clear()
        return messages


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.fail_times = 0
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """A test-only kind, ``test.count``, whose runs are counted and can fail or block."""
    state = Calls()

    def run(ports: Any, job: Any, params: Any) -> dict[str, int]:
        if state.gate is not None:
            state.gate.wait(10)
        with state.lock:
            state.count += 1
            if state.fail_times:
                state.fail_times -= 1
                raise RuntimeError("flaky on purpose")
            return {"run": state.count}

    kinds = dict(job_kinds.KINDS)
    kinds["test.count"] = job_kinds.Kind("test.count", job_kinds.Params, run, "counts its runs")
    monkeypatch.setattr(job_kinds, "KINDS", kinds)
    return state


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(make_settings: Callable[..., Settings], clock: FakeClock) -> QueueCapturingContainer:
    settings = make_settings(JOB_MAX_ATTEMPTS="3", JOB_RETRY_BASE_SECONDS="30")
    return QueueCapturingContainer(settings, clock)


def person() -> Principal:
    return Principal(user_id=f"u-{uuid.uuid4().hex[:10]}", email="x@example.com")


def new_job(c: Container, owner: Principal, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "name": "count", "description": "", "kind": "test.count", "params": {},
        "scheduled_time": None,
    }  # fmt: skip
    values.update(fields)
    return c.job_service.create(owner, **values)


def run_queued(c: QueueCapturingContainer) -> list[str]:
    return [c.job_service.process(body) for body, _ in c.take()]


def test_a_job_due_now_is_queued_visible_and_completes(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner)
    ((body, delay),) = c.queue(jobs.JOBS_QUEUE).messages
    assert delay is None
    message = json.loads(body)
    snapshot = message.pop("snapshot")
    assert message == {
        "owner_id": owner.user_id, "job_id": job.id, "dispatch_id": job.dispatch_id,
    }  # fmt: skip
    stored = c.jobs.get(owner.user_id, job.id)
    assert stored is not None
    assert c.jobs.restore(snapshot) == stored  # the row and version as stored
    assert job.id.endswith(f"-{owner.user_id}")  # the id alone finds the row
    assert run_queued(c) == ["completed"]
    done = c.job_service.get(owner, job.id)
    assert done.status == "completed"
    assert done.attempts == 1
    result = c.job_service.result(owner, job.id)
    assert result["output"] == {"run": 1}
    assert result["error_message"] is None


def test_a_job_later_today_waits_invisible_in_the_queue(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    new_job(c, person(), scheduled_time=clock.now() + timedelta(hours=5))
    ((_, delay),) = c.queue(jobs.JOBS_QUEUE).messages
    assert delay == 5 * 3600


def test_a_message_delivered_twice_runs_the_handler_once(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    new_job(c, person())
    ((body, _),) = c.take()
    assert c.job_service.process(body) == "completed"
    assert c.job_service.process(body) == "dropped"
    assert calls.count == 1


class CountingReads:
    """Counts the repository's reads of single jobs (``get``) while a test runs."""

    def __init__(self, c: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = c.jobs.get

        def get(owner_id: str, job_id: str) -> Any:
            self.count += 1
            return original(owner_id, job_id)

        monkeypatch.setattr(c.jobs, "get", get)


def test_a_current_snapshot_starts_the_job_without_reading_it(
    c: QueueCapturingContainer, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = person()
    job = new_job(c, owner)
    ((body, _),) = c.take()
    reads = CountingReads(c, monkeypatch)
    assert c.job_service.process(body) == "completed"
    assert reads.count == 0
    assert c.job_service.get(owner, job.id).status == "completed"
    assert calls.count == 1


def test_a_stale_snapshot_is_refused_and_the_stored_job_decides(
    c: QueueCapturingContainer, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = person()
    job = new_job(c, owner)
    ((body, _),) = c.take()
    c.job_service.edit(owner, job.id, {"name": "renamed"})  # same dispatch, new version
    reads = CountingReads(c, monkeypatch)
    assert c.job_service.process(body) == "completed"  # refused write, one read, then started
    assert reads.count == 1
    done = c.job_service.get(owner, job.id)
    assert (done.name, done.status, calls.count) == ("renamed", "completed", 1)


def test_messages_without_a_usable_snapshot_read_the_job(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    owner = person()
    first, second = new_job(c, owner), new_job(c, owner)
    (body_one, _), (body_two, _) = c.take()
    plain = json.loads(body_one)
    del plain["snapshot"]  # as a large job's message, or one sent before snapshots
    garbled = json.loads(body_two)
    garbled["snapshot"] = {"etag": 'W/"x"', "data": "{not json"}
    for odd in ("[]", "{}", '{"id": 1}', 5, None):  # never a job, never an error
        assert c.jobs.restore({"etag": 'W/"x"', "data": odd}) is None
    assert c.jobs.restore("not a dict") is None
    third = new_job(c, owner)
    ((body_three, _),) = c.take()
    foreign = json.loads(body_three)
    other = json.loads(body_two)  # a message naming the third job with the second's state
    foreign.update(snapshot=other["snapshot"], dispatch_id=other["dispatch_id"])
    assert c.job_service.process(json.dumps(foreign)) == "dropped"  # not the third's dispatch
    assert c.job_service.get(owner, second.id).status == "pending"  # and the second not started
    assert c.job_service.process(body_three) == "completed"
    assert c.job_service.process(json.dumps(plain)) == "completed"
    assert c.job_service.process(json.dumps(garbled)) == "completed"
    assert [c.job_service.get(owner, j.id).status for j in (first, second, third)] == [
        "completed"
    ] * 3
    assert calls.count == 3


def test_a_large_job_travels_without_a_snapshot(c: QueueCapturingContainer, calls: Calls) -> None:
    owner = person()
    job = new_job(c, owner, description="d" * 2000)
    stored = c.jobs.get(owner.user_id, job.id)
    assert stored is not None
    assert c.jobs.snapshot(stored) is not None
    big = replace(stored.value, params={"texts": ["x" * 5000] * 4})
    assert c.jobs.snapshot(Versioned(big, stored.etag)) is None


def test_a_foreign_or_malformed_job_id_finds_nothing(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    owner, other = person(), person()
    job = new_job(c, owner)
    forged = job.id.replace(owner.user_id, other.user_id)
    for job_id in (forged, "nope", job.id + "/x", "' or 1 eq 1", job.id.split("-")[0]):
        with pytest.raises(NotFound):
            c.job_service.get(owner, job_id)


def test_a_cancelled_job_never_runs(c: QueueCapturingContainer, calls: Calls) -> None:
    owner = person()
    job = new_job(c, owner)
    assert c.job_service.cancel(owner, job.id).status == "cancelled"
    assert run_queued(c) == ["dropped"]
    assert calls.count == 0
    with pytest.raises(JobNotCancellable):
        c.job_service.cancel(owner, job.id)
    with pytest.raises(JobNotEditable):
        c.job_service.edit(owner, job.id, {"name": "too late"})


def test_retry_then_success(c: QueueCapturingContainer, clock: FakeClock, calls: Calls) -> None:
    owner = person()
    job = new_job(c, owner)
    calls.fail_times = 1
    assert run_queued(c) == ["retry"]
    retrying = c.job_service.get(owner, job.id)
    assert retrying.status == "pending"
    assert retrying.attempts == 1
    assert retrying.last_error == "the job's handler failed (RuntimeError)"
    ((_body, delay),) = c.queue(jobs.JOBS_QUEUE).messages
    assert delay is not None
    assert 15 <= delay <= 30  # base 30 s * [0.5, 1)
    with pytest.raises(ResultNotReady):
        c.job_service.result(owner, job.id)
    clock.advance(delay)
    assert run_queued(c) == ["completed"]
    assert c.job_service.get(owner, job.id).attempts == 2


def test_retries_exhausted_fail_the_job_with_last_error(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner)
    calls.fail_times = 99
    outcomes = []
    delays = []
    for _ in range(3):
        for body, delay in c.take():
            delays.append(delay)
            clock.advance(delay or 0)
            outcomes.append(c.job_service.process(body))
    assert outcomes == ["retry", "retry", "failed"]
    assert delays[1] is not None and delays[2] is not None
    assert delays[2] > delays[1] * 1.0  # backoff grows (60 s * jitter vs 30 s * jitter)
    failed = c.job_service.get(owner, job.id)
    assert failed.status == "failed"
    assert failed.attempts == 3
    assert failed.last_error == "the job's handler failed (RuntimeError)"
    result = c.job_service.result(owner, job.id)
    assert result["output"] is None
    assert result["error_message"] == failed.last_error  # the details stay in the log
    assert c.take() == []


def test_an_early_message_is_put_back(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner, scheduled_time=clock.now() + timedelta(minutes=10))
    ((body, _),) = c.take()
    assert c.job_service.process(body) == "rescheduled"
    assert calls.count == 0
    ((again, delay),) = c.take()
    assert json.loads(again)["dispatch_id"] == job.dispatch_id
    assert delay == 600


def test_editing_the_time_voids_the_old_message(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner, scheduled_time=clock.now() + timedelta(minutes=10))
    ((old, _),) = c.take()
    edited = c.job_service.edit(
        owner, job.id, {"scheduled_time": clock.now() + timedelta(minutes=1)}
    )
    ((new, delay),) = c.take()
    assert delay == 60
    clock.advance(minutes=10)
    assert c.job_service.process(old) == "dropped"
    assert c.job_service.process(new) == "completed"
    assert calls.count == 1
    assert edited.dispatch_id != job.dispatch_id


def test_far_future_jobs_wait_in_the_due_index_until_swept(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner, scheduled_time=clock.now() + timedelta(days=10))
    assert c.take() == []
    clock.advance(days=2)
    c.job_service.enqueue_due()
    assert c.take() == []  # still more than 7 days ahead
    clock.advance(days=2)
    c.job_service.enqueue_due()
    ((body, delay),) = c.take()
    assert json.loads(body)["job_id"] == job.id
    assert delay is not None and 5 * 86400 < delay <= 6 * 86400
    c.job_service.enqueue_due()
    assert c.take() == []  # swept once


def test_a_dead_workers_lease_expires_and_the_job_completes_once(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    job = new_job(c, owner)
    ((body, _),) = c.take()
    # A worker took the job and died: in-progress with a lease, no result, and its
    # message never deleted, so the queue delivers it again.
    found = c.jobs.find(job.id)
    assert found is not None
    running = found.value.started(clock.now(), timedelta(seconds=150))
    etag = c.jobs.save(running, found)
    assert c.job_service.process(body) == "busy"  # the lease still holds: put back until it ends
    ((again, delay),) = c.take()
    sent = json.loads(body)
    del sent["snapshot"]  # put back without one: the job it describes is no longer pending
    assert json.loads(again) == sent
    assert delay is not None and 150 <= delay <= 152
    clock.advance(151)
    assert c.job_service.process(again) == "completed"
    assert calls.count == 1
    done = c.job_service.get(owner, job.id)
    assert done.status == "completed"
    assert done.attempts == 2  # the dead attempt counted
    # The dead worker, had it woken up, could not complete it a second time.
    assert c.job_service._finish(Versioned(running, etag), {"late": True}, None) == "lost-race"
    assert c.job_service.process(body) == "dropped"


def test_cancel_racing_start_has_exactly_one_winner(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    for _ in range(5):
        owner = person()
        job = new_job(c, owner)
        ((body, _),) = c.take()
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def start(
            body: str = body, barrier: threading.Barrier = barrier, results: dict = results
        ) -> None:
            barrier.wait()
            results["start"] = c.job_service.process(body)

        def cancel(
            job_id: str = job.id, owner: Principal = owner,
            barrier: threading.Barrier = barrier, results: dict = results,
        ) -> None:  # fmt: skip
            barrier.wait()
            try:
                results["cancel"] = c.job_service.cancel(owner, job_id).status
            except JobNotCancellable:
                results["cancel"] = "409"

        threads = [threading.Thread(target=start), threading.Thread(target=cancel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = c.job_service.get(owner, job.id).status
        if results["cancel"] == "cancelled":
            assert results["start"] in ("lost-race", "dropped")
            assert final == "cancelled"
        else:
            assert results["cancel"] == "409"
            assert results["start"] == "completed"
            assert final == "completed"
        c.take()


def test_lists_filters_sorts_pages_and_summary(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner = person()
    created = []
    for index in range(5):
        created.append(
            new_job(c, owner, name=f"job {index}",
                    scheduled_time=clock.now() + timedelta(hours=5 - index))
        )  # fmt: skip
        clock.advance(1)
    c.job_service.cancel(owner, created[0].id)
    ids = [j.id for j in created]

    def listing(**query: Any) -> list[str]:
        items, _ = c.jobs.list_own(owner.user_id, status=query.get("status"),
                                   kind=query.get("kind"), sort=query.get("sort", "-created_at"),
                                   limit=100, cursor=None)  # fmt: skip
        return [j.id for j in items]

    assert listing() == ids[::-1]
    assert listing(sort="created_at") == ids
    assert listing(sort="scheduled_time") == ids[::-1]
    assert listing(sort="-scheduled_time") == ids
    assert listing(status="cancelled") == [ids[0]]
    assert listing(status="pending") == ids[1:][::-1]
    assert listing(kind="history.export") == []
    first, cursor = c.jobs.list_own(owner.user_id, status=None, kind=None, sort="created_at",
                                    limit=2, cursor=None)  # fmt: skip
    second, cursor2 = c.jobs.list_own(owner.user_id, status=None, kind=None, sort="created_at",
                                      limit=2, cursor=cursor)  # fmt: skip
    third, cursor3 = c.jobs.list_own(owner.user_id, status=None, kind=None, sort="created_at",
                                     limit=2, cursor=cursor2)  # fmt: skip
    assert [j.id for j in first + second + third] == ids
    assert cursor3 is None
    with pytest.raises(ValidationFailed):
        c.jobs.list_own(owner.user_id, status=None, kind=None, sort="scheduled_time",
                        limit=2, cursor=cursor)  # a cursor of another sort  # fmt: skip
    summary = c.job_service.summary(person())
    assert summary["total"] == 0
    summary = c.job_service.summary(owner)
    assert summary == {"pending": 4, "in-progress": 0, "completed": 0, "failed": 0,
                       "cancelled": 1, "total": 5}  # fmt: skip


def test_validation_of_new_jobs(c: QueueCapturingContainer, clock: FakeClock) -> None:
    owner = person()
    with pytest.raises(ValidationFailed) as past:
        new_job(c, owner, kind="history.export", scheduled_time=clock.now() - timedelta(hours=1))
    assert past.value.errors[0].field == "scheduled_time"
    with pytest.raises(ValidationFailed) as unknown:
        new_job(c, owner, kind="no.such.kind")
    assert unknown.value.errors[0].field == "kind"
    with pytest.raises(ValidationFailed) as bad:
        new_job(c, owner, kind="text.sentiment", params={"texts": []})
    assert bad.value.errors[0].field == "params.texts"
    with pytest.raises(ValidationFailed) as extra:
        new_job(c, owner, kind="weather.report", params={"cities": ["Paris"], "x": 1})
    assert extra.value.errors[0].field == "params.x"
    # a little clock skew is tolerated
    job = new_job(
        c, owner, kind="history.export", scheduled_time=clock.now() - timedelta(seconds=5)
    )
    assert job.scheduled_time == clock.now()


def bid_input(**changes: Any) -> jobs.BidInput:
    values = {"comment": "Reliable and fast, great track record", "proposed_deadline":
              date(2026, 2, 1), "fee_amount": Decimal("120.50"), "fee_currency": "EUR"}  # fmt: skip
    values.update(changes)
    return jobs.BidInput(**values)


def test_bids_and_concurrent_accepts(
    c: QueueCapturingContainer, clock: FakeClock, calls: Calls
) -> None:
    owner, alice, bob, eve = person(), person(), person(), person()
    job = new_job(c, owner)
    with pytest.raises(OwnJob):
        c.job_service.place_bid(owner, job.id, bid_input())
    with pytest.raises(ValidationFailed):
        c.job_service.place_bid(alice, job.id, bid_input(proposed_deadline=date(2025, 1, 1)))
    a = c.job_service.place_bid(alice, job.id, bid_input())
    clock.advance(1)
    b = c.job_service.place_bid(bob, job.id, bid_input(comment="Late and bad, but cheap"))
    assert [x.id for x in c.job_service.list_bids(owner, job.id)[0]] == [a.id, b.id]
    assert [x.id for x in c.job_service.list_bids(alice, job.id)[0]] == [a.id]
    assert c.job_service.list_bids(eve, job.id)[0] == []  # open job: visible, no bids of hers

    open_ids = [j.id for j in c.jobs.list_open(eve.user_id, 100, None)[0]]
    assert job.id in open_ids
    assert job.id not in [j.id for j in c.jobs.list_open(owner.user_id, 100, None)[0]]

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(bid_id: str) -> None:
        barrier.wait()
        try:
            c.job_service.accept_bid(owner, job.id, bid_id)
            outcomes.append("accepted")
        except JobNotOpen:
            outcomes.append("409")

    threads = [threading.Thread(target=accept, args=(x.id,)) for x in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409", "accepted"]
    assigned = c.job_service.get(owner, job.id)
    assert assigned.assignee_id in (alice.user_id, bob.user_id)
    statuses = {x.bidder_id: x.status for x in c.job_service.list_bids(owner, job.id)[0]}
    winner = assigned.assignee_id
    assert statuses[winner] == "accepted"
    assert sorted(statuses.values()) == ["accepted", "rejected"]
    winner_principal = alice if winner == alice.user_id else bob
    assert [j.id for j in c.jobs.list_assigned(winner, 100, None)[0]] == [job.id]
    assert c.job_service.get(winner_principal, job.id).id == job.id
    with pytest.raises(NotFound):
        c.job_service.get(eve, job.id)  # no longer open: eve may not see it
    with pytest.raises(JobNotOpen):
        c.job_service.place_bid(eve, job.id, bid_input())
    assert job.id not in [j.id for j in c.jobs.list_open(eve.user_id, 100, None)[0]]
    with pytest.raises(Forbidden):
        c.job_service.cancel(winner_principal, job.id)


def test_bid_sentiment_is_scored_in_the_background(c: QueueCapturingContainer) -> None:
    owner, alice = person(), person()
    job = new_job(c, owner, kind="history.export")
    bid = c.job_service.place_bid(alice, job.id, bid_input())
    assert bid.sentiment is None
    assert len(c.take(jobs.SENTIMENT_QUEUE)) == 1
    assert c.job_service.score_pending_sentiment(everything=True) >= 1
    (scored,) = c.job_service.list_bids(owner, job.id)[0]
    assert scored.sentiment is not None
    assert scored.sentiment["label"] == "positive"
    assert c.job_service.score_pending_sentiment(everything=True) == 0  # nothing left pending


def test_only_the_owner_changes_and_strangers_see_nothing(
    c: QueueCapturingContainer, calls: Calls
) -> None:
    owner, other = person(), person()
    job = new_job(c, owner)
    assert c.job_service.get(other, job.id).id == job.id  # open for bids
    with pytest.raises(Forbidden):
        c.job_service.edit(other, job.id, {"name": "mine now"})
    run_queued(c)  # completed: no longer open
    with pytest.raises(NotFound):
        c.job_service.get(other, job.id)
    with pytest.raises(NotFound):
        c.job_service.result(other, job.id)
    with pytest.raises(NotFound):
        c.job_service.get(other, "no-such-job")
    assert replace(c.job_service.get(owner, job.id)).status == "completed"
