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
