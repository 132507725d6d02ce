"""The web app (/api/app) in a real browser against the whole local stack.

Each test starts the local host on the session Azurite with the Web PubSub emulator, a
stand-in of Open-Meteo on a clock the test moves (so a refresh brings new weather), the
outbox for e-mail, and drives Debian's Chromium through Playwright at a phone's size
(390 x 844). Every screen is checked with axe-core (no serious or critical violation) and
for sideways scrolling; every page must talk to no host but the app's and the emulator's,
log no console error and throw nothing (tests/support/browser.py).
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from devtools.azurite import Azurite, free_port
from devtools.oidc import PROVIDER_NAME, LocalOidcProvider
from devtools.webpubsub import WebPubSubEmulator
from shared.adapters.clock import FakeClock
from tests.conftest import base_settings_values
from tests.support.browser import PASSWORD, Screen, code_in_outbox, launch, verified_user
from tests.support.host import FAST_QUEUE_SETTINGS, LocalHost
from tests.support.waiting import wait_for
from tests.support.weather_standins import OpenMeteoStandIn

HUB = "weather"  # WEBPUBSUB_HUB's default
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch(playwright)
        yield instance
        instance.close()


@dataclass
class Stack:
    host: LocalHost
    outbox: Path
    wps: WebPubSubEmulator
    weather: OpenMeteoStandIn
    clock: FakeClock
    admin: str
    provider: LocalOidcProvider

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def allowed_hosts(self) -> set[str]:
        return {urlsplit(self.host.url).netloc, urlsplit(self.wps.endpoint).netloc}

    def screen(self, browser: Any, name: str, **options: Any) -> Screen:
        return Screen(browser, self.url, set(self.allowed_hosts), name=name, **options)

    def user(self, prefix: str = "user") -> str:
        address = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
        try:
            return verified_user(self.url, self.outbox, address)
        except AssertionError as exc:  # say what the host did with the code's message
            notable = ("WARNING", "ERROR")
            about = [r for r in self.host.log_records()
                     if "otp" in json.dumps(r) or r.get("level") in notable]  # fmt: skip
            raise AssertionError(f"{exc}\nhost log: {about[-20:]}") from exc


@pytest.fixture
def stack(azurite: Azurite, tmp_path: Path) -> Iterator[Stack]:
    """The host on the session Azurite, with the emulator, the Open-Meteo stand-in on a
    clock of the test's, the outbox, and the local OpenID Connect provider (which must
    know the host's callback URL before the host starts, hence the port chosen here)."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    admin = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    port = free_port()
    callback = f"http://127.0.0.1:{port}/api/auth/{PROVIDER_NAME}/callback"
    with (
        WebPubSubEmulator() as wps,
        OpenMeteoStandIn(clock) as weather,
        LocalOidcProvider([callback]) as provider,
    ):
        values = base_settings_values(azurite.connection_string)
        values.update(FAST_QUEUE_SETTINGS)
        secret_name, secret = provider.secret_setting
        values.update({
            "AzureFunctionsWebHost__hostid": f"test-{uuid.uuid4().hex[:12]}",
            "EMAIL_OUTBOX_DIR": str(outbox),
            "ADMIN_EMAILS": admin,
            "WEBPUBSUB_CONNECTION_STRING": wps.connection_string,
            "WEATHER_PROVIDER": "open-meteo",
            "OPEN_METEO_BASE_URL": weather.base_url,
            "OPEN_METEO_GEOCODING_URL": weather.geocoding_url,
            "OAUTH_PROVIDERS": provider.providers_setting("Local test provider"),
            secret_name: secret,
        })  # fmt: skip
        with LocalHost(values, port=port) as host:
            yield Stack(host, outbox, wps, weather, clock, admin, provider)


def card(screen: Screen, city: str) -> Any:
    return screen.page.locator("#cards > li").filter(has_text=city)


def follow(screen: Screen, city: str, country: str = "") -> None:
    page = screen.page
    page.get_by_label("City").fill(city)
    page.get_by_label("Country (optional)").fill(country)
    page.get_by_role("button", name="Follow", exact=True).click()


def job_row(screen: Screen, listing: str, name: str) -> Any:
    return screen.page.locator(f"#{listing} > li").filter(has_text=name)


def scoring_report(stack: Stack, owner: Screen, row: Any) -> str:
    """Where a bid's score went: the page's text and live state, the bid as stored (the
    API, with the owner's token), and the host's scoring lines, warnings and errors."""
    job_id = row.get_attribute("data-job-id")
    stored = owner.page.evaluate(
        """async (id) => {
             const token = JSON.parse(sessionStorage.getItem("weather-jobs.token") || "{}");
             const r = await fetch(`/api/jobs/${id}/bids`,
                                   { headers: { Authorization: `Bearer ${token.access_token}` } });
             return (await r.json()).items?.map((b) => b.sentiment);
           }""",
        job_id,
    )
    lines = [
        f"{r.get('time')} {r.get('level')} {r.get('message')}"
        for r in stack.host.log_records()
        if r.get("function") in ("place_bid", "score_bid_sentiment")
        or r.get("level") in ("WARNING", "ERROR")
    ]
    page = row.locator('.bid [data-field="sentiment"]').all_inner_texts()
    live = owner.page.locator("#live-status").get_attribute("data-state")
    return f"page {page}, live {live!r}, stored {stored}; host:\n" + "\n".join(lines[-40:])


# -- accounts ---------------------------------------------------------------------------


def test_sign_up_enter_the_code_log_in_and_out(stack: Stack, browser: Any) -> None:
    me = stack.screen(browser, "signup")
    page = me.page
    address = f"new-{uuid.uuid4().hex[:8]}@example.com"
    me.open()
    me.page.get_by_role("link", name="Sign in with Local test provider").wait_for()
    me.check_screen("log-in")
    page.get_by_role("button", name="Create an account").click()
    assert page.evaluate("document.activeElement.id") == "signup-title"
    me.check_screen("sign-up")
    page = me.view()

    # The server's field errors show next to the field they name.
    page.get_by_label("E-mail").fill("not-an-address")
    page.get_by_label("Password (8 to 128 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    email_error = page.locator("#signup-email-error")
    email_error.wait_for()
    assert email_error.inner_text().strip()
    assert page.get_by_label("E-mail").get_attribute("aria-invalid") == "true"

    started = datetime.now().timestamp() - 1
    page.get_by_label("E-mail").fill(address)
    page.get_by_role("button", name="Sign up").click()
    me.page.wait_for_selector("#view-verify:not([hidden])")
    me.check_screen("enter-code")
    code = code_in_outbox(stack.outbox, address, after=started)
    wrong = "000000" if code != "000000" else "111111"
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    me.page.locator("#view-verify .error:not(:empty)").first.wait_for()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    me.page.wait_for_selector("#view-signin:not([hidden])")
    me.wait_text("#banner", "verified")
    page = me.page

    me.view().get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    me.wait_text("#me-email", address)
    assert page.locator("#me-plan").inner_text() == "basic"
    assert page.locator('#tabs [data-view="admin"]').is_hidden()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_selector("#view-signin:not([hidden])")
    assert page.locator("#session").is_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    me.close()


def test_a_wrong_password_is_shown_on_the_form(stack: Stack, browser: Any) -> None:
    address = stack.user()
    me = stack.screen(browser, "wrong-password").open()
    me.view().get_by_label("E-mail").fill(address)
    me.view().get_by_label("Password").fill("not the password")
    me.page.get_by_role("button", name="Log in", exact=True).click()
    me.page.locator("#login-form .form-error:not(:empty)").wait_for()
    assert me.page.locator("#session").is_hidden()
    me.close()


def test_log_in_with_the_keyboard_alone_and_the_focus_follows(stack: Stack, browser: Any) -> None:
    address = stack.user("keys")
    me = stack.screen(browser, "keyboard").open()
    keys = me.page.keyboard
    focused = "document.activeElement.id || document.activeElement.textContent.trim()"
    keys.press("Tab")
    assert me.page.evaluate(focused) == "Skip to content"
    keys.press("Tab")
    assert me.page.evaluate(focused) == "login-email"
    keys.type(address)
    keys.press("Tab")
    keys.type(PASSWORD)
    keys.press("Enter")
    me.wait_text("#me-email", address)
    # The signed-in screen takes the focus at its heading; the tabs are buttons in reach.
    me.page.wait_for_function("() => document.activeElement.id === 'weather-title'")
    assert me.page.locator("#announcer").get_attribute("aria-live") == "polite"
    me.page.locator('#tabs [data-view="jobs"]').focus()
    keys.press("Enter")
    me.page.wait_for_function("() => document.activeElement.id === 'jobs-title'")
    assert me.page.locator('#tabs [data-view="jobs"]').get_attribute("aria-current") == "page"
    me.close()


# -- admin ------------------------------------------------------------------------------


def test_an_admin_switches_a_user_to_premium_and_their_quota_follows(
    stack: Stack, browser: Any
) -> None:
    verified_user(stack.url, stack.outbox, stack.admin)
    target = stack.user("plan")
    user = stack.screen(browser, "plan-user").open()
    user.log_in(target)
    assert user.page.locator("#me-plan").inner_text() == "basic"
    user.wait_text("#quota", "0 / 3")

    admin = stack.screen(browser, "admin").open()
    admin.log_in(stack.admin)
    admin.tab("Users")
    row = admin.page.locator("#users tbody tr").filter(has_text=target)
    row.wait_for()
    admin.check_screen("users")
    switch = admin.page.get_by_label(f"Plan of {target}")
    assert switch.input_value() == "basic"
    switch.select_option("premium")
    admin.wait_text("#announcer", f"{target} is now on the premium plan")
    me = requests.post(
        f"{stack.url}/api/login", json={"email": target, "password": PASSWORD}, timeout=15
    ).json()
    plan = requests.get(
        f"{stack.url}/api/me",
        headers={"Authorization": f"Bearer {me['access_token']}"},
        timeout=15,
    ).json()["plan"]
    assert plan == "premium"

    user.page.reload()
    user.wait_text("#me-plan", "premium")
    user.wait_text("#quota", "0 / 15")
    user.close()
    admin.close()


def test_the_users_tab_is_for_admins_only(stack: Stack, browser: Any) -> None:
    me = stack.screen(browser, "not-admin").open()
    me.log_in(stack.user())
    assert me.page.locator('#tabs [data-view="admin"]').is_hidden()
    assert not me.api_requests("/api/users")
    me.close()


# -- jobs -------------------------------------------------------------------------------


def test_post_a_job_take_it_from_a_second_window_and_read_the_result(
    stack: Stack, browser: Any
) -> None:
    owner_address, bidder_address = stack.user("owner"), stack.user("bidder")
    owner = stack.screen(browser, "owner").open()
    owner.log_in(owner_address)
    bidder = stack.screen(browser, "bidder").open()
    bidder.log_in(bidder_address)
    owner.wait_live()
    bidder.wait_live()

    # The owner posts a sentiment job for an hour from now.
    owner.tab("Jobs")
    page = owner.page
    page.locator("#new-job summary").click()
    form = page.locator("#job-form")
    form.get_by_label("Name").fill("Read the reviews")
    form.get_by_label("Kind").select_option("text.sentiment")
    form.get_by_label("Texts, one per line").fill("I love it\nIt broke on day one")
    later = page.evaluate(
        "() => { const d = new Date(Date.now() + 3600e3); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16); }"
    )
    form.get_by_label("Run at").fill(later)
    form.get_by_role("button", name="Create job").click()
    row = job_row(owner, "own-jobs", "Read the reviews")
    row.wait_for()
    assert row.locator(".status").inner_text() == "pending"
    owner.wait_text('#summary [data-count="pending"]', "1")
    row.get_by_role("button", name="Bids").click()
    owner.wait_text("#own-jobs h5", "No bids yet")
    owner.check_screen("jobs")

    # The second person finds it among open jobs and bids.
    bidder.tab("Jobs")
    offer = job_row(bidder, "open-jobs", "Read the reviews")
    offer.wait_for()
    offer.get_by_role("button", name="Bid").click()
    offer.get_by_label("Your offer").fill("Glad to help: careful, quick and friendly work.")
    offer.get_by_label("Fee").fill("25")
    bidder.check_screen("bid")
    offer.get_by_label("Fee").press("Enter")  # the keyboard's way to submit
    offer.locator(".bid").wait_for()
    assert "25.00 USD" in offer.locator('[data-field="fee"]').inner_text()

    # The owner sees the bid arrive and its sentiment scored, without reloading.
    bid = row.locator(".bid")
    bid.wait_for(timeout=60_000)
    sentiment = bid.locator('[data-field="sentiment"]')
    # Scored 2.3-2.7 s after the bid in every run measured since (load 8-10, coverage on);
    # the stop-gap ceiling of 180 s stays until a failing full run is explained: a slow
    # score is reported as a warning, a missing one as a failure, both with the host's
    # scoring lines and the stored bid (scoring_report).
    started = time.monotonic()
    try:
        wait_for(lambda: "scored" not in sentiment.inner_text(), timeout=180)
    except AssertionError as exc:
        raise AssertionError(scoring_report(stack, owner, row)) from exc
    if time.monotonic() - started > 10:
        warnings.warn(f"bid scored after {time.monotonic() - started:.0f} s: "
                      f"{scoring_report(stack, owner, row)}", stacklevel=1)  # fmt: skip
    assert sentiment.inner_text().split()[0] in {"positive", "neutral", "negative", "mixed"}
    owner.check_screen("bids")
    bid.get_by_role("button", name="Accept this bid").click()
    owner.wait_text("#announcer", "Bid accepted")
    assert "accepted" in bid.locator('[data-field="bid-status"]').inner_text()

    # The bidder's page hears of the assignment: the job moves to "Assigned to me".
    assigned = job_row(bidder, "assigned-jobs", "Read the reviews")
    assigned.wait_for(timeout=60_000)
    wait_for(lambda: job_row(bidder, "open-jobs", "Read the reviews").count() == 0)

    # Run it now; the owner's row and the bidder's assigned list follow live.
    requests_before = len(owner.requests)
    row.get_by_role("button", name="Run now").click()
    row.locator(".status").filter(has_text="completed").wait_for(timeout=60_000)
    owner.wait_text('#summary [data-count="completed"]', "1")
    new_requests = [u for _, u in owner.requests[requests_before:]]
    assert not [u for u in new_requests if urlsplit(u).path.rstrip("/") == "/api/jobs"], (
        "the page listed jobs again instead of taking the live update"
    )
    assigned.locator(".status").filter(has_text="completed").wait_for(timeout=60_000)
    assigned.get_by_role("button", name="Result").click()
    result = assigned.locator(".result")
    result.wait_for()
    assert "I love it" in result.inner_text()
    assert "positive" in result.inner_text()
    bidder.check_screen("assigned")
    owner.close()
    bidder.close()


# -- weather ----------------------------------------------------------------------------


def follow_three(me: Screen) -> None:
    for city, country in (("Paris", "FR"), ("Berlin", ""), ("London", "GB")):
        follow(me, city, country)
        card(me, city).wait_for()
    assert me.page.locator("#cards > li").count() == 3
    assert card(me, "Paris").locator('[data-field="temperature"]').inner_text() != "—"
    me.wait_text("#quota", "3 / 3")


def test_follow_three_cities_hit_the_quota_unfollow_and_take_a_suggestion(
    stack: Stack, browser: Any
) -> None:
    me = stack.screen(browser, "weather").open()
    me.log_in(stack.user("weather"))
    page = me.page
    me.wait_text("#quota", "0 / 3")
    follow_three(me)
    me.check_screen("cards")

    # A fourth city is over the basic plan's quota: the page says so, next to the field.
    follow(me, "Munich")
    page.locator("#subscribe-city-error:not(:empty)").wait_for()
    assert "quota" in page.locator("#subscribe-city-error").inner_text().lower() or (
        "plan" in page.locator("#subscribe-city-error").inner_text().lower()
    )
    assert page.get_by_label("City").get_attribute("aria-invalid") == "true"
    assert page.locator("#cards > li").count() == 3
    me.check_screen("quota")

    # Unfollow: the card goes, the quota frees a place, the focus goes back to the field.
    card(me, "Berlin").get_by_role("button", name="Unfollow Berlin").click()
    wait_for(lambda: page.locator("#cards > li").count() == 2)
    me.wait_text("#quota", "2 / 3")
    assert page.evaluate("document.activeElement.id") == "subscribe-city"

    # A miss offers suggestions; taking one follows that city.
    follow(me, "Berlinn")
    page.locator("#subscribe-city-error:not(:empty)").wait_for()
    page.locator("#suggestions").get_by_role("button", name="Berlin").first.click()
    card(me, "Berlin").wait_for()
    me.check_screen("suggestions")

    # A reload shows the same cities (they are the server's, not the page's).
    page.reload()
    wait_for(lambda: page.locator("#cards > li").count() == 3)
    me.close()


def test_cards_change_live_when_the_weather_is_refreshed_even_after_a_drop(
    stack: Stack, browser: Any
) -> None:
    me = stack.screen(browser, "live").open()
    me.log_in(stack.user("live"))
    me.wait_live()
    follow_three(me)

    # The weather moves on; the timer's run publishes it; the card changes by itself,
    # without a reload and without a request to the weather or subscriptions routes.
    paris = card(me, "Paris").locator(".readings")
    before = paris.inner_text()
    seen = len(me.requests)
    stack.clock.advance(minutes=30)
    assert stack.host.run_function("refresh_weather").status_code == 202
    wait_for(lambda: paris.inner_text() != before, timeout=60)
    me.wait_text("#announcer", "Paris")
    later = [urlsplit(u).path for _, u in me.requests[seen:]]
    assert not [p for p in later if p.startswith(("/api/weather", "/api/subscriptions"))], later
    me.check_screen("live")

    # The connection drops (the service closes it): the page negotiates again, comes back
    # live, and the next refresh still reaches the card.
    negotiations = len(me.api_requests("/api/realtime/negotiate"))
    done = len(me.finished)
    service = WebPubSubServiceClient.from_connection_string(stack.wps.connection_string, hub=HUB)
    service.close_all_connections(reason="test: dropped")
    me.wait_until(lambda: len(me.api_requests("/api/realtime/negotiate")) > negotiations, 60)
    me.wait_live(timeout=60)
    # Back online, the page reads its cities once (what it missed); then only live updates.
    me.wait_until(lambda: ("GET", f"{stack.url}/api/subscriptions") in me.finished[done:], 30)
    before = paris.inner_text()
    stack.clock.advance(minutes=30)
    assert stack.host.run_function("refresh_weather").status_code == 202
    wait_for(lambda: paris.inner_text() != before, timeout=60)

    # Unfollowed cities stop changing; the others still do.
    card(me, "Paris").get_by_role("button", name="Unfollow Paris").click()
    wait_for(lambda: me.page.locator("#cards > li").count() == 2)
    berlin = card(me, "Berlin").locator(".readings")
    before = berlin.inner_text()
    stack.clock.advance(minutes=30)
    assert stack.host.run_function("refresh_weather").status_code == 202
    wait_for(lambda: berlin.inner_text() != before, timeout=60)
    assert card(me, "Paris").count() == 0
    me.close()


def test_dark_mode_and_a_wide_screen_pass_the_same_checks(stack: Stack, browser: Any) -> None:
    address = stack.user("dark")
    for name, options in (
        ("dark", {"color_scheme": "dark"}),
        ("desktop", {"viewport": {"width": 1280, "height": 800}}),
    ):
        me = stack.screen(browser, name, **options).open()
        me.check_screen("log-in")
        me.log_in(address)
        if card(me, "Paris").count() == 0:
            follow(me, "Paris", "FR")
        card(me, "Paris").wait_for()
        me.check_screen("weather")
        me.tab("Jobs")
        me.page.locator("#summary dd").first.wait_for()
        me.check_screen("jobs")
        me.close()


def test_a_second_person_sees_only_their_own_cities(stack: Stack, browser: Any) -> None:
    first = stack.screen(browser, "first").open()
    first.log_in(stack.user("first"))
    follow(first, "Paris", "FR")
    card(first, "Paris").wait_for()

    second = stack.screen(browser, "second").open()
    second.log_in(stack.user("second"))
    follow(second, "Berlin")
    card(second, "Berlin").wait_for()
    assert second.page.locator("#cards > li").count() == 1
    assert first.page.locator("#cards > li").count() == 1
    assert card(first, "Berlin").count() == 0
    first.close()
    second.close()


# -- social sign-in ----------------------------------------------------------------------


def test_sign_in_with_the_local_provider_ends_signed_in(stack: Stack, browser: Any) -> None:
    me = stack.screen(browser, "social")
    me.allowed_hosts.add(urlsplit(stack.provider.issuer).netloc)  # the provider's own page
    me.open()
    me.page.get_by_role("link", name="Sign in with Local test provider").click()
    me.page.get_by_label("User").select_option(label="alice@example.com")
    me.page.get_by_role("button", name="Sign in").click()
    me.wait_text("#me-email", "alice@example.com")
    assert urlsplit(me.page.url).fragment == ""  # the one-time code is gone from the URL
    me.page.wait_for_selector("#view-weather:not([hidden])")
    assert me.api_requests("/api/auth/token")
    me.check_screen("signed-in")
    me.close()


def test_a_cancelled_social_sign_in_says_so_and_stays_signed_out(
    stack: Stack, browser: Any
) -> None:
    me = stack.screen(browser, "social-cancel")
    me.allowed_hosts.add(urlsplit(stack.provider.issuer).netloc)
    me.open()
    me.page.get_by_role("link", name="Sign in with Local test provider").click()
    me.page.get_by_role("button", name="Cancel").click()
    me.page.wait_for_selector("#view-signin:not([hidden])")
    me.page.locator("#banner:not([hidden])").wait_for()
    assert me.page.locator("#session").is_hidden()
    assert urlsplit(me.page.url).fragment == ""
    me.close()


def test_item8_an_error_fragment_shows_only_a_known_message(stack: Stack, browser: Any) -> None:
    """Issue 18, item 8: ``#error=<text>`` came from a link anyone can write; the banner
    showed the text itself (a phishing line in the app's own voice). Known slugs get
    their message, anything else one fixed sentence."""
    me = stack.screen(browser, "error-fragment")
    lure = "Your account is locked. Call +1 555 0100 to unlock it"
    me.open("/api/app#error=" + lure.replace(" ", "%20"))
    me.page.locator("#banner:not([hidden])").wait_for()
    text = me.page.locator("#banner").inner_text()
    assert "Call" not in text and "555" not in text
    assert "Sign-in failed. Please try again." in text
    assert urlsplit(me.page.url).fragment == ""
    me.page.goto("about:blank")  # (a new fragment alone would not load the page again)
    me.open("/api/app#error=access-denied")
    me.wait_text("#banner", "The sign-in was cancelled.")
    me.close()


def test_item1_a_login_code_planted_in_a_victims_page_does_not_sign_it_in(
    stack: Stack, browser: Any
) -> None:
    """Issue 18, item 1, in the browser: the attacker signs in at the local provider as
    alice (a requests session as their browser), stops at the app's redirect, and opens
    the victim's page at ``/api/app#login=<code>``. The victim's page (no cookie of the
    attacker's) stays signed out and says the sign-in failed."""
    from types import SimpleNamespace

    from tests.e2e.test_social_sign_in import finish, login_code_of, to_callback

    world = SimpleNamespace(
        host=stack.host, provider=stack.provider,
        callback=f"{stack.url}/api/auth/{PROVIDER_NAME}/callback",
    )  # fmt: skip
    attacker = requests.Session()
    code = login_code_of(finish(world, attacker, to_callback(world, attacker)))  # type: ignore[arg-type]
    victim = stack.screen(browser, "planted-login-code")
    victim.open(f"/api/app#login={code}")
    victim.page.locator("#banner:not([hidden])").wait_for()
    assert "Sign-in failed" in victim.page.locator("#banner").inner_text()
    victim.page.wait_for_selector("#view-signin:not([hidden])")
    assert victim.page.locator("#session").is_hidden()
    assert victim.api_requests("/api/auth/token")
    victim.close()


def test_a_short_filtered_page_with_a_cursor_is_followed_to_fill_the_list(
    stack: Stack, browser: Any
) -> None:
    """A filtered job list examines at most 1,000 jobs a request, so a page may come back
    short with a cursor (docs/jobs.md). The first filtered answer is cut to one job (the
    rest of the real answer dropped, the real cursor after that job kept): the app asks
    on from the cursor for the rest and shows every pending job, no "More" left."""
    address = stack.user("pager")
    login = {"email": address, "password": PASSWORD}
    token = requests.post(f"{stack.url}/api/login", json=login, timeout=15).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    later = (datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)).isoformat()
    names = [f"Paged job {n}" for n in range(3)]
    for name in names:
        requests.post(f"{stack.url}/api/jobs", headers=auth, timeout=15, json={
            "name": name, "kind": "text.sentiment", "params": {"texts": ["fine"]},
            "scheduled_time": later}).raise_for_status()  # fmt: skip
    me = stack.screen(browser, "pager").open()
    me.log_in(address)
    me.tab("Jobs")
    for name in names:
        job_row(me, "own-jobs", name).wait_for()
    asked: list[str] = []

    def short_first(route: Any) -> None:
        asked.append(route.request.url)
        if len(asked) > 1:
            route.continue_()
            return
        real = route.fetch()
        body = real.json()
        one = requests.get(f"{stack.url}/api/jobs?status=pending&limit=1", headers=auth,
                           timeout=15).json()  # fmt: skip
        assert len(body["items"]) == 3 and one["next_cursor"]
        route.fulfill(
            response=real, json={"items": one["items"], "next_cursor": one["next_cursor"]}
        )

    me.page.route("**/api/jobs?*status=pending*", short_first)
    followed = me.page.expect_response(lambda r: "status=pending" in r.url and "cursor=" in r.url)
    with followed as answer:  # Playwright's own wait: it runs the route handler meanwhile
        me.page.locator("#filter-status").select_option("pending")
    assert answer.value.ok
    me.page.wait_for_function("() => document.querySelectorAll('#own-jobs > li').length === 3")
    for name in names:
        job_row(me, "own-jobs", name).wait_for()
    assert "cursor=" in asked[1] and "limit=19" in asked[1]
    assert me.page.locator("#own-more").is_hidden()
    me.close()
