"""RealtimePublishers without a service.

``MemoryRealtimePublisher`` records every call (unit tests; ``fail`` makes calls raise),
and delivers like the service to connections made with ``connect(client_url)``: a
connection is its URL's user in its URL's groups; a group change of a user changes that
user's connections; each message is delivered to each connection once, in order.
``DisabledRealtimePublisher`` is what the container wires when no WEBPUBSUB_* setting is
set: pushes go nowhere (logged at debug), and there is no client URL to hand out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from shared.domain.errors import UpstreamUnavailable
from shared.logging import get_logger

log = get_logger("app.realtime")


class RealtimeError(Exception):
    """What the memory publisher raises when told to fail."""


@dataclass(eq=False)
class MemoryConnection:
    user_id: str
    groups: set[str]
    messages: list[dict[str, Any]] = field(default_factory=list)


class MemoryRealtimePublisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []
        self.groups: dict[str, set[str]] = {}  # group -> user ids, as add/remove leave them
        self.connections: list[MemoryConnection] = []
        self.fail = False

    def connect(self, url: str) -> MemoryConnection:
        """A client connection made with a URL of ``client_url``."""
        query = parse_qsl(urlsplit(url).query)
        user = next(v for k, v in query if k == "user")
        conn = MemoryConnection(user, {v for k, v in query if k == "group"})
        with self._lock:
            self.connections.append(conn)
        return conn

    def _deliver(self, message: dict[str, Any], to: Any) -> None:
        message = json.loads(json.dumps(message))  # what goes over the wire: JSON, a copy
        with self._lock:
            for conn in self.connections:
                if to(conn):
                    conn.messages.append(message)

    def _record(self, *call: Any) -> None:
        with self._lock:
            if self.fail:
                raise RealtimeError(f"{call[0]} failed (simulated)")
            self.calls.append(call)

    def send_to_group(self, group: str, message: dict[str, Any]) -> None:
        self._record("send_to_group", group, message)
        self._deliver(message, lambda conn: group in conn.groups)

    def send_to_user(self, user_id: str, message: dict[str, Any]) -> None:
        self._record("send_to_user", user_id, message)
        self._deliver(message, lambda conn: conn.user_id == user_id)

    def add_user_to_group(self, group: str, user_id: str) -> None:
        self._record("add_user_to_group", group, user_id)
        with self._lock:
            self.groups.setdefault(group, set()).add(user_id)
            for conn in self.connections:
                if conn.user_id == user_id:
                    conn.groups.add(group)

    def remove_user_from_group(self, group: str, user_id: str) -> None:
        self._record("remove_user_from_group", group, user_id)
        with self._lock:
            self.groups.get(group, set()).discard(user_id)
            for conn in self.connections:
                if conn.user_id == user_id:
                    conn.groups.discard(group)

    def client_url(self, user_id: str, groups: Sequence[str], minutes: int) -> str:
        self._record("client_url", user_id, tuple(groups), minutes)
        query = urlencode([("user", user_id), *(("group", g) for g in groups)])
        return f"ws://memory.invalid/client/hubs/{quote('weather')}?{query}"

    def sent_to_group(self, group: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [
                (c[1], c[2]) for c in self.calls
                if c[0] == "send_to_group" and (group is None or c[1] == group)
            ]  # fmt: skip


class DisabledRealtimePublisher:
    def send_to_group(self, group: str, message: dict[str, Any]) -> None:
        log.debug("real time is off; not sent", extra={"group": group})

    def send_to_user(self, user_id: str, message: dict[str, Any]) -> None:
        log.debug("real time is off; not sent")

    def add_user_to_group(self, group: str, user_id: str) -> None:
        pass

    def remove_user_from_group(self, group: str, user_id: str) -> None:
        pass

    def client_url(self, user_id: str, groups: Sequence[str], minutes: int) -> str:
        raise UpstreamUnavailable(
            "Real time is not configured (WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ENDPOINT)",
            retry_after=None,
        )
