"""Password hashing with Argon2id (argon2-cffi), at the library's RFC 9106 parameters.

``verify`` takes the same time whether or not the account exists: an unknown e-mail is
checked against a dummy hash, so response time does not reveal which addresses have
accounts. ``needs_rehash`` lets login upgrade hashes when the parameters change.

Each hash or check takes ``memory_cost`` KiB (64 MiB by default) and a core for about a
tenth of a second, so at most ``max_concurrent`` run at once in a process (register,
login, rehash and the dummy check all go through here); the others wait for a slot, up to
``wait_seconds``, then get 503 with ``Retry-After`` instead of piling up memory. The cap
is the number of cores (at least 2, at most 8), lowered if a quarter of the machine's
memory would not hold that many.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from shared.domain.errors import UpstreamUnavailable
from shared.logging import get_logger

log = get_logger("app.passwords")

WAIT_SECONDS = 30.0


def default_max_concurrent(memory_cost_kib: int = 65536) -> int:
    """Cores (2..8), no more than a quarter of physical memory holds at ``memory_cost``."""
    cap = min(8, max(2, os.cpu_count() or 1))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return cap
    return max(1, min(cap, memory // 4 // (memory_cost_kib * 1024)))


class PasswordHasher:
    def __init__(
        self,
        *,
        max_concurrent: int | None = None,
        wait_seconds: float = WAIT_SECONDS,
        **parameters: Any,
    ) -> None:
        from argon2 import PasswordHasher as Argon2Hasher

        self._hasher = Argon2Hasher(**parameters)
        self.max_concurrent = max_concurrent or default_max_concurrent(self._hasher.memory_cost)
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._wait_seconds = wait_seconds
        self._count_lock = threading.Lock()
        self.running = 0
        self.peak = 0  # the most hashes seen running at once in this process

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait_seconds):
            log.warning("password hashing busy", extra={"cap": self.max_concurrent})
            raise UpstreamUnavailable(
                "Too many sign-ins are being checked right now; retry shortly", retry_after=2
            )
        try:
            with self._count_lock:
                self.running += 1
                rose = self.running > self.peak
                self.peak = max(self.peak, self.running)
            if rose:  # a line per new high: the peak can be read from the logs
                log.info(
                    "password hashing concurrency peak",
                    extra={"hash_peak": self.peak, "hash_cap": self.max_concurrent},
                )
            yield
        finally:
            with self._count_lock:
                self.running -= 1
            self._slots.release()

    def hash(self, password: str) -> str:
        with self._slot():
            return str(self._hasher.hash(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with no hash, burn the same time and say no."""
        from argon2.exceptions import InvalidHashError, VerificationError

        checked = password_hash if password_hash is not None else self._dummy_hash
        with self._slot():
            try:
                self._hasher.verify(checked, password)
            except (VerificationError, InvalidHashError):
                return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(password_hash))

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hash(secrets.token_urlsafe(16))
