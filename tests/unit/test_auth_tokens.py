"""Bearer tokens: pinned algorithm, claims, expiry against the injected clock."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import ALGORITHM, AUDIENCE, ISSUER, LEEWAY_SECONDS, TokenService
from shared.domain.errors import Unauthorized
from tests.conftest import TEST_SIGNING_KEY

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(TEST_SIGNING_KEY, ttl_minutes=60)


def test_issued_token_verifies_with_its_claims(tokens: TokenService) -> None:
    issued = tokens.issue("user-1", "a@example.com", NOW)
    assert issued.expires_in == 3600
    claims = tokens.verify(issued.access_token, NOW + timedelta(minutes=59))
    assert claims["sub"] == "user-1" and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE


def test_expired_token_is_refused_after_the_leeway(tokens: TokenService) -> None:
    token = tokens.issue("user-1", "a@example.com", NOW).access_token
    tokens.verify(token, NOW + timedelta(minutes=60, seconds=LEEWAY_SECONDS - 1))
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(token, NOW + timedelta(minutes=60, seconds=LEEWAY_SECONDS + 1))


def test_token_from_the_future_is_refused(tokens: TokenService) -> None:
    token = tokens.issue("user-1", "a@example.com", NOW + timedelta(hours=1)).access_token
    with pytest.raises(Unauthorized):
        tokens.verify(token, NOW)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_unsigned_alg_none_token_is_refused(tokens: TokenService) -> None:
    claims = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 600,
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(Unauthorized):
        tokens.verify(unsigned, NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"sub": None},
        {"exp": None},
    ],
)
def test_wrong_or_missing_claims_are_refused(tokens: TokenService, change: dict) -> None:
    claims = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 600,
    }
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    token = jwt.encode(claims, TEST_SIGNING_KEY, algorithm=ALGORITHM)
    with pytest.raises(Unauthorized):
        tokens.verify(token, NOW)


def test_other_algorithm_is_refused_even_with_the_right_key(tokens: TokenService) -> None:
    claims = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 600,
    }
    token = jwt.encode(claims, TEST_SIGNING_KEY, algorithm="HS512")
    with pytest.raises(Unauthorized):
        tokens.verify(token, NOW)


def test_tampered_payload_is_refused(tokens: TokenService) -> None:
    header, _, signature = tokens.issue("user-1", "a@example.com", NOW).access_token.split(".")
    payload = _b64(
        {
            "sub": "admin",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(NOW.timestamp()),
            "exp": int(NOW.timestamp()) + 600,
        }
    )
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{payload}.{signature}", NOW)


def test_no_key_means_no_tokens() -> None:
    with pytest.raises(RuntimeError, match="AUTH_SIGNING_KEY"):
        TokenService("", 60)
