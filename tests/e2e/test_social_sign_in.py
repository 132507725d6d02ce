"""Social sign-in end to end: the local host on its own Azurite, and the real local OpenID
Connect provider (npm oidc-provider, devtools/oidc_provider.mjs) as a process. A
``requests.Session`` is the browser: it follows the provider's redirects, fills in its
sign-in form and carries the cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from devtools.azurite import Azurite, free_port
from devtools.oidc import LocalOidcProvider
from tests.conftest import base_settings_values
from tests.support.host import LocalHost
from tests.support.waiting import wait_for


@dataclass
class World:
    host: LocalHost
    provider: LocalOidcProvider
    azurite: Azurite

    @property
    def callback(self) -> str:
        return f"{self.host.url}/api/auth/local/callback"

    def rows(self, table: str) -> list[dict[str, object]]:
        service = TableServiceClient.from_connection_string(self.azurite.connection_string)
        try:
            return [dict(e) for e in service.get_table_client(table).list_entities()]
        except ResourceNotFoundError:  # the table does not exist yet: no rows
            return []


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    port = free_port()
    with Azurite() as azurite:
        callback = f"http://127.0.0.1:{port}/api/auth/local/callback"
        with LocalOidcProvider([callback]) as provider:
            name, secret = provider.secret_setting
            values = base_settings_values(azurite.connection_string)
            values.update({"OAUTH_PROVIDERS": provider.providers_setting("Local"), name: secret})
            host = LocalHost(values, port=port).start()
            try:
                yield World(host, provider, azurite)
            finally:
                host.close()


def to_callback(world: World, browser: requests.Session, user: str = "alice",
                action: str = "login") -> str:  # fmt: skip
    """Start at /api/auth/local/login and go through the provider (its sign-in page when it
    shows one: a browser that signed in before has a session there and skips it); the URL
    of the provider's redirect back to the app (not yet followed)."""
    answer = browser.get(f"{world.host.url}/api/auth/local/login", allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(world.provider.issuer + "/auth?")
    for _ in range(10):
        if answer.status_code == 200:  # the provider's sign-in page
            form = re.search(r'<form method="post" action="([^"]+)"', answer.text)
            assert form is not None, answer.text
            answer = browser.post(urljoin(answer.url, form.group(1)),
                                  data={"user": user, "action": action},
                                  allow_redirects=False)  # fmt: skip
            continue
        assert answer.status_code in (302, 303), answer.text
        location = urljoin(answer.url, answer.headers["Location"])
        if location.startswith(world.callback):
            return location
        answer = browser.get(location, allow_redirects=False)
    raise AssertionError("the provider never redirected back")


def finish(world: World, browser: requests.Session, callback_url: str) -> str:
    """Follow the provider's redirect back; the fragment of where the app sends the page."""
    answer = browser.get(callback_url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith("/api/app#"), location
    return location.split("#", 1)[1]


def login_code_of(fragment: str) -> str:
    assert fragment.startswith("login="), fragment
    return fragment[len("login=") :]


def test_the_provider_is_listed(world: World) -> None:
    answer = requests.get(f"{world.host.url}/api/auth/providers", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"items": [{"name": "local", "display_name": "Local"}]}
    assert world.provider.client_secret not in answer.text


def test_sign_in_through_the_provider_gives_a_token_for_a_verified_account(world: World) -> None:
    browser = requests.Session()
    start = browser.get(f"{world.host.url}/api/auth/local/login", allow_redirects=False)
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [world.callback]
    assert (
        "HttpOnly" in start.headers["Set-Cookie"] and "SameSite=Lax" in start.headers["Set-Cookie"]
    )
    code = login_code_of(finish(world, browser, to_callback(world, browser)))
    token = browser.post(f"{world.host.url}/api/auth/token", json={"login_code": code},
                         timeout=10)  # fmt: skip
    assert token.status_code == 200, token.text
    body = token.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and token.headers["Cache-Control"] == "no-store"
    me = requests.get(f"{world.host.url}/api/me", timeout=10,
                      headers={"Authorization": f"Bearer {body['access_token']}"})  # fmt: skip
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com" and me.json()["email_verified"] is True
    # The code is single use.
    again = browser.post(f"{world.host.url}/api/auth/token", json={"login_code": code},
                         timeout=10)  # fmt: skip
    assert again.status_code == 400
    assert again.json()["type"] == "/problems/invalid-login-code"
    # No secret of the flow reaches a log line (the callback's query is not logged).
    for secret in (code, body["access_token"], query["state"][0], world.provider.client_secret):
        assert secret not in world.host.logs
    # No password logs in to the account social sign-in made.
    login = requests.post(
        f"{world.host.url}/api/login",
        timeout=10,
        json={"email": "alice@example.com", "password": "anything-at-all"},
    )
    assert login.status_code == 401
    # Signing in again finds the same account.
    browser = requests.Session()
    code = login_code_of(finish(world, browser, to_callback(world, browser)))
    token = browser.post(f"{world.host.url}/api/auth/token", json={"login_code": code},
                         timeout=10).json()  # fmt: skip
    again_me = requests.get(
        f"{world.host.url}/api/me",
        timeout=10,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert again_me.json()["id"] == me.json()["id"]


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = state
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_replayed_or_foreign_states_are_refused_and_write_nothing(
    world: World,
) -> None:
    users_before = world.rows("users")
    codes_before = [r for r in world.rows("socialsignin") if r["RowKey"] == "login-code"]
    browser = requests.Session()
    url = to_callback(world, browser, user="bob")  # a new account, were it accepted
    state = parse_qs(urlsplit(url).query)["state"][0]
    tampered = state[:-1] + ("A" if state[-1] != "A" else "B")
    assert finish(world, browser, _with_state(url, tampered)) == "error=invalid-state"
    assert finish(world, requests.Session(), url) == "error=invalid-state"  # another browser
    assert finish(world, browser, url) == "error=invalid-state"  # used up by the line above
    assert world.rows("users") == users_before
    assert "bob@example.com" not in {r.get("email") for r in users_before}
    codes = [r for r in world.rows("socialsignin") if r["RowKey"] == "login-code"]
    assert codes == codes_before
    # Replayed after a success.
    browser = requests.Session()
    url = to_callback(world, browser)
    login_code_of(finish(world, browser, url))
    assert finish(world, browser, url) == "error=invalid-state"
    codes = [r for r in world.rows("socialsignin") if r["RowKey"] == "login-code"]
    assert len(codes) == len(codes_before) + 1  # only the successful sign-in's


def test_an_unverified_address_and_a_cancelled_sign_in_end_on_the_page_with_an_error(
    world: World,
) -> None:
    browser = requests.Session()
    assert finish(world, browser, to_callback(world, browser, user="eve")) == (
        "error=email-not-verified"
    )
    browser = requests.Session()  # (the first one has a session of eve's at the provider)
    assert finish(world, browser, to_callback(world, browser, action="cancel")) == (
        "error=access-denied"
    )
    emails = {r.get("email") for r in world.rows("users")}
    assert "eve@example.com" not in emails


def test_unknown_providers_and_bad_login_codes(world: World) -> None:
    answer = requests.get(f"{world.host.url}/api/auth/nope/login", allow_redirects=False,
                          timeout=10)  # fmt: skip
    assert answer.status_code == 302 and answer.headers["Location"] == (
        "/api/app#error=unknown-provider"
    )
    for body in ({"login_code": "x" * 43}, {"login_code": ""}, {"code": "x"}, {}):
        bad = requests.post(f"{world.host.url}/api/auth/token", json=body, timeout=10)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.headers["Content-Type"].startswith("application/problem+json")


def test_social_sign_in_is_rate_limited_per_client(world: World) -> None:
    from shared.services.limits import SOCIAL_SIGN_IN_PER_CLIENT

    name, secret = world.provider.secret_setting
    values = base_settings_values(world.azurite.connection_string)
    values.update({"OAUTH_PROVIDERS": world.provider.providers_setting(), name: secret,
                   "RATE_LIMITS_ENABLED": "true"})  # fmt: skip
    host = LocalHost(values).start()
    try:
        url = f"{host.url}/api/auth/local/login"
        for _ in range(SOCIAL_SIGN_IN_PER_CLIENT.limit):
            assert requests.get(url, allow_redirects=False, timeout=10).status_code == 302
        refused = requests.get(url, allow_redirects=False, timeout=10)
        assert refused.status_code == 429
        assert refused.json()["type"] == "/problems/rate-limited"
        assert int(refused.headers["Retry-After"]) > 0
        callback = requests.get(f"{host.url}/api/auth/local/callback", timeout=10,
                                allow_redirects=False)  # fmt: skip
        assert callback.status_code == 429  # the callback counts against the same limit
    finally:
        host.close()


def test_the_purge_timer_runs_and_keeps_live_sign_ins(world: World) -> None:
    browser = requests.Session()
    url = to_callback(world, browser)  # a live pending sign-in, then the purge
    assert world.host.run_function("purge_social_sign_ins").status_code == 202
    wait_for(
        lambda: any(
            r.get("message") == "expired social sign-ins purged" for r in world.host.log_records()
        )
    )
    assert login_code_of(finish(world, browser, url))  # still there


def test_item1_login_code_from_another_browser_is_refused_the_signing_in_browser_is_not(
    world: World,
) -> None:
    """Login CSRF end to end (issue 18, item 1). The attacker signs in at the provider
    with their own account, stops at the app's 302 to ``/api/app#login=<code>`` and sends
    that link to a victim. The victim's browser (no cookie of the attacker's: a fresh
    session, and one that started a sign-in of its own) exchanges the code: refused, and
    the code is used up. A browser that signs in normally still gets its token.
    (The fix follows the OAuth 2.0 Security BCP, RFC 9700 section 4.7: bind the response
    to the user agent that started the flow.)"""
    attacker = requests.Session()
    location = finish(world, attacker, to_callback(world, attacker, user="alice"))
    attacker_code = login_code_of(location)
    victims = [requests.Session(), requests.Session()]
    victims[1].get(f"{world.host.url}/api/auth/local/login", allow_redirects=False)
    assert victims[1].cookies.get("oidc_binding")  # a binding of its own, not the attacker's
    for victim in victims:
        refused = victim.post(f"{world.host.url}/api/auth/token",
                              json={"login_code": attacker_code}, timeout=10)  # fmt: skip
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == "/problems/invalid-login-code"
        assert "access_token" not in refused.text
    # Refused once, the code is dead even for the attacker's own browser.
    late = attacker.post(f"{world.host.url}/api/auth/token",
                         json={"login_code": attacker_code}, timeout=10)  # fmt: skip
    assert late.status_code == 400
    # The legitimate flow: the browser that signed in exchanges its own code.
    browser = requests.Session()
    code = login_code_of(finish(world, browser, to_callback(world, browser, user="alice")))
    token = browser.post(f"{world.host.url}/api/auth/token", json={"login_code": code},
                         timeout=10)  # fmt: skip
    assert token.status_code == 200, token.text


def test_item5_the_abuse_counter_purge_runs_on_the_host(world: World) -> None:
    """The hourly timer is wired: run through the admin endpoint, it purges both kinds of
    counts and says how many (the purge itself: tests/integration, on a moved clock)."""
    assert world.host.run_function("purge_abuse_counters").status_code == 202
    messages = {"expired rate limit counts purged", "expired login failure counts purged"}
    wait_for(lambda: messages <= {r.get("message") for r in world.host.log_records()})
