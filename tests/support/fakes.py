"""In-memory stand-ins of our own ports that have no adapter module of their own."""

from __future__ import annotations

import threading
from email.message import EmailMessage

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
