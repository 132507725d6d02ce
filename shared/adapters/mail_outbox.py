"""Mail to files: each message becomes an ``.eml`` in a folder (the local default).

Lets a developer read the verification code without any mail server: open the newest
file in ``EMAIL_OUTBOX_DIR`` (``.outbox/`` by default), or `make outbox`.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from shared.domain.errors import DeliveryFailed


class OutboxMailer:
    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: a reader never sees half a message.
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            os.replace(temporary, target)
        except OSError as exc:
            raise DeliveryFailed(f"outbox {self.folder} is not writable: {exc}") from exc
