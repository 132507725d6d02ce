"""The keyed job lists and counters (shared/adapters/table_job_index.py) on Azurite.

Every list, filter, sort, page walk and the summary is compared with a brute-force model
computed from the job rows themselves, after random interleavings of the transitions the
app makes (through the jobs service, as the functions call it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters import table_job_index as index_module
from shared.adapters.clock import FakeClock
from shared.adapters.table_jobs import _entity
from shared.auth import Principal
from shared.domain.errors import Conflict
from shared.domain.jobs import STATUSES, Job
from shared.services import job_kinds, jobs
from shared.settings import Settings
from tests.integration.test_jobs_service import QueueCapturingContainer

KINDS = ("test.alpha", "test.beta")
SORTS = ("created_at", "-created_at", "scheduled_time", "-scheduled_time")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = dict(job_kinds.KINDS)
    for name in KINDS:
        kinds[name] = job_kinds.Kind(name, job_kinds.Params, lambda c, j, p: {"ok": 1}, name)
    monkeypatch.setattr(job_kinds, "KINDS", kinds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(make_settings: Callable[..., Settings], clock: FakeClock) -> QueueCapturingContainer:
    return QueueCapturingContainer(make_settings(JOB_MAX_ATTEMPTS="2"), clock)


def person() -> Principal:
    return Principal(user_id=f"u-{uuid.uuid4().hex[:10]}", email="x@example.com")


# -- the model -----------------------------------------------------------------------------


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def model_order(all_jobs: list[Job], status: str | None, kind: str | None, sort: str) -> list[str]:
    """What GET /jobs must answer, computed from the jobs as stored."""
    chosen = [j for j in all_jobs if status in (None, j.status) and kind in (None, j.kind)]
    field = sort.lstrip("-")
    chosen.sort(key=lambda j: (ms(getattr(j, field)), j.id), reverse=sort.startswith("-"))
    return [j.id for j in chosen]


def stored_jobs(c: QueueCapturingContainer, owner: Principal, ids: list[str]) -> list[Job]:
    found = [c.jobs.get(owner.user_id, job_id) for job_id in ids]
    return [f.value for f in found if f is not None]


def walk(
    c: QueueCapturingContainer, owner: str, status: str | None, kind: str | None, sort: str,
    limit: int,
) -> Iterator[list[Job]]:  # fmt: skip
    cursor: str | None = None
    while True:
        page, cursor = c.jobs.list_own(owner, status=status, kind=kind, sort=sort,
                                       limit=limit, cursor=cursor)  # fmt: skip
        assert len(page) <= limit
        yield page
        if cursor is None:
            return


def assert_lists_match(
    c: QueueCapturingContainer, owner: Principal, ids: list[str], limit: int = 3
) -> None:
    truth = stored_jobs(c, owner, ids)
    by_id = {j.id: j for j in truth}
    filters: list[tuple[str | None, str | None]] = [(None, None)]
    filters += [(s, None) for s in STATUSES] + [(None, k) for k in KINDS]
    filters += [(s, k) for s in ("pending", "completed") for k in KINDS]
    for status, kind in filters:
        for sort in SORTS:
            seen: list[str] = []
            for page in walk(c, owner.user_id, status, kind, sort, limit):
                for job in page:
                    assert job.to_public() == by_id[job.id].to_public()  # never stale
                    seen.append(job.id)
            assert seen == model_order(truth, status, kind, sort), (status, kind, sort)
    summary = c.job_service.summary(owner)
    expected: dict[str, int] = {s: sum(1 for j in truth if j.status == s) for s in STATUSES}
    assert summary == {**expected, "total": len(truth)}


# -- what the app does ---------------------------------------------------------------------


class Actor:
    """Applies one step of a scenario through the jobs service; steps that the job's
    state refuses (a 409) are part of the scenario and change nothing."""

    def __init__(self, c: QueueCapturingContainer, clock: FakeClock, owner: Principal) -> None:
        self.c, self.clock, self.owner = c, clock, owner
        self.bidder = person()
        self.ids: list[str] = []

    def pick(self, n: int) -> str | None:
        return self.ids[n % len(self.ids)] if self.ids else None

    def apply(self, step: tuple[Any, ...]) -> None:
        action, n, minutes = step
        self.clock.advance(milliseconds=minutes % 3)  # sometimes the same millisecond
        job_id = self.pick(n)
        c, owner, now = self.c, self.owner, self.clock.now()
        try:
            if action == "create" or job_id is None:
                job = c.job_service.create(owner, name=f"j{len(self.ids)}", description="",
                                  kind=KINDS[n % 2], params={},
                                  scheduled_time=now + timedelta(minutes=minutes))  # fmt: skip
                self.ids.append(job.id)
            elif action == "edit":
                c.job_service.edit(
                    owner, job_id, {"scheduled_time": now + timedelta(minutes=minutes)}
                )
            elif action == "rename":
                c.job_service.edit(owner, job_id, {"name": f"renamed {minutes}"})
            elif action == "cancel":
                c.job_service.cancel(owner, job_id)
            elif action == "assign":
                bid = c.job_service.place_bid(self.bidder, job_id, jobs.BidInput(
                    "I can", date(2030, 1, 1), Decimal(5), "USD"))  # fmt: skip
                c.job_service.accept_bid(owner, job_id, bid.id)
            elif action == "start":
                found = c.jobs.get(owner.user_id, job_id)
                if found is not None and found.value.status == "pending":
                    c.job_service._start(found, now)
            elif action in ("succeed", "fail"):
                found = c.jobs.get(owner.user_id, job_id)
                if found is not None and found.value.status == "in-progress":
                    error = "boom" if action == "fail" else None
                    c.job_service._finish(found, None if error else {"ok": 1}, error)
        except Conflict:
            pass  # not editable, not cancellable, not open: refused, nothing written
        c.take()  # the queue is not what is tested here


ACTIONS = ("create", "create", "edit", "rename", "cancel", "assign", "start", "start",
           "succeed", "fail")  # fmt: skip
steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 50), st.integers(0, 600)),
    min_size=1, max_size=14,
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=steps, limit=st.integers(1, 4))
def test_every_list_and_the_summary_match_the_jobs(
    c: QueueCapturingContainer, clock: FakeClock, scenario: list[Any], limit: int
) -> None:
    actor = Actor(c, clock, person())
    for step in scenario:
        actor.apply(step)
    assert_lists_match(c, actor.owner, actor.ids, limit)


# -- crashes, old rows, repair --------------------------------------------------------------


def test_a_failed_transaction_writes_neither_the_job_nor_its_index(
    c: QueueCapturingContainer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = Actor(c, clock, person())
    for n in range(3):
        actor.apply(("create", n, 5))
    table = c.jobs.index._table
    real = table.submit_transaction

    def crash(operations: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the process died while writing")

    monkeypatch.setattr(table, "submit_transaction", crash)
    with pytest.raises(ConnectionError):
        c.job_service.cancel(actor.owner, actor.ids[0])
    monkeypatch.setattr(table, "submit_transaction", real)
    assert c.jobs.get(actor.owner.user_id, actor.ids[0]).value.status == "pending"  # type: ignore[union-attr]
    assert_lists_match(c, actor.owner, actor.ids)
    actor.apply(("cancel", 0, 0))  # the next transition goes through
    assert_lists_match(c, actor.owner, actor.ids)


def as_written_before_the_lists(c: QueueCapturingContainer, owner: str) -> None:
    """Leave only the owner's job rows, as a version before any list rows wrote them."""
    from azure.data.tables import UpdateMode

    table = c.jobs.index._table
    for row in list(table.query_entities("PartitionKey eq @o", parameters={"o": owner})):
        if row["RowKey"] >= index_module.JOB_ROWS_END:
            table.delete_entity(owner, row["RowKey"])
        else:
            job = c.jobs.get(owner, row["RowKey"]).value  # type: ignore[union-attr]
            table.upsert_entity(_entity(job), mode=UpdateMode.REPLACE)  # without ``ix``


def write_job_row_only(c: QueueCapturingContainer, job: Job) -> None:
    """What a writer that crashed between the job write and its index write (or an
    instance of the previous version, which has no index) leaves behind."""
    from azure.data.tables import UpdateMode

    c.jobs.index._table.upsert_entity(_entity(job), mode=UpdateMode.REPLACE)


def test_a_job_row_written_without_its_index_is_healed_by_the_next_transition(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor = Actor(c, clock, person())
    for n in range(4):
        actor.apply(("create", n, 5 + n))
    owner = actor.owner.user_id
    c.jobs.index.ensure_ready(owner)  # built and marked ready: only writes keep it so
    job = c.jobs.get(owner, actor.ids[1]).value  # type: ignore[union-attr]
    moved = job.started(clock.now(), timedelta(minutes=5))
    write_job_row_only(c, moved)
    stale, _ = c.jobs.list_own(owner, status="pending", kind=None, sort="-created_at",
                               limit=10, cursor=None)  # fmt: skip
    assert moved.id in [j.id for j in stale]  # the crash is visible: the index lags
    found = c.jobs.get(owner, moved.id)
    c.job_service._finish(found, {"ok": 1}, None)  # type: ignore[arg-type]
    c.take()
    assert_lists_match(c, actor.owner, actor.ids)


def test_a_job_row_written_without_its_index_is_healed_by_the_repair(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor = Actor(c, clock, person())
    for n in range(4):
        actor.apply(("create", n, 5 + n))
    owner = actor.owner.user_id
    c.jobs.index.ensure_ready(owner)
    first = c.jobs.get(owner, actor.ids[0]).value  # type: ignore[union-attr]
    write_job_row_only(c, first.cancelled(clock.now()))
    second = c.jobs.get(owner, actor.ids[2]).value  # type: ignore[union-attr]
    write_job_row_only(
        c, second.edited(clock.now(), scheduled_time=clock.now() + timedelta(days=2))
    )
    table = c.jobs.index._table
    # And damage done by hand: a lost list row, a row of no job, a wrong count.
    first_sched = index_module.State.of(first).sched
    table.delete_entity(owner, index_module.list_keys(first, first_sched)["ta"])
    table.upsert_entity({"PartitionKey": owner, "RowKey": "l|cd|000000000000001|"
                         + "1" * 29, "d": "{}"})  # fmt: skip
    table.upsert_entity({"PartitionKey": owner, "RowKey": "n|03", "n_failed": 7})
    report = c.jobs.index.repair(owner)
    assert report["moved"] == 2
    assert report["rows_fixed"] >= 1
    fresh = type(c)(c.settings, clock)  # a new process: no cached counters
    assert_lists_match(fresh, actor.owner, actor.ids)
    assert_lists_match(c, actor.owner, actor.ids)  # this process heals its cache on 412


def test_jobs_written_before_the_index_existed_are_indexed_on_first_request(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor = Actor(c, clock, person())
    for n in range(12):
        actor.apply(("create", n, 5 + n))
    actor.apply(("cancel", 3, 0))
    owner = actor.owner.user_id
    as_written_before_the_lists(c, owner)
    fresh = type(c)(c.settings, clock)
    assert_lists_match(fresh, actor.owner, actor.ids)


def test_the_repair_is_safe_while_jobs_change(c: QueueCapturingContainer, clock: FakeClock) -> None:
    actor = Actor(c, clock, person())
    for n in range(15):
        actor.apply(("create", n, 5 + n))
    owner = actor.owner.user_id
    as_written_before_the_lists(c, owner)
    other = type(c)(c.settings, clock)  # another process, repairing
    errors: list[BaseException] = []

    def repair() -> None:
        try:
            other.jobs.index.repair(owner)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=repair)
    thread.start()
    for n, action in enumerate(["start", "cancel", "edit", "start", "succeed", "fail", "rename"]
                               * 3):  # fmt: skip
        actor.apply((action, n, 30))
    thread.join(60)
    assert not errors
    other.jobs.index.repair(owner)  # a repair when quiet makes everything exact
    assert_lists_match(type(c)(c.settings, clock), actor.owner, actor.ids)


def test_a_transition_goes_through_when_rows_of_its_index_were_lost(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor = Actor(c, clock, person())
    for n in range(3):
        actor.apply(("create", n, 5 + n))
    owner = actor.owner.user_id
    c.jobs.index.ensure_ready(owner)
    job = c.jobs.get(owner, actor.ids[0]).value  # type: ignore[union-attr]
    keys = index_module.list_keys(job, index_module.State.of(job).sched)
    c.jobs.index._table.delete_entity(owner, keys["ta"])  # rows the new time must delete
    actor.apply(("edit", 0, 90))
    assert c.jobs.get(owner, actor.ids[0]).value.scheduled_time != job.scheduled_time  # type: ignore[union-attr]
    assert_lists_match(c, actor.owner, actor.ids)
    actor.apply(("cancel", 0, 0))
    assert c.jobs.get(owner, actor.ids[0]).value.status == "cancelled"  # type: ignore[union-attr]
    assert_lists_match(c, actor.owner, actor.ids)


def test_a_transition_or_a_creation_during_the_repair_is_not_taken_for_damage(
    c: QueueCapturingContainer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new owner's first summary runs the repair while jobs change (the jobs bench saw
    "job lists repaired" as a warning on every such owner). Between the repair's two range
    reads a job is cancelled and another created: nothing is reported as damaged, nothing
    rewritten or deleted, and the lists stay exact."""
    actor = Actor(c, clock, person())
    for n in range(4):
        actor.apply(("create", n, 5 + n))
    owner = actor.owner.user_id
    other = type(c)(c.settings, clock)  # another process, repairing
    index = other.jobs.index
    real_scan = index._scan
    scans: list[str] = []

    def scan(owner_id: str, start: str, end: str, select: list[str] | None = None) -> Any:
        rows = list(real_scan(owner_id, start, end, select))
        scans.append(start)
        if len(scans) == 1:  # between the first and the second read of the repair
            actor.apply(("cancel", 0, 0))
            actor.apply(("create", 9, 50))
        return rows

    monkeypatch.setattr(index, "_scan", scan)
    report = index.repair(owner)
    monkeypatch.setattr(index, "_scan", real_scan)
    assert report["moved"] == report["rows_fixed"] == report["counters_fixed"] == 0, report
    assert_lists_match(type(c)(c.settings, clock), actor.owner, actor.ids)
