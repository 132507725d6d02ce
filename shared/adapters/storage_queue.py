"""The MessageQueue port on an Azure Storage queue (base64, as the Functions trigger expects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient


class StorageMessageQueue:
    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @property
    def name(self) -> str:
        return self._client.queue_name

    def send(self, body: str, *, visibility_timeout: int | None = None) -> None:
        self._client.send_message(body, visibility_timeout=visibility_timeout)
