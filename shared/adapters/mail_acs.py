"""Mail through Azure Communication Services (the e-mail SDK, imported on first use).

Authenticates with ``ACS_CONNECTION_STRING`` (an access key) or, with only
``ACS_ENDPOINT``, with the app's managed identity (the container's one credential).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

from shared.domain.errors import DeliveryFailed

SEND_TIMEOUT_SECONDS = 60


class AcsMailer:
    name = "acs"

    def __init__(
        self,
        connection_string: str | None,
        endpoint: str | None,
        credential: Callable[[], TokenCredential] | None = None,
    ) -> None:
        """``credential``: the process's token credential, asked for when the client is
        built for ``endpoint`` (the container passes its one managed identity)."""
        if not connection_string and not endpoint:
            raise ValueError(
                "ACS_CONNECTION_STRING or ACS_ENDPOINT is required for EMAIL_PROVIDER=acs"
            )
        self._connection_string = connection_string
        self._endpoint = endpoint
        self._credential = credential
        self._client: Any = None
        self._lock = threading.Lock()

    def _email_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from azure.communication.email import EmailClient

                    if self._connection_string:
                        self._client = EmailClient.from_connection_string(self._connection_string)
                    elif self._credential is not None:
                        self._client = EmailClient(str(self._endpoint), self._credential())
                    else:
                        from azure.identity import DefaultAzureCredential

                        self._client = EmailClient(str(self._endpoint), DefaultAzureCredential())
        return self._client

    def send(self, message: EmailMessage) -> None:
        from azure.core.exceptions import AzureError

        plain = message.get_body(preferencelist=("plain",))
        rich = message.get_body(preferencelist=("html",))
        payload = {
            "senderAddress": str(message["From"]),
            "recipients": {"to": [{"address": str(message["To"])}]},
            "content": {
                "subject": str(message["Subject"]),
                "plainText": plain.get_content() if plain is not None else "",
                "html": rich.get_content() if rich is not None else None,
            },
        }
        try:
            poller = self._email_client().begin_send(payload)
            result = poller.result(timeout=SEND_TIMEOUT_SECONDS)
        except AzureError as exc:
            raise DeliveryFailed(f"ACS e-mail failed: {type(exc).__name__}") from exc
        status = (result or {}).get("status")
        if status != "Succeeded":
            raise DeliveryFailed(f"ACS e-mail ended with status {status!r}")
