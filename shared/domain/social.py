"""Social sign-in (OpenID Connect): the records and rules. Pure: no I/O, no clock reads.

A sign-in is two round trips through the browser:

1. ``/api/auth/{provider}/login`` makes a *pending sign-in* (state, nonce, PKCE verifier,
   the redirect URI used, a hash of the browser-binding cookie) stored server side under
   its state, and sends the browser to the provider;
2. ``/api/auth/{provider}/callback`` takes the pending sign-in of the returned state
   (single use), has the code exchanged and the ID token checked, finds or creates the
   account by the verified e-mail, and stores a *login grant* under the hash of a fresh
   one-time login code that the page exchanges at ``/api/auth/token`` (single use, 60 s).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.errors import AppError

PENDING_TTL = timedelta(minutes=10)  # time to sign in at the provider
LOGIN_CODE_TTL = timedelta(seconds=60)  # API.md: the login code lives 60 s

# Random values: 32 bytes of the OS CSPRNG, base64url (43 characters, Table-key safe).
_TOKEN_BYTES = 32
STATE_PATTERN = r"^[A-Za-z0-9_-]{43}$"


def new_secret() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def digest(value: str) -> str:
    """What is stored of a bearer secret (the login code, the binding cookie): its SHA-256.
    The values are 256-bit random, so no salt or slow hash is needed."""
    return hashlib.sha256(value.encode()).hexdigest()


def same_digest(stored: str, value: str) -> bool:
    return hmac.compare_digest(stored, digest(value))


class SignInFailed(Exception):
    """A sign-in that ends on the web page with ``#error=<slug>`` (not a problem+json:
    the callback is a browser navigation)."""

    def __init__(self, slug: str, detail: str = "") -> None:
        super().__init__(detail or slug)
        self.slug = slug
        self.detail = detail or slug


# The slugs the page can receive in ``#error=``.
ACCESS_DENIED = "access-denied"  # the user cancelled or the provider refused
INVALID_STATE = "invalid-state"  # unknown, used, expired, tampered or from another browser
EMAIL_NOT_VERIFIED = "email-not-verified"  # the provider does not vouch for the address
PROVIDER_ERROR = "provider-error"  # the provider failed, or its answer did not check out
UNKNOWN_PROVIDER = "unknown-provider"  # not (or no longer) in OAUTH_PROVIDERS
# The address's account is linked to another identity of this provider (the provider gave
# the address to someone else, or two provider accounts share it): not signed in.
IDENTITY_MISMATCH = "identity-mismatch"


class IdentityLinkedElsewhere(Exception):
    """The account already has an identity of this issuer, with another subject."""


class InvalidLoginCode(AppError):
    status, slug, title = 400, "invalid-login-code", "The login code is wrong, expired or used"


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    provider: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    binding_hash: str  # SHA-256 of the browser-binding cookie (login CSRF)
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class LoginGrant:
    code_hash: str
    user_id: str
    expires_at: datetime
    # SHA-256 of the binding cookie of the browser that signed in: only that browser can
    # exchange the code (login CSRF: an attacker's code sent to a victim is refused).
    binding_hash: str = ""

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class ProviderIdentity:
    """What the provider vouches for, from a checked ID token (or its userinfo)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    nonce: str  # as the ID token carries it (the service compares it with its own)


def identity_key(issuer: str, subject: str) -> str:
    """The key of a provider identity: SHA-256 of issuer and subject (Table-key safe; an
    issuer is a URL, a subject any string up to 255 characters)."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()


def issuer_key(issuer: str) -> str:
    return hashlib.sha256(issuer.encode()).hexdigest()[:40]


def claims_email_verified(claims: dict[str, object]) -> bool:
    """Whether the provider says the address is verified.

    ``email_verified`` (OIDC Core) must be true (some providers send the string "true").
    Entra ID sends no ``email_verified``; it can send the optional claim ``xms_edov``
    (e-mail domain owner verified), which counts when true.
    """
    for name in ("email_verified", "xms_edov"):
        value = claims.get(name)
        if value is True or (isinstance(value, str) and value.lower() in ("true", "1")):
            return True
    return False
