"""A real SMTP server on loopback for tests (aiosmtpd), collecting what it receives.

with SmtpServer(delay=5) as smtp:      # holds each message 5 s before accepting it
    ... smtp.port ... smtp.messages() ... smtp.wait_for(1)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import errno
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devtools.azurite import free_port, start_on_free_ports


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server._lock:
            self.server._messages.append(message)  # type: ignore[arg-type]
            self.server._recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _address_in_use(error: Exception) -> bool:
    return isinstance(error, OSError) and error.errno == errno.EADDRINUSE


class SmtpServer:
    def __init__(
        self, delay: float = 0, credentials: tuple[str, str] | None = None,
        ready_timeout: float = 10,
    ) -> None:  # fmt: skip
        self.delay = delay
        self.ready_timeout = ready_timeout  # a port taken before the bind costs this long
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._recipients: list[list[str]] = []
        self._credentials = credentials
        self._controller = self._controller_on(self.port)

    def _controller_on(self, port: int) -> Controller:
        kwargs: dict[str, Any] = {}
        if self._credentials:
            kwargs.update(
                authenticator=self._authenticate, auth_require_tls=False, auth_required=True
            )
        return Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=port,
            ready_timeout=self.ready_timeout,
            **kwargs,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self._credentials is not None:
            login, password = self._credentials
            if auth_data.login.decode() == login and auth_data.password.decode() == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        """Listen; on another free port if the one chosen was taken before the bind (the
        race devtools.azurite.start_on_free_ports describes)."""

        def choose_again() -> None:
            self.port = free_port()
            self._controller = self._controller_on(self.port)

        # a lambda: choose_again replaces the controller, whose start is then the one to call
        start_on_free_ports(lambda: self._controller.start(), _address_in_use, choose_again)
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages()
            if len(messages) >= count:
                return messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages())}")

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
