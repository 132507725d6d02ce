"""Storage clients for the host's own work (queue polling, timer status), from a binding's
``connection`` setting, resolved the way the Functions host resolves it:

- ``<connection>`` holds a connection string (``UseDevelopmentStorage=true`` means Azurite
  on its default ports), or
- ``<connection>__queueServiceUri`` / ``__blobServiceUri`` / ``__accountName`` name the
  account and ``DefaultAzureCredential`` signs in (``__clientId`` picks a user identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from devtools.azurite import DEFAULT_PORTS
from devtools.azurite import connection_string as azurite_connection_string

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

_TIMEOUTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 30}


def _options() -> dict[str, Any]:
    from shared.settings import storage_client_options

    return storage_client_options(**_TIMEOUTS)


def _lookup(settings: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in settings.items():
        if key.lower() == lowered and value:
            return value
    return None


def connection_string(settings: Mapping[str, str], connection: str) -> str | None:
    value = _lookup(settings, connection or "AzureWebJobsStorage")
    if value is None:
        return None
    if value.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return azurite_connection_string(*DEFAULT_PORTS)
    return value


def _identity_uri(settings: Mapping[str, str], connection: str, service: str) -> tuple[str, Any]:
    prefix = connection or "AzureWebJobsStorage"
    uri = _lookup(settings, f"{prefix}__{service}ServiceUri")
    account = _lookup(settings, f"{prefix}__accountName")
    if not uri and account:
        uri = f"https://{account}.{service}.core.windows.net"
    if not uri:
        raise ValueError(
            f"storage connection {prefix!r} is not configured: set {prefix} to a connection "
            f"string, or {prefix}__accountName / {prefix}__{service}ServiceUri"
        )
    from azure.identity import DefaultAzureCredential

    client_id = _lookup(settings, f"{prefix}__clientId")
    credential = (
        DefaultAzureCredential(managed_identity_client_id=client_id)
        if client_id
        else DefaultAzureCredential()
    )
    return uri, credential


def queue_service(settings: Mapping[str, str], connection: str) -> QueueServiceClient:
    """A queue service client with no message encoding: the host sees messages raw."""
    from azure.storage.queue import QueueServiceClient

    text = connection_string(settings, connection)
    if text:
        return QueueServiceClient.from_connection_string(text, **_options())
    uri, credential = _identity_uri(settings, connection, "queue")
    return QueueServiceClient(uri, credential=credential, **_options())


def blob_service(settings: Mapping[str, str], connection: str) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    text = connection_string(settings, connection)
    if text:
        return BlobServiceClient.from_connection_string(text, **_options())
    uri, credential = _identity_uri(settings, connection, "blob")
    return BlobServiceClient(uri, credential=credential, **_options())
