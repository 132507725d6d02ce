"""The Authlib adapter of the IdentityProvider port against the real local OpenID Connect
provider (npm oidc-provider): discovery, PKCE enforced end to end, the ID token checked,
and every failure a SignInFailed("provider-error")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from pydantic import SecretStr

from devtools.oidc import LocalOidcProvider
from shared.adapters.http_client import build_session
from shared.adapters.oidc_authlib import AuthlibIdentityProvider
from shared.domain.social import SignInFailed, new_secret
from shared.settings import OAuthProvider

REDIRECT = "http://127.0.0.1:9/api/auth/local/callback"  # never followed


@pytest.fixture(scope="module")
def op() -> Iterator[LocalOidcProvider]:
    with LocalOidcProvider([REDIRECT]) as provider:
        yield provider


def config(op: LocalOidcProvider, **changes: object) -> OAuthProvider:
    values: dict[str, object] = {
        "name": "local", "display_name": "Local", "issuer": op.issuer,
        "client_id": op.client_id, "client_secret": SecretStr(op.client_secret),
    }  # fmt: skip
    values.update(changes)
    return OAuthProvider.model_validate(values)


def authorize(adapter: AuthlibIdentityProvider, provider: OAuthProvider, user: str = "alice"
              ) -> tuple[str, str, str]:  # fmt: skip
    """(code, nonce, verifier) of a sign-in of ``user`` at the provider."""
    state, nonce, verifier = new_secret(), new_secret(), new_secret()
    url = adapter.authorization_url(provider, redirect_uri=REDIRECT, state=state, nonce=nonce,
                                    code_verifier=verifier)  # fmt: skip
    browser = requests.Session()
    answer = browser.get(url, allow_redirects=True)
    form = re.search(r'<form method="post" action="([^"]+)"', answer.text)
    assert form is not None, answer.text
    answer = browser.post(urljoin(answer.url, form.group(1)), data={"user": user,
                          "action": "login"}, allow_redirects=False)  # fmt: skip
    while not answer.headers["Location"].startswith(REDIRECT):
        answer = browser.get(urljoin(answer.url, answer.headers["Location"]),
                             allow_redirects=False)  # fmt: skip
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [state]
    return query["code"][0], nonce, verifier


def identify(adapter: AuthlibIdentityProvider, provider: OAuthProvider, code: str, nonce: str,
             verifier: str) -> object:  # fmt: skip
    return adapter.identify(provider, code=code, redirect_uri=REDIRECT, code_verifier=verifier,
                            nonce=nonce, now=datetime.now(UTC))  # fmt: skip


def test_a_sign_in_gives_the_verified_identity(op: LocalOidcProvider) -> None:
    adapter = AuthlibIdentityProvider(build_session("test"))
    provider = config(op)
    code, nonce, verifier = authorize(adapter, provider)
    identity = identify(adapter, provider, code, nonce, verifier)
    assert identity.email == "alice@example.com" and identity.email_verified is True  # type: ignore[attr-defined]
    assert identity.nonce == nonce and identity.issuer == op.issuer  # type: ignore[attr-defined]
    code, nonce, verifier = authorize(adapter, provider, user="eve")
    identity = identify(adapter, provider, code, nonce, verifier)
    assert identity.email_verified is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "spoil",
    ["verifier", "code", "nonce", "secret", "client", "replay"],
)
def test_what_does_not_check_out_is_a_provider_error(op: LocalOidcProvider, spoil: str) -> None:
    adapter = AuthlibIdentityProvider(build_session("test"))
    provider = config(op)
    code, nonce, verifier = authorize(adapter, provider)
    if spoil == "verifier":
        verifier = new_secret()  # PKCE: the provider refuses another verifier
    elif spoil == "code":
        code = code[:-2] + "xx"
    elif spoil == "nonce":
        nonce = new_secret()  # the ID token carries the sign-in's own nonce
    elif spoil == "secret":
        provider = config(op, client_secret=SecretStr("wrong"))
    elif spoil == "client":
        provider = config(op, client_id="someone-else")
    elif spoil == "replay":
        identify(adapter, provider, code, nonce, verifier)  # the code is used once
    with pytest.raises(SignInFailed) as raised:
        identify(adapter, provider, code, nonce, verifier)
    assert raised.value.slug == "provider-error"


def test_discovery_must_name_the_issuer_and_is_fetched_once(op: LocalOidcProvider) -> None:
    session = build_session("test")
    calls: list[str] = []
    session.hooks["response"].append(lambda r, *a, **k: calls.append(r.url))
    adapter = AuthlibIdentityProvider(session)
    for _ in range(3):
        adapter.authorization_url(config(op), redirect_uri=REDIRECT, state="s", nonce="n",
                                  code_verifier=new_secret())  # fmt: skip
    assert len([c for c in calls if "openid-configuration" in c]) == 1
    with pytest.raises(SignInFailed):
        adapter.authorization_url(config(op, issuer=op.issuer + "/"), redirect_uri=REDIRECT,
                                  state="s", nonce="n", code_verifier=new_secret())  # fmt: skip
    with pytest.raises(SignInFailed):
        adapter.authorization_url(config(op, issuer="http://127.0.0.1:9"), redirect_uri=REDIRECT,
                                  state="s", nonce="n", code_verifier=new_secret())  # fmt: skip
