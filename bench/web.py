"""The web app in a real browser (``python -m bench --only web``).

- first visit: bytes transferred (compressed, headers included, as the browser's network
  layer counts them) to load /api/app with an empty cache until the sign-in screen shows,
  beside the same files' uncompressed size, and the number of requests;
- login to first card: in the page, from the click on "Log in" (a capture listener
  stamps ``performance.now()``) to the first weather card showing a temperature (a
  MutationObserver stamps it), and to that card's chart drawn with its forecast and with
  its recorded observations (issue 20: those come from a second request), for an account
  following one city that one refresh has recorded; median of ``runs`` (log out, log in
  again), beside the same page's ``fetch`` of a bare static file from the same host (the
  app's icon, ``cache: "no-store"``), median of 20.

The local host runs on the given Azurite with the Web PubSub emulator and the simulated
weather provider; Debian's Chromium is driven by Playwright as in the browser tests.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from devtools.webpubsub import WebPubSubEmulator
from tests.support.browser import PASSWORD, launch, verified_user
from tests.support.host import LocalHost

STAMP_LOGIN = """() => {
  window.__bench = {};
  const button = document.querySelector('#login-form button[type=submit]');
  button.addEventListener('click', () => { window.__bench.start = performance.now(); },
                          { capture: true, once: true });
  const seen = () => [...document.querySelectorAll('#cards [data-field="temperature"]')]
    .some((node) => /\\d/.test(node.textContent));
  const stamp = (name, ready) => {
    if (window.__bench[name] === undefined && ready()) window.__bench[name] = performance.now();
  };
  new MutationObserver((changes, observer) => {
    if (window.__bench.start === undefined) return;
    stamp('card', seen);
    stamp('chart', () => document.querySelector('#cards figure.trend path.chart-line.forecast'));
    stamp('trend', () => document.querySelector('#cards figure.trend[data-recorded]'));
    if (window.__bench.trend !== undefined && window.__bench.card !== undefined) {
      observer.disconnect();
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""

BARE_FETCH = """async (url) => {
  const times = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    const answer = await fetch(url, { cache: 'no-store' });
    await answer.arrayBuffer();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}"""


def bench_web(values: dict[str, str], runs: int = 5) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as outbox,
        WebPubSubEmulator() as wps,
        LocalHost({
            **values,
            "EMAIL_OUTBOX_DIR": outbox,
            "WEBPUBSUB_CONNECTION_STRING": wps.connection_string,
        }) as host,
        sync_playwright() as playwright,
    ):  # fmt: skip
        browser = launch(playwright)
        try:
            results["first_visit"] = _first_visit(browser, host.url)
            address = verified_user(
                host.url, Path(outbox), f"bench-{uuid.uuid4().hex[:8]}@example.com"
            )
            token = requests.post(
                f"{host.url}/api/login", json={"email": address, "password": PASSWORD}, timeout=15
            ).json()["access_token"]
            followed = requests.post(
                f"{host.url}/api/subscriptions",
                json={"city": "Paris", "country": "FR"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            )
            if followed.status_code == 201:
                _record_one_refresh(host, token, followed.json()["city"]["id"])
            if followed.status_code != 201:
                results["login_to_first_card"] = {
                    "skipped": f"POST /api/subscriptions answered {followed.status_code}"
                }
            else:
                results["login_to_first_card"] = _login_to_card(browser, host.url, address, runs)
        finally:
            browser.close()
    return results


def _record_one_refresh(host: LocalHost, token: str, city_id: str) -> None:
    """Run the refresh once and wait for its observation of the city to be readable."""
    host.run_function("refresh_weather")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = requests.get(f"{host.url}/api/cities/{city_id}/observations",
                              headers={"Authorization": f"Bearer {token}"}, timeout=15)  # fmt: skip
        if answer.status_code == 200 and answer.json()["items"]:
            return
        time.sleep(0.2)
    raise RuntimeError("the refresh recorded no observation")


def _first_visit(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    started = time.perf_counter()
    page.goto(f"{url}/api/app", wait_until="networkidle")
    page.wait_for_selector("#view-signin:not([hidden])")
    shown_ms = (time.perf_counter() - started) * 1000
    transferred = body_encoded = body_decoded = 0
    for request in finished:
        sizes = request.sizes()
        transferred += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        body_encoded += sizes["responseBodySize"]
        response = request.response()
        if response is not None:
            body_decoded += len(response.body())
    context.close()
    return {
        "requests": len(finished),
        "bytes_transferred": transferred,
        "body_bytes_compressed": body_encoded,
        "body_bytes_uncompressed": body_decoded,
        "until_sign_in_shown_ms": round(shown_ms, 1),
    }


def _login_to_card(browser: Any, url: str, address: str, runs: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{url}/api/app")
    samples: list[float] = []
    chart_samples: list[float] = []
    trend_samples: list[float] = []
    for _ in range(runs):
        page.wait_for_selector("#view-signin:not([hidden])")
        page.evaluate(STAMP_LOGIN)
        form = page.locator("#login-form")
        form.get_by_label("E-mail").fill(address)
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_function(
            "() => window.__bench.card !== undefined && window.__bench.trend !== undefined",
            timeout=30_000,
        )
        stamps = page.evaluate("window.__bench")
        samples.append(stamps["card"] - stamps["start"])
        chart_samples.append(stamps["chart"] - stamps["start"])
        trend_samples.append(stamps["trend"] - stamps["start"])
        page.get_by_role("button", name="Log out").click()
    icon = page.evaluate("document.querySelector('link[rel=icon]').getAttribute('href')")
    bare = page.evaluate(BARE_FETCH, f"{url}{icon}")
    context.close()
    return {
        "runs": runs,
        "median_ms": round(statistics.median(samples), 1),
        "samples_ms": [round(s, 1) for s in samples],
        "card_with_forecast_chart_median_ms": round(statistics.median(chart_samples), 1),
        "chart_with_observations_median_ms": round(statistics.median(trend_samples), 1),
        "chart_with_observations_samples_ms": [round(s, 1) for s in trend_samples],
        "bare_static_file_fetch_median_ms": round(bare, 2),
    }
