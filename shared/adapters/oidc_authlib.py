"""The IdentityProvider port on Authlib: OpenID Connect authorization code flow with PKCE.

Authlib builds the authorization URL (with the S256 challenge), makes the token request
(client secret by HTTP Basic, or in the body where the provider only takes that) and
validates the ID token claims (``CodeIDToken``: iss, aud, exp, nonce, azp, at_hash);
joserfc (Authlib's JOSE library) checks its signature with the provider's JWKS. Both are
imported when the first sign-in needs them (cold start).

Discovery documents are fetched once per process per issuer and kept. A JWKS is kept for
JWKS_TTL (a provider that drops a key, compromised or retired, is believed within the
hour), and fetched again early when a token names a key it lacks (the provider rotated
its keys), at most once per JWKS_REFRESH_INTERVAL: tokens with made-up key ids cannot
make every sign-in fetch the key set. Every
HTTP call goes through the process's pooled ``requests`` session (its connection pools
are shared with the per-sign-in Authlib client, which holds no state between sign-ins).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.social import (
    PROVIDER_ERROR,
    ProviderIdentity,
    SignInFailed,
    claims_email_verified,
)
from shared.logging import get_logger

if TYPE_CHECKING:
    import requests

    from shared.settings import OAuthProvider

log = get_logger("app.oidc")

SCOPE = "openid email profile"
TIMEOUT = 10  # seconds, each call to the provider
LEEWAY = 60  # seconds of clock skew allowed on exp/iat
JWKS_TTL = timedelta(hours=1)
JWKS_REFRESH_INTERVAL = timedelta(minutes=5)
# Only asymmetric signatures: an HS256 token "signed" with the client secret, or "none",
# is refused whatever the discovery document claims.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA")  # fmt: skip


class NoAcceptableAlgorithm(ValueError):
    """The provider advertises no ID token algorithm that we accept."""


def accepted_algorithms(advertised: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The algorithms both advertised (discovery's ``id_token_signing_alg_values_supported``)
    and in ASYMMETRIC; NoAcceptableAlgorithm when none is: never a library default."""
    allowed = tuple(a for a in advertised if a in ASYMMETRIC)
    if not allowed:
        raise NoAcceptableAlgorithm(
            f"the provider signs ID tokens with {list(advertised)!r}, none of {ASYMMETRIC!r}"
        )
    return allowed


def check_id_token(
    id_token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: datetime,
    access_token: str | None = None,
    algorithms: tuple[str, ...] = ("RS256",),
) -> dict[str, Any]:
    """The claims of a valid ID token. Raises joserfc's errors (JoseError) when the
    signature, the algorithm, iss, aud, exp, nonce, azp or at_hash do not check out, and
    NoAcceptableAlgorithm when ``algorithms`` names none of ASYMMETRIC (an empty list
    would let joserfc fall back to its own defaults)."""
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt
    from joserfc.jwk import KeySet

    allowed = accepted_algorithms(algorithms)
    keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    token = jwt.decode(id_token, keys, algorithms=list(allowed))
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(now=int(now.timestamp()), leeway=LEEWAY)
    return dict(claims)


class AuthlibIdentityProvider:
    def __init__(self, session: requests.Session) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._metadata: dict[str, dict[str, Any]] = {}
        self._jwks: dict[str, tuple[dict[str, Any], datetime]] = {}  # issuer -> (keys, at)
        self.jwks_fetches = 0

    # -- discovery ---------------------------------------------------------------------

    def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self._session.get(url, timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return document

    def metadata(self, provider: OAuthProvider) -> dict[str, Any]:
        """The provider's discovery document (cached for the process)."""
        cached = self._metadata.get(provider.issuer)
        if cached is not None:
            return cached
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url)
        if document.get("issuer") != provider.issuer:
            # OIDC Discovery 4.3: the document must name the issuer it was fetched for.
            raise ValueError(f"discovery names issuer {document.get('issuer')!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise ValueError(f"discovery lacks {key}")
        with self._lock:
            self._metadata[provider.issuer] = document
        return document

    def key_set(
        self, provider: OAuthProvider, now: datetime, *, refresh: bool = False
    ) -> dict[str, Any]:
        """The provider's JWKS: cached for JWKS_TTL; ``refresh`` (a token named a key it
        lacks) fetches again unless the cached set is younger than JWKS_REFRESH_INTERVAL."""
        cached = self._jwks.get(provider.issuer)
        if cached is not None:
            keys, fetched_at = cached
            age = now - fetched_at
            if age < (JWKS_REFRESH_INTERVAL if refresh else JWKS_TTL):
                return keys
        jwks = self._get_json(self.metadata(provider)["jwks_uri"])
        with self._lock:
            self._jwks[provider.issuer] = (jwks, now)
            self.jwks_fetches += 1
        return jwks

    def _client(self, provider: OAuthProvider, redirect_uri: str) -> Any:
        from authlib.integrations.requests_client import OAuth2Session

        methods = self._metadata.get(provider.issuer, {}).get(
            "token_endpoint_auth_methods_supported", ["client_secret_basic"]
        )
        secret = provider.client_secret.get_secret_value() if provider.client_secret else ""
        client = OAuth2Session(
            client_id=provider.client_id, client_secret=secret, scope=SCOPE,
            redirect_uri=redirect_uri, code_challenge_method="S256",
            token_endpoint_auth_method=(
                "client_secret_basic" if "client_secret_basic" in methods
                else "client_secret_post"
            ),
            default_timeout=TIMEOUT,
        )  # fmt: skip
        for prefix, adapter in self._session.adapters.items():
            client.mount(prefix, adapter)  # the process's connection pools (never closed here)
        return client

    # -- the port ----------------------------------------------------------------------

    def authorization_url(
        self, provider: OAuthProvider, *, redirect_uri: str, state: str, nonce: str,
        code_verifier: str,
    ) -> str:  # fmt: skip
        try:
            endpoint = self.metadata(provider)["authorization_endpoint"]
        except Exception as exc:
            log.warning("discovery failed", extra={"provider": provider.name,
                                                   "error_type": type(exc).__name__})  # fmt: skip
            raise SignInFailed(PROVIDER_ERROR, "The provider cannot be reached") from exc
        uri, _ = self._client(provider, redirect_uri).create_authorization_url(
            endpoint, state=state, nonce=nonce, code_verifier=code_verifier
        )
        return str(uri)

    def identify(
        self, provider: OAuthProvider, *, code: str, redirect_uri: str, code_verifier: str,
        nonce: str, now: datetime,
    ) -> ProviderIdentity:  # fmt: skip
        try:
            return self._identify(provider, code, redirect_uri, code_verifier, nonce, now)
        except SignInFailed:
            raise
        except Exception as exc:
            log.warning("sign-in not accepted", extra={"provider": provider.name,
                                                       "error_type": type(exc).__name__,
                                                       "reason": str(exc)[:200]})  # fmt: skip
            raise SignInFailed(PROVIDER_ERROR, "The provider's answer did not check out") from exc

    def _identify(
        self, provider: OAuthProvider, code: str, redirect_uri: str, code_verifier: str,
        nonce: str, now: datetime,
    ) -> ProviderIdentity:  # fmt: skip
        from joserfc.errors import InvalidKeyIdError

        metadata = self.metadata(provider)
        token = self._client(provider, redirect_uri).fetch_token(
            metadata["token_endpoint"], grant_type="authorization_code", code=code,
            code_verifier=code_verifier, redirect_uri=redirect_uri,
        )  # fmt: skip
        id_token, access_token = token.get("id_token"), token.get("access_token")
        if not isinstance(id_token, str):
            raise ValueError("the token response has no id_token")
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        try:  # before the token is even looked at: a clear refusal, logged once per sign-in
            algorithms = accepted_algorithms(tuple(str(a) for a in advertised))
        except NoAcceptableAlgorithm as exc:
            extra = {"provider": provider.name, "advertised": list(advertised)}
            log.error("provider has no acceptable ID token algorithm", extra=extra)
            raise SignInFailed(PROVIDER_ERROR, str(exc)) from exc

        def check(jwks: Mapping[str, Any]) -> dict[str, Any]:
            return check_id_token(
                id_token, jwks, issuer=provider.issuer, client_id=provider.client_id,
                nonce=nonce, now=now, access_token=access_token, algorithms=algorithms,
            )  # fmt: skip

        try:
            claims = check(self.key_set(provider, now))
        except InvalidKeyIdError:
            claims = check(self.key_set(provider, now, refresh=True))  # keys rotated?
        if "email" not in claims and access_token and metadata.get("userinfo_endpoint"):
            claims = {**claims, **self._userinfo(metadata["userinfo_endpoint"], access_token,
                                                 str(claims["sub"]))}  # fmt: skip
        email = claims.get("email")
        return ProviderIdentity(
            issuer=str(claims["iss"]), subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=claims_email_verified(claims),
            nonce=str(claims.get("nonce", "")),
        )  # fmt: skip

    def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        info = self._get_json(url, headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != subject:
            raise ValueError("userinfo is about another subject")  # OIDC Core 5.3.2
        return {k: info[k] for k in ("email", "email_verified", "xms_edov") if k in info}
