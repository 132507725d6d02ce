"""In-memory stand-ins of our own ports that have no adapter module of their own."""

from __future__ import annotations

import threading
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from shared.domain.errors import DeliveryFailed


class MemoryQueue:
    """A MessageQueue that keeps what was sent."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.messages: list[tuple[str, int | None]] = []
        self._lock = threading.Lock()

    def send(self, body: str, *, visibility_timeout: int | None = None) -> None:
        with self._lock:
            self.messages.append((body, visibility_timeout))

    def bodies(self) -> list[str]:
        with self._lock:
            return [body for body, _ in self.messages]


class RecordingMailer:
    """A Mailer that keeps messages, and fails on demand."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures_left = 0

    def send(self, message: EmailMessage) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise DeliveryFailed("mail server down (simulated)")
        self.sent.append(message)


class MemoryJobOutputs:
    """A JobOutputStore in a dict, with the Blob adapter's references."""

    def __init__(self, container: str = "job-outputs") -> None:
        self.prefix = f"{container}/"
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes, content_type: str) -> str:
        with self._lock:
            self.blobs[name] = (bytes(data), content_type)
        return self.prefix + name

    def get(self, reference: str) -> bytes:
        from shared.domain.errors import NotFound

        with self._lock:
            found = self.blobs.get(reference.removeprefix(self.prefix))
        if not reference.startswith(self.prefix) or found is None:
            raise NotFound("No such output")
        return found[0]


class MemoryObservationCache:
    """An ObservationCache in a dict (what the Table cache keeps, without the table)."""

    def __init__(self) -> None:
        from shared.domain.weather import CachedObservation

        self.entries: dict[tuple[str, str, str], CachedObservation] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, units: str, city_id: str) -> Any:
        with self._lock:
            return self.entries.get((provider, units, city_id))

    def put(self, provider: str, units: str, entry: Any) -> None:
        with self._lock:
            self.entries[(provider, units, entry.city.id)] = entry


class MemoryGeocodeCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Any] = {}

    def get(self, provider: str, key: str, now: datetime) -> tuple[bool, Any]:
        if (provider, key) in self.entries:
            return True, self.entries[(provider, key)]
        return False, None

    def put(self, provider: str, key: str, city: Any, now: datetime) -> None:
        self.entries[(provider, key)] = city


class MemoryHistory:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def add(self, user_id: str, city_name: str, country: str, city_id: str, when: datetime) -> str:
        self.entries.append((user_id, city_id))
        return str(len(self.entries))
