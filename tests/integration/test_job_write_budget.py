"""What one job's whole life writes (issue 17): create -> start -> complete costs at most
20 table entities in at most 6 storage calls, counted on the wire.

The container's storage clients all go through tests/support/counting.py's transport,
which records each request and, for an entity-group transaction, the operations in its
multipart body. The message is received with a client of its own, as the Functions host
receives it (in batches of up to 32, so a share of one call; listed apart), then the app's
handler runs and the message is deleted with the app's client, as the host does after a
handler that returned. Before issue 17 the same life cost 73 entities in 9 calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from devtools.azurite import Azurite
from shared.adapters.clock import FakeClock
from shared.auth import Principal
from shared.domain.jobs import DISPATCH_GRACE
from shared.services.jobs import JOBS_QUEUE
from shared.settings import Settings
from tests.conftest import base_settings_values
from tests.support.counting import Call, CountingContainer

ENTITIES_MAX = 20
CALLS_MAX = 6


@pytest.fixture
def app(azurite_factory: Callable[[], Azurite]) -> tuple[CountingContainer, FakeClock, Azurite]:
    storage = azurite_factory()  # its own: the queue holds only this test's messages
    clock = FakeClock()
    return CountingContainer(Settings(**base_settings_values(storage.connection_string)),
                             clock), clock, storage  # fmt: skip


def one_life(c: CountingContainer, storage: Azurite, owner: Principal) -> list[Call]:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    host_side = QueueClient.from_connection_string(
        storage.connection_string, JOBS_QUEUE, message_decode_policy=TextBase64DecodePolicy()
    )
    mark = c.calls.mark()
    job = c.job_service.create(owner, name="life", description="", kind="text.sentiment",
                               params={"texts": ["fine"]}, scheduled_time=None)  # fmt: skip
    (message,) = list(host_side.receive_messages(max_messages=32))
    assert c.job_service.process(message.content) == "completed"
    c.queue_client(JOBS_QUEUE).delete_message(message.id, message.pop_receipt)
    calls = c.calls.since(mark)
    assert c.job_service.get(owner, job.id).status == "completed"
    return calls


def describe(calls: list[Call]) -> list[str]:
    return [f"{x.service} {x.method} {x.url.split('?')[0].rsplit('/', 1)[-1][:40]} "
            f"{x.operations or ''} -> {x.entities_written}" for x in calls]  # fmt: skip


def test_a_jobs_whole_life_writes_at_most_20_entities_in_6_storage_calls(
    app: tuple[CountingContainer, FakeClock, Azurite],
) -> None:
    c, clock, storage = app
    c.job_service, c.queue_client(JOBS_QUEUE)  # tables, queues made: not the job's calls
    owner = Principal(user_id="budget-owner", email="b@example.com")
    for attempt in ("a new owner, a new process", "the same owner's next job"):
        calls = one_life(c, storage, owner)
        entities = sum(x.entities_written for x in calls)
        assert len(calls) <= CALLS_MAX, (attempt, "\n".join(describe(calls)))
        assert entities <= ENTITIES_MAX, (attempt, "\n".join(describe(calls)))
        assert entities == 16, "\n".join(
            describe(calls)
        )  # 1 dispatch row + 3 x (job, 3 list rows, count)
        clock.advance(seconds=1)


def test_the_sweep_deletes_the_dispatch_rows_of_started_jobs_in_batches(
    app: tuple[CountingContainer, FakeClock, Azurite],
) -> None:
    c, clock, storage = app
    c.job_service, c.queue_client(JOBS_QUEUE)
    owner = Principal(user_id="sweep-owner", email="b@example.com")
    for _ in range(5):
        one_life(c, storage, owner)
    clock.advance(DISPATCH_GRACE.total_seconds() + 1)
    mark = c.calls.mark()
    assert c.job_service.redispatch_lost() == {"resent": 0, "dropped": 5}
    calls = c.calls.since(mark)
    # The overdue rows (1 query), the owner's pending jobs among them (1 query), one batch
    # of deletes, and the query that finds nothing left.
    assert len(calls) <= 4, describe(calls)
    assert sum(x.entities_written for x in calls) == 5
    assert c.jobs.overdue(clock.now()) == []


def test_a_job_leaves_the_open_list_when_its_time_comes_without_a_write(
    app: tuple[CountingContainer, FakeClock, Azurite],
) -> None:
    c, clock, _storage = app
    owner, other = Principal("open-owner", "o@example.com"), "someone-else"
    later = c.job_service.create(owner, name="later", description="", kind="text.sentiment",
                                 params={"texts": ["x"]}, scheduled_time=clock.now()
                                 + timedelta(minutes=10))  # fmt: skip
    now = c.job_service.create(owner, name="now", description="", kind="text.sentiment",
                               params={"texts": ["x"]}, scheduled_time=None)  # fmt: skip
    assert {j.id for j in c.jobs.list_open(other, 10, None)[0]} == {later.id, now.id}
    clock.advance(1)  # the due job is started (or about to be): no longer offered
    assert [j.id for j in c.jobs.list_open(other, 10, None)[0]] == [later.id]
    assert c.jobs.list_open(owner.user_id, 10, None)[0] == []  # never one's own
