"""A fake of the IdentityProvider port: a provider that "authorizes" by remembering the
request, and answers ``identify`` with what the test set, after checking what a real
provider would check (the code it issued, the redirect URI, the PKCE verifier)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from shared.domain.social import PROVIDER_ERROR, ProviderIdentity, SignInFailed
from shared.settings import OAuthProvider


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class FakeIdentityProvider:
    email: str | None = "alice@example.com"
    email_verified: bool = True
    subject: str = "sub-1"  # the provider's stable id of the person signing in
    nonce_override: str | None = None  # an ID token with another nonce (replayed token)
    requests: list[dict[str, str]] = field(default_factory=list)  # authorization requests
    exchanges: list[dict[str, str]] = field(default_factory=list)  # token requests seen

    def authorization_url(
        self, provider: OAuthProvider, *, redirect_uri: str, state: str, nonce: str,
        code_verifier: str,
    ) -> str:  # fmt: skip
        params = {
            "client_id": provider.client_id, "response_type": "code", "redirect_uri": redirect_uri,
            "state": state, "nonce": nonce, "code_challenge": s256(code_verifier),
            "code_challenge_method": "S256",
        }  # fmt: skip
        self.requests.append(params)
        return f"{provider.issuer}/authorize?{urlencode(params)}"

    def code_for(self, location: str) -> tuple[str, str]:
        """What the provider would send back for the request at ``location``: (code, state)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return f"code-{query['state'][:8]}", query["state"]

    def identify(
        self, provider: OAuthProvider, *, code: str, redirect_uri: str, code_verifier: str,
        nonce: str, now: datetime,
    ) -> ProviderIdentity:  # fmt: skip
        self.exchanges.append({"code": code, "redirect_uri": redirect_uri,
                               "code_verifier": code_verifier, "nonce": nonce})  # fmt: skip
        issued = next((r for r in self.requests if code == f"code-{r['state'][:8]}"), None)
        if issued is None or issued["redirect_uri"] != redirect_uri:
            raise SignInFailed(PROVIDER_ERROR, "invalid_grant")
        if issued["code_challenge"] != s256(code_verifier):
            raise SignInFailed(PROVIDER_ERROR, "invalid_grant (PKCE)")
        return ProviderIdentity(
            issuer=provider.issuer, subject=self.subject, email=self.email,
            email_verified=self.email_verified,
            nonce=self.nonce_override if self.nonce_override is not None else issued["nonce"],
        )  # fmt: skip
