"""job.updated and bid.updated from the job system on real Table Storage (Azurite), to the
in-memory publisher: who gets what, that each event follows the stored change, and that a
failing publisher fails nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_realtime import MemoryRealtimePublisher
from shared.auth import Principal
from shared.services import jobs
from shared.settings import Settings
from tests.integration.test_jobs_service import Calls, QueueCapturingContainer, calls, run_queued

__all__ = ["calls"]  # the fixture, used by name


class CheckingPublisher(MemoryRealtimePublisher):
    """Records what the store held when each job event was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.read: Callable[[str, str], Any] | None = None
        self.stored_at_send: list[tuple[str, str]] = []

    def send_to_user(self, user_id: str, message: dict[str, Any]) -> None:
        if message["event"] == "job.updated" and self.read is not None:
            job = message["job"]
            stored = self.read(job["owner_id"], job["id"])
            self.stored_at_send.append((job["status"], stored.value.status))
        super().send_to_user(user_id, message)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def realtime() -> CheckingPublisher:
    return CheckingPublisher()


@pytest.fixture
def c(
    make_settings: Callable[..., Settings], clock: FakeClock, realtime: CheckingPublisher
) -> QueueCapturingContainer:
    settings = make_settings(
        JOB_RETRY_BASE_SECONDS="30",
        WEBPUBSUB_CONNECTION_STRING="Endpoint=http://127.0.0.1:9;AccessKey=unused;Version=1.0;",
    )
    container = QueueCapturingContainer(settings, clock)
    container.__dict__["realtime"] = realtime  # the cached property, before the service
    realtime.read = container.jobs.get
    return container


def person() -> Principal:
    return Principal(user_id=f"u-{uuid.uuid4().hex[:10]}", email="x@example.com")


def events(realtime: MemoryRealtimePublisher, user: Principal) -> list[tuple[str, str]]:
    out = []
    for call in realtime.calls:
        if call[0] == "send_to_user" and call[1] == user.user_id:
            body = call[2].get("job") or call[2]["bid"]
            out.append((call[2]["event"], body["status"]))
    return out


def new_job(c: QueueCapturingContainer, owner: Principal, **fields: Any) -> Any:
    values: dict[str, Any] = {"name": "count", "description": "", "kind": "test.count",
                              "params": {}, "scheduled_time": None}  # fmt: skip
    values.update(fields)
    return c.job_service.create(owner, **values)


def bid(c: QueueCapturingContainer, bidder: Principal, job_id: str, clock: FakeClock) -> Any:
    return c.job_service.place_bid(bidder, job_id, jobs.BidInput(
        "Happy to help, quick and careful", clock.now().date() + timedelta(days=3),
        Decimal("10"), "EUR"))  # fmt: skip


def test_a_retried_job_tells_its_owner_each_status_after_storing_it(
    c: QueueCapturingContainer, realtime: CheckingPublisher, calls: Calls, clock: FakeClock
) -> None:
    owner = person()
    calls.fail_times = 1
    job = new_job(c, owner)
    assert run_queued(c) == ["retry"]
    clock.advance(seconds=60)
    assert run_queued(c) == ["completed"]
    assert events(realtime, owner) == [
        ("job.updated", "pending"), ("job.updated", "in-progress"), ("job.updated", "pending"),
        ("job.updated", "in-progress"), ("job.updated", "completed"),
    ]  # fmt: skip
    assert all(sent == stored for sent, stored in realtime.stored_at_send)
    retried = [call[2]["job"] for call in realtime.calls if call[0] == "send_to_user"][2]
    assert retried["last_error"] and retried["id"] == job.id
    assert retried["scheduled_time"].endswith("Z")  # JSON values, as the API answers


def test_bids_reach_the_owner_then_each_bidder_its_verdict_and_the_assignee_the_job(
    c: QueueCapturingContainer, realtime: CheckingPublisher, calls: Calls, clock: FakeClock
) -> None:
    owner, winner, loser = person(), person(), person()
    job = new_job(c, owner, scheduled_time=clock.now() + timedelta(hours=2))
    good, poor = bid(c, winner, job.id, clock), bid(c, loser, job.id, clock)
    c.job_service.score_pending_sentiment(everything=True)
    c.job_service.accept_bid(owner, job.id, good.id)
    assert events(realtime, loser) == []  # not inside the request: through the queue
    for body, _ in c.take(jobs.SENTIMENT_QUEUE):
        c.job_service.handle_bid_message(body)
    c.job_service.cancel(owner, job.id)
    assert events(realtime, owner) == [
        ("job.updated", "pending"), ("bid.updated", "open"), ("bid.updated", "open"),
        ("bid.updated", "open"), ("bid.updated", "open"),  # the two scores
        ("job.updated", "pending"), ("job.updated", "cancelled"),
    ]  # fmt: skip
    to_owner = [call[2] for call in realtime.calls
                if call[0] == "send_to_user" and call[1] == owner.user_id]  # fmt: skip
    scored = [message["bid"] for message in to_owner[3:5]]
    assert {b["id"] for b in scored} == {good.id, poor.id}
    assert all(b["sentiment"]["label"] for b in scored)
    assert events(realtime, winner) == [
        ("job.updated", "pending"),
        ("bid.updated", "accepted"),
        ("job.updated", "cancelled"),
    ]
    assert events(realtime, loser) == [("bid.updated", "rejected")]
    assert not realtime.sent_to_group()


def test_a_failing_publisher_fails_no_transition(
    c: QueueCapturingContainer, realtime: CheckingPublisher, calls: Calls, clock: FakeClock
) -> None:
    realtime.fail = True
    owner, bidder = person(), person()
    job = new_job(c, owner)
    placed = bid(c, bidder, job.id, clock)
    c.job_service.score_pending_sentiment(everything=True)
    assert c.job_service.accept_bid(owner, job.id, placed.id).assignee_id == bidder.user_id
    assert run_queued(c) == ["completed"]
    assert c.job_service.get(owner, job.id).status == "completed"
    assert realtime.calls == []
    later = new_job(c, owner, scheduled_time=clock.now() + timedelta(hours=1))
    assert c.job_service.cancel(owner, later.id).status == "cancelled"


def test_a_score_that_lands_after_the_accept_shows_the_bid_as_settled(
    c: QueueCapturingContainer, realtime: CheckingPublisher, calls: Calls, clock: FakeClock
) -> None:
    """The owner accepts before the comments are scored: the score's bid.updated carries
    the bid as GET /bids reads it (the other bid ``rejected``, the accepted one
    ``accepted``), not the ``open`` the other bid keeps in storage."""
    owner, winner, loser = person(), person(), person()
    job = new_job(c, owner, scheduled_time=clock.now() + timedelta(hours=2))
    good, poor = bid(c, winner, job.id, clock), bid(c, loser, job.id, clock)
    c.job_service.accept_bid(owner, job.id, good.id)
    mark = len(realtime.calls)
    c.job_service.score_pending_sentiment(everything=True)
    scored = {call[2]["bid"]["id"]: call[2]["bid"] for call in realtime.calls[mark:]
              if call[0] == "send_to_user" and call[1] == owner.user_id}  # fmt: skip
    assert scored[good.id]["status"] == "accepted" and scored[poor.id]["status"] == "rejected"
    assert all(b["sentiment"]["label"] for b in scored.values())
    listed = {b.id: b.status for b in c.job_service.list_bids(owner, job.id)[0]}
    assert listed == {good.id: "accepted", poor.id: "rejected"}
