"""Ports: the Protocols the services need. Adapters implement them; fakes stand in for tests.

Each area adds its own ports here (repositories, queue, archive, weather, mailer,
sentiment, publisher). Services depend on these, never on an SDK.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Time is injected: services ask the clock, tests move it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class MessageQueue(Protocol):
    """A Storage queue as the services see it (messages are base64-encoded on the wire)."""

    def send(self, body: str, *, visibility_timeout: int | None = None) -> None:
        """Enqueue ``body``; with ``visibility_timeout`` it stays invisible that many seconds."""
        ...
