"""The ID token checks of the Authlib adapter (shared/adapters/oidc_authlib.py), on tokens
signed here with joserfc: signature by the JWKS, algorithm, iss, aud, exp, nonce."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey

from shared.adapters.oidc_authlib import check_id_token

ISSUER, CLIENT, NONCE = "https://id.example.net", "app-client", "n-0123456789"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
NOW = int(time.time())


def jwks() -> dict[str, Any]:
    return {"keys": [KEY.as_dict(private=False)]}


def token(key: Any = KEY, alg: str = "RS256", **changes: Any) -> str:
    claims = {"iss": ISSUER, "sub": "u1", "aud": CLIENT, "iat": NOW, "exp": NOW + 300,
              "nonce": NONCE, "email": "alice@example.com", "email_verified": True}  # fmt: skip
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key)


def check(value: str, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT, "nonce": NONCE,
                            "now": datetime.fromtimestamp(NOW, UTC)}  # fmt: skip
    args.update(kwargs)
    return check_id_token(value, jwks(), **args)


def test_a_good_token_gives_its_claims() -> None:
    claims = check(token())
    assert claims["email"] == "alice@example.com" and claims["sub"] == "u1"
    assert check(token(aud=[CLIENT]))["sub"] == "u1"


@pytest.mark.parametrize(
    "bad",
    [
        {"key": OTHER_KEY},  # signed by someone else
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "another-client"},
        {"aud": None},
        {"exp": NOW - 120},  # past the 60 s leeway
        {"exp": None},
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"sub": None},
    ],
)
def test_a_bad_token_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(JoseError):
        check(token(**bad))


def test_symmetric_or_unsigned_tokens_are_refused_whatever_discovery_says() -> None:
    secret = OctKey.import_key("a-client-secret-that-is-long-enough-32b")
    claims = {"iss": ISSUER, "sub": "u1", "aud": CLIENT, "exp": NOW + 60, "iat": NOW,
              "nonce": NONCE}  # fmt: skip
    forged = jwt.encode({"alg": "HS256", "kid": "k1"}, claims, secret)
    with pytest.raises(JoseError):
        check(forged, algorithms=("HS256", "RS256"))
    header, payload, _ = token().split(".")
    with pytest.raises(JoseError):
        check(f"{header}.{payload}.", algorithms=("none", "RS256"))


def test_at_hash_binds_the_access_token() -> None:
    import base64
    import hashlib

    access = "an-access-token"
    half = hashlib.sha256(access.encode()).digest()[:16]
    at_hash = base64.urlsafe_b64encode(half).decode().rstrip("=")
    assert check(token(at_hash=at_hash), access_token=access)["sub"] == "u1"
    with pytest.raises(JoseError):
        check(token(at_hash=at_hash), access_token="another-access-token")


@pytest.mark.parametrize("advertised", [("HS256",), ("none",), (), ("HS256", "none", "HS512")])
def test_item4_an_rs256_token_is_refused_when_discovery_advertises_no_asymmetric_alg(
    advertised: tuple[str, ...],
) -> None:
    """Issue 18, item 4: with only HS256 advertised, the allow-list (advertised AND
    asymmetric) was empty, and joserfc took an empty list as "its defaults", which
    accepted this RS256 token. Now an empty intersection refuses, before any check."""
    from shared.adapters.oidc_authlib import NoAcceptableAlgorithm, accepted_algorithms

    with pytest.raises(NoAcceptableAlgorithm):
        check(token(), algorithms=advertised)
    with pytest.raises(NoAcceptableAlgorithm):
        accepted_algorithms(advertised)
    assert accepted_algorithms(("HS256", "ES256", "RS256")) == ("ES256", "RS256")
    assert check(token(), algorithms=("HS256", "RS256"))["sub"] == "u1"


class _Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict[str, Any]:
        return self._body


class _Provider:
    """Discovery and a JWKS as a provider serves them, counting the JWKS fetches."""

    def __init__(self) -> None:
        self.keys = jwks()
        self.fetches: list[str] = []

    def get(self, url: str, **kwargs: Any) -> _Answer:
        self.fetches.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return _Answer({
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
            })  # fmt: skip
        return _Answer(self.keys)


def test_item4_the_jwks_lives_an_hour_and_unknown_key_ids_refresh_it_at_most_every_5_min() -> None:
    """Issue 18, item 4: the JWKS was kept for the process's life (a key the provider
    dropped stayed trusted), and every token with an unknown ``kid`` fetched it again."""
    from datetime import timedelta

    from pydantic import SecretStr

    from shared.adapters.oidc_authlib import AuthlibIdentityProvider
    from shared.settings import OAuthProvider

    provider = OAuthProvider(name="p", display_name="P", issuer=ISSUER, client_id=CLIENT,
                             client_secret=SecretStr("s"))  # fmt: skip
    upstream = _Provider()
    adapter = AuthlibIdentityProvider(upstream)  # type: ignore[arg-type]
    start = datetime.fromtimestamp(NOW, UTC)
    assert adapter.key_set(provider, start) == jwks()
    for minutes in (1, 30, 59):
        adapter.key_set(provider, start + timedelta(minutes=minutes))
    assert adapter.jwks_fetches == 1
    upstream.keys = {"keys": [OTHER_KEY.as_dict(private=False)]}  # rotated
    for seconds in (10, 60, 200):  # forged kids: no fetch within 5 min of the last
        assert adapter.key_set(provider, start + timedelta(seconds=seconds), refresh=True) == jwks()
    assert adapter.jwks_fetches == 1
    rotated = adapter.key_set(provider, start + timedelta(minutes=6), refresh=True)
    assert rotated == upstream.keys and adapter.jwks_fetches == 2
    adapter.key_set(provider, start + timedelta(minutes=6, seconds=30), refresh=True)
    assert adapter.jwks_fetches == 2
    adapter.key_set(provider, start + timedelta(minutes=67))  # an hour after the last fetch
    assert adapter.jwks_fetches == 3
