"""Filtered job lists examine a bounded number of rows per request (issue 17), counted on
the wire against Azurite.

A filtered page reads the keys of its range (``RowKey``, ``status``, ``kind``) until
``limit + 1`` match or the scan budget is spent, then only the matching rows' content
(table_job_index.py ``JobIndex._filtered``). Azurite examines a whole table on every call
whatever the query, so what a request costs on Azure is counted here as rows returned by
each query: the key queries carry no server-side filter, so every row the service examines
crosses the wire. Walking every page of a filter still returns exactly what the filter
matches, in order (the model of tests/integration/test_job_index.py), and a page may be
short, with a cursor to go on, as an Azure Table query itself returns fewer rows than
asked with a continuation token ("Query timeout and pagination",
https://learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from devtools.azurite import Azurite
from shared.adapters import table_job_index as index_module
from shared.adapters.clock import FakeClock
from shared.adapters.table_jobs import _entity
from shared.domain.jobs import Job
from shared.settings import Settings
from tests.conftest import base_settings_values
from tests.integration.test_job_index import KINDS, SORTS, model_order, ms, person
from tests.integration.test_job_index import test_kinds as test_kinds  # autouse fixture
from tests.support.counting import Call, CountingContainer

JOBS = 300
KEY_COLUMNS = {"RowKey", "status", "kind"}


def _status(n: int) -> Any:
    if n % 75 == 10:
        return "failed"  # 4 jobs in 300
    return "completed" if n % 2 else "pending"


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> tuple[CountingContainer, str, list[Job]]:
    """300 jobs of one owner: 6 of the rare kind, 4 failed, none cancelled; lists built."""
    clock = FakeClock()
    c = CountingContainer(Settings(**base_settings_values(azurite.connection_string)), clock)
    owner = person().user_id
    now = clock.now()
    jobs = [
        Job(id=f"{ms(now) + n:013d}{n:016x}-{owner}", owner_id=owner, name=f"j{n}",
            description="", kind=KINDS[1] if n % 50 == 3 else KINDS[0], params={},
            status=_status(n), scheduled_time=now + timedelta(minutes=(n * 37) % 101),
            created_at=now + timedelta(milliseconds=n), updated_at=now)
        for n in range(JOBS)
    ]  # fmt: skip
    table = c.jobs.index._table
    for start in range(0, JOBS, 100):
        table.submit_transaction([("create", _entity(j)) for j in jobs[start : start + 100]])
    c.jobs.index.ensure_ready(owner)  # builds the list rows and counts
    return c, owner, jobs


def _requests(
    c: CountingContainer, owner: str, status: str | None, kind: str | None, sort: str,
    limit: int,
) -> tuple[list[str], list[tuple[int, str | None, list[Call]]]]:  # fmt: skip
    """Walk every page; the ids seen and, per request, (jobs, cursor, storage calls)."""
    seen: list[str] = []
    requests: list[tuple[int, str | None, list[Call]]] = []
    cursor: str | None = None
    while True:
        mark = c.calls.mark()
        page, cursor = c.jobs.list_own(owner, status=status, kind=kind, sort=sort,
                                       limit=limit, cursor=cursor)  # fmt: skip
        assert len(page) <= limit
        requests.append((len(page), cursor, c.calls.since(mark)))
        seen += [j.id for j in page]
        if cursor is None:
            return seen, requests
        assert len(requests) < 200, "the walk does not end"


def _key_rows(calls: list[Call]) -> int:
    return sum(x.rows_returned for x in calls if x.columns and set(x.columns) <= KEY_COLUMNS)


def _content_rows(calls: list[Call]) -> int:
    return sum(x.rows_returned for x in calls if x.columns and not set(x.columns) <= KEY_COLUMNS)


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [(None, KINDS[1]), ("failed", None), ("pending", KINDS[0]), ("cancelled", None)],
    ids=["rare-kind", "rare-status", "common", "none-match"],
)
def test_each_request_examines_at_most_the_budget_and_the_walk_is_exact(
    seeded: tuple[CountingContainer, str, list[Job]], monkeypatch: pytest.MonkeyPatch,
    status: str | None, kind: str | None, sort: str,
) -> None:  # fmt: skip
    c, owner, jobs = seeded
    budget, limit = 40, 7
    monkeypatch.setattr(c.jobs.index, "scan_budget", budget)
    seen, requests = _requests(c, owner, status, kind, sort, limit)
    assert seen == model_order(jobs, status, kind, sort)
    for count, _cursor, calls in requests:
        assert all(x.service == "table" and x.method == "GET" for x in calls)
        assert _key_rows(calls) <= budget, [(x.rows_returned, x.columns) for x in calls]
        assert _content_rows(calls) == count  # content of the page's jobs only
        assert len(calls) <= 4  # keys in at most 3 growing steps, then the content
    matching = len(seen)
    if matching < limit:  # rare: the budget ends requests before the range does
        assert len(requests) >= JOBS // budget
        assert any(count < limit and cursor is not None for count, cursor, _ in requests)
    # Examined in all: each row of the order once, plus at most one first step of keys
    # (10 x (limit + 1), within the budget) read past the end of each page.
    examined = sum(_key_rows(calls) for _, _, calls in requests)
    assert examined <= JOBS + len(requests) * min(budget, 10 * (limit + 1))


def test_with_the_default_budget_a_common_filter_is_two_calls_and_a_rare_one_one_request(
    seeded: tuple[CountingContainer, str, list[Job]],
) -> None:
    c, owner, jobs = seeded
    assert c.jobs.index.scan_budget == index_module.SCAN_BUDGET == 1000
    # Half the jobs are pending: keys of 10 x (limit + 1) rows, then the page's content.
    mark = c.calls.mark()
    page, cursor = c.jobs.list_own(owner, status="pending", kind=None, sort="-created_at",
                                   limit=20, cursor=None)  # fmt: skip
    calls = c.calls.since(mark)
    assert len(page) == 20 and cursor is not None
    assert len(calls) == 2 and _key_rows(calls) <= 210 and _content_rows(calls) == 20
    # 4 failed jobs in 300: every row is examined (300 < the budget), one request.
    seen, requests = _requests(c, owner, "failed", None, "scheduled_time", 20)
    assert seen == model_order(jobs, "failed", None, "scheduled_time") and len(seen) == 4
    assert len(requests) == 1 and _key_rows(requests[0][2]) == JOBS


def test_a_job_that_changes_while_a_page_is_read_is_never_shown_twice(
    seeded: tuple[CountingContainer, str, list[Job]], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Between the keys and the content of a page every job of its span starts to match
    (as if each changed status in between): the page still holds at most ``limit`` jobs,
    and the cursor goes on right after the last one shown."""
    c, owner, jobs = seeded
    index = c.jobs.index
    real = index._table.query_entities

    def query(text: str, **kwargs: Any) -> Any:
        if "status eq @status" in text:  # the content query: drop the filter
            text = text.replace(" and status eq @status", "")
            kwargs["parameters"] = {k: v for k, v in kwargs["parameters"].items()
                                    if k != "status"}  # fmt: skip
        return real(text, **kwargs)

    monkeypatch.setattr(index._table, "query_entities", query)
    page, cursor = c.jobs.list_own(owner, status="failed", kind=None, sort="created_at",
                                   limit=3, cursor=None)  # fmt: skip
    assert [j.id for j in page] == [j.id for j in jobs[10:13]]  # every job now "matches"
    assert cursor is not None
    monkeypatch.setattr(index._table, "query_entities", real)
    rest, _ = c.jobs.list_own(owner, status="failed", kind=None, sort="created_at", limit=3,
                              cursor=cursor)  # fmt: skip
    assert [j.id for j in rest] == [j.id for j in jobs if j.status == "failed" and
                                    j.created_at > jobs[12].created_at][:3]  # fmt: skip
