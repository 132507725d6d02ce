"""One contract for the JobOutputStore port, run against the in-memory fake and against
the Blob adapter on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shared.adapters.blob_outputs import CONTAINER, BlobJobOutputs
from shared.container import Container
from shared.domain.errors import NotFound
from shared.ports import JobOutputStore
from tests.support.fakes import MemoryJobOutputs


@pytest.fixture(params=["memory", "blob"])
def store(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> Any:
    if request.param == "memory":
        return MemoryJobOutputs()
    return BlobJobOutputs(make_container().blob_container(CONTAINER))


def test_what_is_put_is_got_back_by_its_reference(store: JobOutputStore) -> None:
    name = f"results/u-{uuid.uuid4().hex}/job.json"
    data = '{"text": "Съешь ещё"}'.encode()
    reference = store.put(name, data, "application/json")
    assert reference == f"{CONTAINER}/{name}"
    assert store.get(reference) == data
    assert store.put(name, b"{}", "application/json") == reference  # overwrites
    assert store.get(reference) == b"{}"


def test_an_unknown_or_foreign_reference_is_not_found(store: JobOutputStore) -> None:
    with pytest.raises(NotFound):
        store.get(f"{CONTAINER}/results/nobody/{uuid.uuid4().hex}.json")
    name = f"exports/u-{uuid.uuid4().hex}/x.csv"
    store.put(name, b"a,b\n", "text/csv")
    for foreign in (name, f"weather-raw/{name}", f"other/{name}", ""):
        with pytest.raises(NotFound):
            store.get(foreign)


def test_the_container_wires_the_blob_adapter(make_container: Callable[..., Container]) -> None:
    c = make_container()
    assert isinstance(c.job_outputs, BlobJobOutputs)
    assert c.job_service.kinds.outputs is c.job_outputs
