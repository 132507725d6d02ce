"""The web app in a real browser: Debian's Chromium driven by Playwright, for tests/e2e.

Playwright cannot download its own browsers here, so it drives ``/usr/bin/chromium``
(``.ci/run`` installs it when missing). ``Screen`` wraps one browser context (one person):
it records every request and WebSocket the page opens, every console error and uncaught
exception, and checks a screen with axe-core (node_modules/axe-core, injected through the
DevTools protocol, which the page's Content-Security-Policy does not govern), for
horizontal scrolling, and writes a screenshot to tests/artifacts/.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from shared.domain.accounts import code_from_email

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"


def launch(playwright: Any) -> Any:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


def code_in_outbox(folder: Path, address: str, *, after: float = 0.0, timeout: float = 30) -> str:
    """The newest verification code e-mailed to ``address`` (a file written after ``after``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        newest: tuple[float, str] | None = None
        for path in folder.glob("*.eml"):
            stamp = path.stat().st_mtime
            if stamp < after:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            code = code_from_email(message)
            wanted = code and address.lower() in str(message["To"]).lower()
            if wanted and (newest is None or stamp > newest[0]):
                newest = (stamp, str(code))
        if newest:
            return newest[1]
        time.sleep(0.1)
    seen = [
        f"{path.name} to {email.message_from_bytes(path.read_bytes())['To']} "
        f"{path.stat().st_mtime - after:+.2f} s"
        for path in sorted(folder.glob("*.eml"))
    ]  # what did arrive, for the failure's reader
    raise AssertionError(f"no code for {address} in {folder} after {timeout} s; there: {seen}")


def verified_user(base_url: str, outbox: Path, address: str, password: str = PASSWORD) -> str:
    """Register and verify ``address`` over the API (for the people a test only needs)."""
    started = time.time() - 1
    response = requests.post(
        f"{base_url}/api/register", json={"email": address, "password": password}, timeout=15
    )
    assert response.status_code == 201, response.text
    code = code_in_outbox(outbox, address, after=started)
    response = requests.post(
        f"{base_url}/api/verify-email", json={"email": address, "otp": code}, timeout=15
    )
    assert response.status_code == 200, response.text
    return address


@dataclass
class Screen:
    """One person's browser context on the app, with what it did recorded."""

    browser: Any
    base_url: str
    allowed_hosts: set[str]
    name: str = "user"
    viewport: dict[str, int] = field(default_factory=lambda: dict(PHONE))
    color_scheme: str = "light"
    requests: list[tuple[str, str]] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = self.browser.new_context(
            viewport=self.viewport, locale="en-GB", color_scheme=self.color_scheme
        )
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.page.on("requestfinished", lambda r: self.finished.append((r.method, r.url)))
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource": those are the API's
        # problem answers the page shows (a wrong code, a full quota), not page errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    # -- driving ------------------------------------------------------------------------
    def open(self, path: str = "/api/app") -> Screen:
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector(".view:not([hidden])")
        return self

    def view(self) -> Any:
        """The screen showing now (the others are hidden, and share some labels)."""
        return self.page.locator(".view:not([hidden])")

    def log_in(self, address: str, password: str = PASSWORD) -> None:
        page = self.page
        page.wait_for_selector("#view-signin:not([hidden])")
        form = page.locator("#login-form")
        form.get_by_label("E-mail").fill(address)
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_selector("#session:not([hidden])")
        self.wait_text("#me-email", address)

    def tab(self, name: str) -> None:
        self.page.locator("#tabs").get_by_role("button", name=name).click()

    def wait_live(self, timeout: float = 60) -> None:
        self.page.wait_for_selector('#live-status[data-state="live"]', timeout=timeout * 1000)

    def wait_text(self, selector: str, text: str, timeout: float = 30) -> None:
        self.page.locator(selector).filter(has_text=text).first.wait_for(timeout=timeout * 1000)

    def wait_until(self, condition: Callable[[], Any], timeout: float = 30) -> None:
        """Wait for a condition on what the page did. Playwright's sync API delivers page
        events only while one of its calls runs: so wait in the page, not in time.sleep."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            self.page.wait_for_timeout(50)

    def api_requests(self, path_prefix: str) -> list[tuple[str, str]]:
        return [(m, u) for m, u in self.requests if urlsplit(u).path.startswith(path_prefix)]

    # -- checks -------------------------------------------------------------------------
    def check_screen(self, label: str) -> None:
        """axe-core: no serious or critical violation; no horizontal scroll; a screenshot."""
        page = self.page
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
        )
        bad = [v for v in found if v["impact"] in {"serious", "critical"}]
        assert not bad, f"{label}: accessibility violations {bad}"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{label}: scrolls {overflow}px sideways at {self.viewport}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"), full_page=True)

    def hosts(self) -> set[str]:
        urls = [u for _, u in self.requests] + self.sockets
        return {urlsplit(u).netloc for u in urls if not u.startswith(("data:", "blob:"))}

    def close(self) -> None:
        """The page talked to no host but the app's (and the ones allowed); no errors."""
        try:
            assert self.hosts() <= self.allowed_hosts, self.hosts() - self.allowed_hosts
            assert not self.errors, self.errors
        finally:
            self.context.close()
