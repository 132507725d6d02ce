"""shared/adapters/table_batch.py against the SDK's own ``TableClient.submit_transaction``
on Azurite: the same operations, the same stored entities, the same results, the same
errors (type, status, error code, the failing operation's index), and on the wire one
request for a transaction that is applied."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from devtools.azurite import Azurite
from shared.adapters.table_batch import submit_transaction
from shared.settings import Settings
from tests.conftest import base_settings_values
from tests.support.counting import CountingContainer

Submit = Callable[[TableClient, list[Any]], list[Any]]
PATHS: dict[str, Submit] = {
    "sdk": lambda table, ops: [dict(r) for r in TableClient.submit_transaction(table, ops)],
    "lean": submit_transaction,
}


@pytest.fixture
def tables(azurite: Azurite) -> Iterator[dict[str, TableClient]]:
    made = {}
    for path in PATHS:
        name = f"batch{path}{uuid.uuid4().hex[:10]}"
        client = TableClient.from_connection_string(azurite.connection_string, name)
        client.create_table()
        made[path] = client
    yield made
    for client in made.values():
        client.delete_table()
        client.close()


def stored(table: TableClient) -> list[dict[str, Any]]:
    return sorted(({**e, "etag": e.metadata["etag"]} for e in table.list_entities()),
                  key=lambda e: e["RowKey"])  # fmt: skip


def run_both(
    tables: dict[str, TableClient], make_ops: Callable[[TableClient], list[Any]],
    sent: dict[str, list[Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Each path's outcome: ("ok", results) or ("error", type, status, code, message head)."""
    outcomes = {}
    for path, submit in PATHS.items():
        table = tables[path]
        ops = make_ops(table)
        if sent is not None:
            sent[path] = ops
        try:
            outcomes[path] = ("ok", submit(table, ops))
        except HttpResponseError as exc:
            head = str(exc).split("\n")[0]
            outcomes[path] = ("error", type(exc).__name__, exc.status_code,
                              getattr(exc, "error_code", None), head)  # fmt: skip
    return outcomes


SEED = [
    {"PartitionKey": "p", "RowKey": "keep", "n": 1},
    {"PartitionKey": "p", "RowKey": "merge", "a": "x", "b": "y"},
    {"PartitionKey": "p", "RowKey": "replace", "a": "x", "b": "y"},
    {"PartitionKey": "p", "RowKey": "gone", "a": "x"},
    {"PartitionKey": "p", "RowKey": "gone-guarded", "a": "x"},
]


def seed(tables: dict[str, TableClient]) -> None:
    for table in tables.values():
        for entity in SEED:
            table.create_entity(entity)


def test_every_kind_of_operation_and_value_ends_the_same(tables: dict[str, TableClient]) -> None:
    seed(tables)
    when = datetime(2026, 12, 3, 23, 30, 1, 123456, tzinfo=UTC)

    def ops(table: TableClient) -> list[Any]:
        guarded = table.get_entity("p", "merge").metadata["etag"]
        gone = table.get_entity("p", "gone-guarded").metadata["etag"]
        return [
            ("create", {"PartitionKey": "p", "RowKey": "new", "text": "é ü 😀 \"q\" \\ </>",
                        "int": 7, "big": EntityProperty(2**40, EdmType.INT64), "float": 1.5,
                        "flag": True, "when": when,
                        "raw": b"\x00\xff bytes", "none": None,
                        "typed": EntityProperty("12", EdmType.INT64)}),
            ("upsert", {"PartitionKey": "p", "RowKey": "upsert-new", "v": 1}),
            ("upsert", {"PartitionKey": "p", "RowKey": "keep", "m": 2}, {"mode": UpdateMode.MERGE}),
            ("update", {"PartitionKey": "p", "RowKey": "merge", "b": "z"},
             {"mode": UpdateMode.MERGE, "etag": guarded,
              "match_condition": MatchConditions.IfNotModified}),
            ("update", {"PartitionKey": "p", "RowKey": "replace", "c": "only"},
             {"mode": UpdateMode.REPLACE}),
            ("delete", {"PartitionKey": "p", "RowKey": "gone"}),
            ("delete", {"PartitionKey": "p", "RowKey": "gone-guarded"},
             {"etag": gone, "match_condition": MatchConditions.IfNotModified}),
        ]  # fmt: skip

    sent: dict[str, list[Any]] = {}
    outcomes = run_both(tables, ops, sent)
    assert outcomes["sdk"][0] == outcomes["lean"][0] == "ok", outcomes
    sdk, lean = outcomes["sdk"][1], outcomes["lean"][1]
    assert [set(r) for r in sdk] == [set(r) for r in lean]  # an ETag where the SDK has one
    rows = {path: stored(tables[path]) for path in PATHS}
    strip = [{k: v for k, v in e.items() if k != "etag"} for e in rows["lean"]]
    assert strip == [{k: v for k, v in e.items() if k != "etag"} for e in rows["sdk"]]
    by_key = {e["RowKey"]: e["etag"] for e in rows["lean"]}
    for (op, entity, *_), result in zip(sent["lean"], lean, strict=True):
        if op != "delete":  # the ETag returned is the stored entity's
            assert result["etag"] == by_key[entity["RowKey"]]
    new = next(e for e in rows["lean"] if e["RowKey"] == "new")
    assert (
        new["text"] == 'é ü 😀 "q" \\ </>'
        and new["big"].value == 2**40
        and new["raw"] == b"\x00\xff bytes"
    )
    assert "none" not in new and new["when"] == when


def _stale(table: TableClient) -> str:
    etag = table.get_entity("p", "merge").metadata["etag"]
    table.upsert_entity({"PartitionKey": "p", "RowKey": "merge", "moved": 1})
    return etag


FAILURES: dict[str, Callable[[TableClient], list[Any]]] = {
    "insert of a taken key": lambda t: [
        ("upsert", {"PartitionKey": "p", "RowKey": "fine"}),
        ("create", {"PartitionKey": "p", "RowKey": "keep"}),
    ],
    "stale ETag": lambda t: [
        ("upsert", {"PartitionKey": "p", "RowKey": "fine"}),
        (
            "update",
            {"PartitionKey": "p", "RowKey": "merge", "b": 1},
            {"etag": _stale(t), "match_condition": MatchConditions.IfNotModified},
        ),
    ],
    "update of a missing entity": lambda t: [
        (
            "update",
            {"PartitionKey": "p", "RowKey": "missing", "b": 1},
            {"mode": UpdateMode.REPLACE},
        ),
    ],
    "delete of a missing entity": lambda t: [("delete", {"PartitionKey": "p", "RowKey": "nope"})],
    "property too large": lambda t: [
        ("upsert", {"PartitionKey": "p", "RowKey": "big", "s": "x" * 40_000}),
    ],
    "the same entity twice": lambda t: [
        ("upsert", {"PartitionKey": "p", "RowKey": "twice"}),
        ("upsert", {"PartitionKey": "p", "RowKey": "twice", "n": 2}),
    ],
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_refused_transaction_raises_what_the_sdk_raises_and_changes_nothing(
    tables: dict[str, TableClient], case: str,
) -> None:  # fmt: skip
    seed(tables)
    before = {path: stored(tables[path]) for path in PATHS}
    outcomes = run_both(tables, FAILURES[case])
    assert outcomes["sdk"][0] == "error", outcomes
    assert outcomes["lean"] == outcomes["sdk"]
    for path in PATHS:
        after = {e["RowKey"]: e for e in stored(tables[path])}
        for entity in before[path]:  # the stale-ETag case moved one row itself, on purpose
            if entity["RowKey"] != "merge":
                assert after[entity["RowKey"]] == entity
        assert {"fine", "twice", "big"}.isdisjoint(after)


def test_an_applied_transaction_is_one_request_and_a_refused_one_is_sent_once_more(
    azurite: Azurite,
) -> None:
    """Through the app's container (every table client it hands out submits this way)."""
    c = CountingContainer(Settings(**base_settings_values(azurite.connection_string)))
    table = c.table(f"batchwire{uuid.uuid4().hex[:8]}")
    mark = c.calls.mark()
    results = table.submit_transaction([("create", {"PartitionKey": "w", "RowKey": str(n)})
                                        for n in range(5)])  # fmt: skip
    calls = c.calls.since(mark)
    assert len(calls) == 1 and calls[0].operations == ["POST"] * 5 and len(results) == 5
    mark = c.calls.mark()
    with pytest.raises(HttpResponseError) as refused:
        table.submit_transaction([("create", {"PartitionKey": "w", "RowKey": "0"})])
    assert refused.value.status_code == 409
    assert len(c.calls.since(mark)) == 2  # ours, then the SDK's for its own error
    table.delete_table()
