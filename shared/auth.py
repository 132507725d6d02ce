"""Bearer tokens: JWT signed with AUTH_SIGNING_KEY, algorithm pinned, claims checked.

Expiry and issue time are checked against the injected clock (not the machine's), with a
small leeway for clock skew between instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "weather-jobs"
AUDIENCE = "weather-jobs-api"
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. Only verified users are ever issued a token."""

    user_id: str
    email: str
    is_admin: bool = False


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class TokenService:
    def __init__(self, signing_key: str, ttl_minutes: int) -> None:
        if not signing_key:
            raise RuntimeError("AUTH_SIGNING_KEY is not set; no token can be issued or checked")
        self._key = signing_key
        self._ttl = timedelta(minutes=ttl_minutes)

    def issue(self, user_id: str, email: str, now: datetime) -> IssuedToken:
        claims = {
            "sub": user_id,
            "email": email,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
        }
        import jwt  # lazily: PyJWT pulls in cryptography (~40 ms of cold start)

        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(access_token=token, expires_in=int(self._ttl.total_seconds()))

    def verify(self, token: str, now: datetime) -> dict[str, object]:
        """The token's claims; Unauthorized for anything tampered, forged, expired or odd."""
        import jwt

        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # pinned: "none" and every other algorithm refused
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": ["sub", "iss", "aud", "iat", "exp"],
                    # Times are checked below against the injected clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is not valid") from exc
        timestamp = now.timestamp()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise Unauthorized("The access token is not valid")
        if timestamp > exp + LEEWAY_SECONDS:
            raise Unauthorized("The access token has expired")
        if iat > timestamp + LEEWAY_SECONDS:
            raise Unauthorized("The access token is not valid yet")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("The access token is not valid")
        return claims
