"""Password hashing with Argon2id (argon2-cffi), at the library's RFC 9106 parameters.

``verify`` takes the same time whether or not the account exists: an unknown e-mail is
checked against a dummy hash, so response time does not reveal which addresses have
accounts. ``needs_rehash`` lets login upgrade hashes when the parameters change.
"""

from __future__ import annotations

import secrets
import threading
from functools import cached_property
from typing import Any


class PasswordHasher:
    def __init__(self, **parameters: Any) -> None:
        from argon2 import PasswordHasher as Argon2Hasher

        self._hasher = Argon2Hasher(**parameters)
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return str(self._hasher.hash(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with no hash, burn the same time and say no."""
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(password_hash))

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hash(secrets.token_urlsafe(16))
