"""Paging through 1,000 jobs of one user while they change (table_job_index.py): each job
is returned at most once, and every job that did not change exactly once. Its own file: on
Azurite, writes slow down as a partition grows, so this one takes about a minute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.table_jobs import _entity
from shared.domain.errors import Conflict
from shared.domain.jobs import Job
from shared.settings import Settings
from tests.integration.test_job_index import KINDS, ms, person, stored_jobs, walk
from tests.integration.test_job_index import test_kinds as test_kinds  # autouse fixture
from tests.integration.test_jobs_service import QueueCapturingContainer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(make_settings: Callable[..., Settings], clock: FakeClock) -> QueueCapturingContainer:
    return QueueCapturingContainer(make_settings(), clock)


def test_paging_while_jobs_change_returns_each_job_at_most_once(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    owner = person()
    table = c.jobs.index._table
    now = clock.now()
    created: list[Job] = []
    for n in range(1000):  # the job rows in batches; the first list indexes them
        job = Job(id=f"{ms(now) + n:013d}{n:016x}-{owner.user_id}", owner_id=owner.user_id,
                  name=f"j{n}", description="", kind=KINDS[n % 2], params={}, status="pending",
                  scheduled_time=now + timedelta(minutes=n % 97), created_at=now
                  + timedelta(milliseconds=n), updated_at=now)  # fmt: skip
        created.append(job)
    for start in range(0, 1000, 100):
        table.submit_transaction([("create", _entity(j)) for j in created[start : start + 100]])
    ids = [j.id for j in created]
    for sort, status in (
        ("-created_at", None),
        ("created_at", "pending"),
        ("-created_at", "pending"),
    ):
        changed: set[str] = set()
        seen: list[str] = []
        for page_number, page in enumerate(walk(c, owner.user_id, status, None, sort, 50)):
            seen += [j.id for j in page]
            for k in range(3):  # between pages, three jobs change status or time
                job_id = ids[(page_number * 37 + k * 331 + len(seen)) % 1000]
                changed.add(job_id)
                try:
                    if k == 0:
                        c.job_service.cancel(owner, job_id)
                    elif k == 1:
                        c.job_service.edit(owner, job_id,
                                  {"scheduled_time": clock.now() + timedelta(hours=1)})  # fmt: skip
                    else:
                        found = c.jobs.get(owner.user_id, job_id)
                        if found is not None and found.value.status == "pending":
                            c.job_service._start(found, clock.now())
                except Conflict:
                    pass
            c.take()
        assert len(seen) == len(set(seen)), sort  # at most once
        steady = [
            j.id for j in stored_jobs(c, owner, ids)
            if j.id not in changed and status in (None, j.status)
        ]  # fmt: skip
        assert set(steady) <= set(seen)  # exactly once for every job that stood still
