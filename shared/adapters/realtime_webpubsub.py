"""The RealtimePublisher on Azure Web PubSub (azure-messaging-webpubsubservice).

One ``WebPubSubServiceClient`` per process, built by the container: from
``WEBPUBSUB_CONNECTION_STRING`` (an access key: locally the emulator of devtools/webpubsub.py)
or from ``WEBPUBSUB_ENDPOINT`` with a token credential (managed identity in Azure). The SDK
is imported when the adapter is built, never at module import (cold start).

- Messages go as JSON (``content_type="application/json"``): a client of the
  ``json.webpubsub.azure.v1`` subprotocol receives ``dataType: "json"`` with the object.
- ``client_url`` asks for a token that names the user and the groups the connection joins
  at connect, and NO roles: such a connection cannot join, leave or send to any group (the
  service acks those requests with ``Forbidden``). With a key the SDK signs the token
  itself; with a credential it asks the service (``:generateToken``).
- Calls fail fast (short timeouts, one quick retry): a publish sits in a request or a job
  transition, whose callers log a failure and go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared import telemetry

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

JSON = "application/json"
# Fail fast: connection refused costs ~0.3 s in all, a hung service at most the timeouts.
_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 3,
    "read_timeout": 5,
    "retry_total": 1,
    "retry_backoff_factor": 0.2,
}


class WebPubSubPublisher:
    def __init__(self, client: WebPubSubServiceClient) -> None:
        self.client = client

    @classmethod
    def from_connection_string(cls, connection_string: str, hub: str) -> WebPubSubPublisher:
        from azure.messaging.webpubsubservice import WebPubSubServiceClient

        return cls(
            WebPubSubServiceClient.from_connection_string(
                connection_string, hub=hub, **_CLIENT_OPTIONS
            )
        )

    @classmethod
    def from_endpoint(
        cls, endpoint: str, hub: str, credential: TokenCredential
    ) -> WebPubSubPublisher:
        from azure.messaging.webpubsubservice import WebPubSubServiceClient

        return cls(WebPubSubServiceClient(endpoint, hub, credential, **_CLIENT_OPTIONS))

    def send_to_group(self, group: str, message: dict[str, Any]) -> None:
        self.client.send_to_group(group, message, content_type=JSON)
        telemetry.count("realtime.messages_sent", event=str(message.get("event")), to="group")

    def send_to_user(self, user_id: str, message: dict[str, Any]) -> None:
        self.client.send_to_user(user_id, message, content_type=JSON)
        telemetry.count("realtime.messages_sent", event=str(message.get("event")), to="user")

    def add_user_to_group(self, group: str, user_id: str) -> None:
        self.client.add_user_to_group(group, user_id)

    def remove_user_from_group(self, group: str, user_id: str) -> None:
        self.client.remove_user_from_group(group, user_id)

    def client_url(self, user_id: str, groups: Sequence[str], minutes: int) -> str:
        token = self.client.get_client_access_token(
            user_id=user_id, groups=list(groups), minutes_to_expire=minutes
        )
        return str(token["url"])
