"""Group commit of the dispatch rows (shared/adapters/group_commit.py): on Azurite, and on
a recording fake where the timing must be exact (a write held in flight on purpose)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableTransactionError

from devtools.azurite import Azurite
from shared.adapters.group_commit import MAX_OPERATIONS, GroupCommit
from shared.adapters.table_batch import lean_transactions


def _row(key: str, **values: Any) -> dict[str, Any]:
    return {"PartitionKey": "watch", "RowKey": key, **values}


class RecordingTable:
    """A table client's two write calls, recorded; ``hold`` keeps the first call in
    flight until released; rows named in ``refuse`` are refused, alone or in a batch."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.calls: list[tuple[str, list[str], str]] = []  # (kind, row keys, thread name)
        self.stored: dict[str, dict[str, Any]] = {}
        self.refuse = refuse or set()
        self.hold = threading.Event()
        self.hold.set()
        self.in_flight = threading.Event()
        self._lock = threading.Lock()

    def _record(self, kind: str, entities: list[dict[str, Any]]) -> None:
        with self._lock:
            self.calls.append((kind, [e["RowKey"] for e in entities],
                               threading.current_thread().name))  # fmt: skip
        self.in_flight.set()
        self.hold.wait(10)
        keys = [e["RowKey"] for e in entities]
        if len(set(keys)) != len(keys):
            raise TableTransactionError("InvalidDuplicateRow", response=None)
        if any(k in self.refuse for k in keys):
            raise HttpResponseError("PropertyValueTooLarge")
        for entity in entities:
            self.stored[entity["RowKey"]] = dict(entity)

    def upsert_entity(self, entity: dict[str, Any], mode: Any = None) -> None:
        self._record("upsert", [entity])

    def submit_transaction(self, operations: list[Any]) -> list[dict[str, Any]]:
        assert all(op[0] == "upsert" for op in operations)
        self._record("transaction", [op[1] for op in operations])
        return [{} for _ in operations]


def _concurrently(writes: list[Callable[[], None]]) -> list[BaseException | None]:
    """Run ``writes`` each in its own thread, all released at once; what each raised."""
    errors: list[BaseException | None] = [None] * len(writes)
    barrier = threading.Barrier(len(writes))

    def run(index: int) -> None:
        barrier.wait()
        try:
            writes[index]()
        except Exception as exc:  # what each writer saw
            errors[index] = exc

    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        list(pool.map(run, range(len(writes))))
    return errors


def test_a_lone_writer_sends_a_plain_upsert() -> None:
    table = RecordingTable()
    GroupCommit(table).upsert(_row("a", v=1))  # type: ignore[arg-type]
    assert [c[:2] for c in table.calls] == [("upsert", ["a"])]


def test_an_entity_without_keys_fails_its_own_call_and_blocks_nobody() -> None:
    table = RecordingTable()
    commit = GroupCommit(table)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        commit.upsert({"PartitionKey": "watch", "data": "no row key"})
    commit.upsert(_row("next"))  # leadership was never taken: this one sends at once
    assert list(table.stored) == ["next"]


def test_writes_arriving_during_a_transaction_share_the_next_and_return_once_stored() -> None:
    table = RecordingTable()
    commit = GroupCommit(table)  # type: ignore[arg-type]
    table.hold.clear()
    first = threading.Thread(target=commit.upsert, args=(_row("first"),), name="first")
    first.start()
    assert table.in_flight.wait(5)
    seen_stored: dict[str, bool] = {}

    def write(key: str) -> Callable[[], None]:
        def run() -> None:
            commit.upsert(_row(key))
            seen_stored[key] = key in table.stored  # stored before the writer returns

        return run

    later = [f"k{i:03d}" for i in range(150)]
    waiting = threading.Thread(target=lambda: _concurrently([write(k) for k in later]))
    waiting.start()
    while len(commit._waiting) < len(later):  # all queued behind the one in flight
        threading.Event().wait(0.01)
    table.hold.set()
    first.join(5)
    waiting.join(10)
    kinds = [(kind, len(keys)) for kind, keys, _ in table.calls]
    assert kinds == [("upsert", 1), ("transaction", MAX_OPERATIONS),
                     ("transaction", 150 - MAX_OPERATIONS)]  # fmt: skip
    assert set(table.stored) == {"first", *later}
    assert all(seen_stored.values()) and len(seen_stored) == len(later)
    senders = [thread for _, _, thread in table.calls]
    assert len(set(senders)) == len(senders)  # leadership passed on: nobody sent twice


def test_a_refused_row_fails_its_own_writer_only() -> None:
    table = RecordingTable(refuse={"bad"})
    commit = GroupCommit(table)  # type: ignore[arg-type]
    table.hold.clear()
    first = threading.Thread(target=commit.upsert, args=(_row("first"),))
    first.start()
    assert table.in_flight.wait(5)
    keys = ["a", "bad", "b", "c"]
    results: list[list[BaseException | None]] = []
    waiting = threading.Thread(
        target=lambda: results.append(
            _concurrently([lambda k=k: commit.upsert(_row(k)) for k in keys])
        )
    )
    waiting.start()
    while len(commit._waiting) < len(keys):
        threading.Event().wait(0.01)
    table.hold.set()
    first.join(5)
    waiting.join(10)
    [errors] = results
    failed = {k for k, e in zip(keys, errors, strict=True) if e is not None}
    assert failed == {"bad"}
    assert isinstance(errors[1], HttpResponseError)
    assert set(table.stored) == {"first", "a", "b", "c"}
    # the refused transaction, then each of its rows alone
    assert [(kind, sorted(k)) for kind, k, _ in table.calls[1:2]] == [("transaction", sorted(keys))]
    assert sorted(k[0] for kind, k, _ in table.calls[2:]) == sorted(keys)


def test_two_writes_of_one_row_never_share_a_transaction() -> None:
    table = RecordingTable()
    commit = GroupCommit(table)  # type: ignore[arg-type]
    table.hold.clear()
    first = threading.Thread(target=commit.upsert, args=(_row("first"),))
    first.start()
    assert table.in_flight.wait(5)
    waiting = threading.Thread(target=lambda: _concurrently(
        [lambda v=v: commit.upsert(_row("same", v=v)) for v in range(3)]
        + [lambda: commit.upsert(_row("other"))]))  # fmt: skip
    waiting.start()
    while len(commit._waiting) < 4:
        threading.Event().wait(0.01)
    table.hold.set()
    first.join(5)
    waiting.join(10)
    for _, keys, _ in table.calls:
        assert len(keys) == len(set(keys))
    assert sum(keys.count("same") for _, keys, _ in table.calls) == 3
    assert "other" in table.stored


# -- on Azurite ------------------------------------------------------------------------


@pytest.fixture
def table(azurite: Azurite) -> TableClient:
    client = lean_transactions(TableClient.from_connection_string(
        azurite.connection_string, f"gc{uuid.uuid4().hex[:12]}"))  # fmt: skip
    client.create_table()
    return client


def test_on_azurite_concurrent_writers_share_transactions_and_all_rows_land(
    table: TableClient,
) -> None:
    commit = GroupCommit(table)
    keys = [f"{i:03d}|{uuid.uuid4().hex}" for i in range(40)]
    writes = [lambda k=k: commit.upsert(_row(k, data="x" * 500, open=True)) for k in keys]
    assert _concurrently(writes) == [None] * len(keys)
    stored = {e["RowKey"]: e for e in table.query_entities("PartitionKey eq 'watch'")}
    assert set(stored) == set(keys) and all(e["open"] is True for e in stored.values())
    assert commit.rows == len(keys)
    assert commit.sent < len(keys)  # shared: fewer storage calls than rows


def test_on_azurite_a_row_the_service_refuses_fails_only_its_writer(table: TableClient) -> None:
    commit = GroupCommit(table)
    keys = [f"row{i}" for i in range(12)]
    sizes = {"row5": 70_000}  # a string property over 64 KiB; the others 10 characters
    errors = _concurrently(
        [lambda k=k: commit.upsert(_row(k, data="y" * sizes.get(k, 10))) for k in keys]
    )
    assert [k for k, e in zip(keys, errors, strict=True) if e is not None] == ["row5"]
    assert isinstance(errors[5], HttpResponseError)
    stored = {e["RowKey"] for e in table.query_entities("PartitionKey eq 'watch'")}
    assert stored == set(keys) - {"row5"}
