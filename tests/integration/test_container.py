"""The container against a real Azurite: clients built once, resources created once."""

from __future__ import annotations

import uuid

from shared.container import Container


def test_clients_are_built_once_per_process(make_container) -> None:
    c: Container = make_container()
    assert c.table_service is c.table_service
    name = "t" + uuid.uuid4().hex[:12]
    assert c.table(name) is c.table(name)
    assert c.queue_client(f"q-{name}") is c.queue_client(f"q-{name}")


def test_queue_messages_are_base64_on_the_wire(make_container, azurite) -> None:
    from azure.storage.queue import QueueClient

    c: Container = make_container()
    name = "q-" + uuid.uuid4().hex[:12]
    c.queue(name).send('{"hello": "wörld"}')
    raw = QueueClient.from_connection_string(azurite.connection_string, name)
    message = next(iter(raw.receive_messages()))
    import base64

    assert base64.b64decode(message.content).decode() == '{"hello": "wörld"}'


# -- first use on a new instance: no create call for what exists (issue 21) ---------------


def _count_calls(monkeypatch, cls: type, method: str) -> list[str]:
    """Record each call of ``cls.method`` (the real one still runs)."""
    calls: list[str] = []
    real = getattr(cls, method)

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(getattr(self, "table_name", None) or getattr(self, "queue_name", None)
                     or getattr(self, "container_name", ""))  # fmt: skip
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, spy)
    return calls


def test_after_the_health_probe_existing_resources_are_not_created_again(
    make_container, monkeypatch
) -> None:
    from azure.data.tables import TableClient
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueClient

    name = "t" + uuid.uuid4().hex[:12]
    setup: Container = make_container()
    setup.table(name), setup.queue_client(f"q-{name}"), setup.blob_container(f"b-{name}")

    creates = [
        _count_calls(monkeypatch, TableClient, "create_table"),
        _count_calls(monkeypatch, QueueClient, "create_queue"),
        _count_calls(monkeypatch, ContainerClient, "create_container"),
    ]
    fresh: Container = make_container()  # a new instance of the app
    for probe in fresh.storage_probes().values():  # what GET /api/health runs
        probe()
    fresh.table(name)
    fresh.queue_client(f"q-{name}")
    fresh.blob_container(f"b-{name}")
    assert creates == [[], [], []]
    # What does not exist yet is still created, once.
    fresh.table(name + "x")
    fresh.queue_client(f"q-{name}x")
    fresh.blob_container(f"b-{name}x")
    assert creates == [[name + "x"], [f"q-{name}x"], [f"b-{name}x"]]
    assert name + "x" in {t.name for t in fresh.table_service.list_tables()}


def test_without_the_probe_one_listing_replaces_a_create_per_table(
    make_container, monkeypatch
) -> None:
    from azure.data.tables import TableClient, TableServiceClient

    names = ["t" + uuid.uuid4().hex[:12] for _ in range(4)]
    setup: Container = make_container()
    for name in names:
        setup.table(name)
    creates = _count_calls(monkeypatch, TableClient, "create_table")
    listings = _count_calls(monkeypatch, TableServiceClient, "list_tables")
    fresh: Container = make_container()
    for name in names:
        fresh.table(name)
    assert creates == [] and len(listings) == 1


def test_a_refused_listing_falls_back_to_creating(make_container, monkeypatch) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.data.tables import TableServiceClient

    def refuse(self, **kwargs):  # type: ignore[no-untyped-def]
        raise HttpResponseError("This request is not authorized to perform this operation.")

    monkeypatch.setattr(TableServiceClient, "list_tables", refuse)
    c: Container = make_container()
    name = "t" + uuid.uuid4().hex[:12]
    c.table(name).upsert_entity({"PartitionKey": "p", "RowKey": "r"})  # created, usable
    assert c.table(name).get_entity("p", "r")["RowKey"] == "r"


def test_one_credential_serves_every_identity_client(make_container, monkeypatch) -> None:
    """With endpoints instead of keys, the mailer and the sentiment analyzer use the
    container's one credential (one token cache for the process), not one each."""
    import azure.identity

    made: list[object] = []

    class Counted(azure.identity.DefaultAzureCredential):
        def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
            made.append(self)
            super().__init__(**kwargs)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Counted)
    c: Container = make_container(
        EMAIL_PROVIDER="acs",
        ACS_ENDPOINT="https://example.communication.azure.com",
        SENTIMENT_PROVIDER="azure",
        TEXT_ANALYTICS_ENDPOINT="https://example.cognitiveservices.azure.com",
    )
    c.mailer._email_client()  # type: ignore[attr-defined]
    c.sentiment._text_analytics()  # type: ignore[attr-defined]
    assert made == [c.credential]
