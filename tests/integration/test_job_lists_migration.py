"""Data of the design before (issue 14) keeps working with the lean lists of issue 17.

The rows the issue-14 design left per job (an anchor ``x|j|{id}``, 16 index rows
``x|{filter}|{order}|{time}|{id}``, counter shards ``y|c{n}`` and the ready mark ``y|m``)
are written here exactly as that version wrote them (key format copied from its
table_job_index.py), with job rows without ``ix``. The first list or summary migrates the
owner; ``python -m devtools.job_index repair|backfill`` does the same ahead of time; an
issue-14 cursor keeps its place; the open list of the design before moves into the
dispatch rows."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from contextlib import redirect_stdout
from typing import Any

import pytest

from devtools import job_index as job_index_tool
from devtools.azurite import Azurite
from shared.adapters.clock import FakeClock
from shared.adapters.table_jobs import _entity, _inv, job_to_json
from shared.domain.jobs import STATUSES, Job
from shared.settings import Settings
from tests.conftest import base_settings_values
from tests.integration.test_job_index import (
    KINDS,
    Actor,
    as_written_before_the_lists,
    assert_lists_match,
    ms,
    person,
)
from tests.integration.test_job_index import test_kinds as test_kinds  # autouse fixture
from tests.integration.test_jobs_service import QueueCapturingContainer

_HEX = "0123456789abcdef"
_INVERT = str.maketrans(_HEX, _HEX[::-1])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(make_settings: Callable[..., Settings], clock: FakeClock) -> QueueCapturingContainer:
    return QueueCapturingContainer(make_settings(), clock)


def issue14_keys(job: Job) -> list[str]:
    """The 16 index RowKeys the issue-14 design wrote for ``job`` (its index_keys)."""
    filters = ("a", f"s.{job.status}", f"k.{job.kind}", f"q.{job.status}.{job.kind}")
    stem = job.id[:29]
    keys = []
    for f in filters:
        for order, moment in (("c", ms(job.created_at)), ("t", ms(job.scheduled_time))):
            keys.append(f"x|{f}|{order}a|{moment:015d}|{stem}")
            keys.append(f"x|{f}|{order}d|{10**15 - 1 - moment:015d}|{stem.translate(_INVERT)}")
    return keys


def write_issue14_owner(c: QueueCapturingContainer, owner: str, jobs: list[Job]) -> None:
    table = c.jobs.index._table
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for job in jobs:
        rows.append(_entity(job))  # no ``ix``: that version did not write it
        rows.append({"PartitionKey": owner, "RowKey": f"x|j|{job.id}", "ix_status": job.status,
                     "ix_sched": str(ms(job.scheduled_time))})  # fmt: skip
        data = job_to_json(job)
        rows += [{"PartitionKey": owner, "RowKey": k, "d": data} for k in issue14_keys(job)]
        counts[job.status] = counts.get(job.status, 0) + 1
    rows.append({"PartitionKey": owner, "RowKey": "y|c0",
                 **{"n_" + s.replace("-", "_"): counts.get(s, 0) for s in STATUSES}})  # fmt: skip
    rows.append({"PartitionKey": owner, "RowKey": "y|m", "ready": True})
    for start in range(0, len(rows), 100):
        table.submit_transaction([("upsert", r) for r in rows[start : start + 100]])


def old_design_owner(
    c: QueueCapturingContainer, clock: FakeClock, n: int = 9
) -> tuple[Actor, list[Job]]:
    """An owner whose jobs (some started, finished, cancelled) the issue-14 version wrote."""
    actor = Actor(c, clock, person())
    for k in range(n):
        actor.apply(("create", k, 5 + k))
    for step in (("start", 0, 0), ("succeed", 0, 0), ("cancel", 1, 0), ("start", 2, 0)):
        actor.apply(step)
    owner = actor.owner.user_id
    jobs = [c.jobs.get(owner, i).value for i in actor.ids]  # type: ignore[union-attr]
    as_written_before_the_lists(c, owner)
    write_issue14_owner(c, owner, jobs)
    return actor, jobs


def rows_of(c: QueueCapturingContainer, owner: str, start: str, end: str) -> list[str]:
    table = c.jobs.index._table
    return [r["RowKey"] for r in table.query_entities(
        "PartitionKey eq @o and RowKey ge @s and RowKey lt @e",
        parameters={"o": owner, "s": start, "e": end}, select=["RowKey"])]  # fmt: skip


def test_an_owner_of_the_design_before_is_migrated_on_the_first_list(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor, _ = old_design_owner(c, clock)
    owner = actor.owner.user_id
    fresh = type(c)(c.settings, clock)  # a process of the new version
    assert_lists_match(fresh, actor.owner, actor.ids)
    assert rows_of(c, owner, "x|", "y}") == []  # the issue-14 rows are gone
    assert len(rows_of(c, owner, "l|", "l}")) == 3 * len(actor.ids)
    for step in (("start", 3, 0), ("succeed", 3, 0), ("cancel", 4, 0), ("edit", 5, 40)):
        actor.c = fresh
        actor.apply(step)
    assert_lists_match(fresh, actor.owner, actor.ids)
    assert_lists_match(type(c)(c.settings, clock), actor.owner, actor.ids)


def test_a_transition_before_the_first_list_heals_the_job_it_writes(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor, _ = old_design_owner(c, clock)
    fresh = type(c)(c.settings, clock)
    actor.c = fresh
    actor.apply(("cancel", 5, 0))  # a job row without ``ix``: read the anchor, list it
    actor.apply(("start", 6, 0))
    assert_lists_match(fresh, actor.owner, actor.ids)


def test_a_cursor_of_the_design_before_keeps_its_place(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor, jobs = old_design_owner(c, clock)
    owner = actor.owner.user_id
    fresh = type(c)(c.settings, clock)
    newest_first = sorted(jobs, key=lambda j: (ms(j.created_at), j.id), reverse=True)
    third = newest_first[2]
    stem = third.id[:29]
    old = f"x|a|cd|{10**15 - 1 - ms(third.created_at):015d}|{stem.translate(_INVERT)}"
    cursor = base64.urlsafe_b64encode(old.encode()).decode().rstrip("=")
    page, _ = fresh.jobs.list_own(owner, status=None, kind=None, sort="-created_at", limit=3,
                                  cursor=cursor)  # fmt: skip
    assert [j.id for j in page] == [j.id for j in newest_first[3:6]]
    old = f"x|s.pending|ca|{ms(third.created_at):015d}|{stem}"  # a filtered list's cursor
    cursor = base64.urlsafe_b64encode(old.encode()).decode().rstrip("=")
    page, _ = fresh.jobs.list_own(owner, status="pending", kind=None, sort="created_at",
                                  limit=100, cursor=cursor)  # fmt: skip
    expected = [j for j in reversed(newest_first) if j.status == "pending"
                and (ms(j.created_at), j.id) > (ms(third.created_at), third.id)]  # fmt: skip
    assert [j.id for j in page] == [j.id for j in expected]


def test_repair_and_backfill_commands_migrate_every_owner(
    azurite_factory: Callable[[], Azurite], clock: FakeClock
) -> None:
    # An Azurite of its own: ``backfill`` repairs every owner of the table.
    values = base_settings_values(azurite_factory().connection_string)
    c = QueueCapturingContainer(Settings(**values), clock)
    first, _ = old_design_owner(c, clock, 4)
    second, _ = old_design_owner(c, clock, 5)
    out = io.StringIO()
    with redirect_stdout(out):
        assert job_index_tool.main(["repair", first.owner.user_id], container=c) == 0
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert (line["owner_id"], line["jobs"], line["indexed"]) == (first.owner.user_id, 4, 4)
    assert line["old_rows_deleted"] == 4 * 17 + 2
    assert rows_of(c, second.owner.user_id, "x|", "y}") != []  # not asked for
    # An open-list copy of the design before (table ``openjobs``), of a job still open.
    open_job = c.jobs.get(second.owner.user_id, second.ids[4]).value  # type: ignore[union-attr]
    key = f"{_inv(open_job.created_at)}|{open_job.id}"
    copy = {"owner_id": open_job.owner_id, "data": job_to_json(open_job)}
    c.jobs._open.upsert_entity({"PartitionKey": "open", "RowKey": key, **copy})
    c.jobs._watch.delete_entity("watch", c.jobs._watch_key(open_job))
    assert open_job.id not in [j.id for j in c.jobs.list_open("someone", 100, None)[0]]
    out = io.StringIO()
    with redirect_stdout(out):
        assert job_index_tool.main(["backfill"], container=c) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    by_owner = {x["owner_id"]: x for x in lines if "owner_id" in x}
    assert by_owner[second.owner.user_id]["indexed"] == 5
    assert by_owner[first.owner.user_id]["indexed"] == 0  # done already: nothing to do
    assert lines[-1]["still_open"] >= 1
    assert rows_of(c, second.owner.user_id, "x|", "y}") == []
    assert open_job.id in [j.id for j in c.jobs.list_open("someone", 100, None)[0]]
    for actor in (first, second):
        assert_lists_match(type(c)(c.settings, clock), actor.owner, actor.ids)


def test_every_sort_reads_one_range_and_a_job_leaves_four_rows(
    c: QueueCapturingContainer, clock: FakeClock
) -> None:
    actor = Actor(c, clock, person())
    for k in range(6):
        actor.apply(("create", k, 5 + k))
    clock.advance(minutes=1)
    owner = actor.owner.user_id
    assert_lists_match(c, actor.owner, actor.ids)
    assert len(rows_of(c, owner, "", "~")) == 4 * 6 + 1 + len(rows_of(c, owner, "n|", "n}"))
    assert {j.kind for j in [c.jobs.get(owner, i).value for i in actor.ids]} <= set(KINDS)  # type: ignore[union-attr]
