"""The web app's files over HTTP through the local host: the page, its versioned assets,
caching (ETag, 304, immutable), gzip, and a Content-Security-Policy with no inline script."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import requests

from devtools.azurite import Azurite
from tests.conftest import base_settings_values
from tests.support.host import LocalHost


class PageParts(HTMLParser):
    """Every script, stylesheet and inline style or handler of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
            self._in_script = True
        if tag == "link":
            self.links.append(values)
        if tag == "style":
            self.inline.append("<style>")
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag} {name}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[LocalHost]:
    with LocalHost(base_settings_values(azurite.connection_string)) as host:
        yield host


def page_of(app: LocalHost) -> tuple[requests.Response, PageParts]:
    answer = requests.get(f"{app.url}/api/app", timeout=10)
    assert answer.status_code == 200, answer.text
    parts = PageParts()
    parts.feed(answer.text)
    return answer, parts


def test_the_page_has_a_strict_policy_and_no_inline_script_or_style(app: LocalHost) -> None:
    answer, parts = page_of(app)
    assert answer.headers["Content-Type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert parts.inline == []
    assert parts.scripts and all(s.get("type") == "module" and s.get("src") for s in parts.scripts)


def test_assets_are_versioned_immutable_gzipped_and_revalidated(app: LocalHost) -> None:
    _, parts = page_of(app)
    urls = [str(s["src"]) for s in parts.scripts] + [str(link["href"]) for link in parts.links]
    versions = {re.fullmatch(r"/api/app/v/([0-9a-f]{16})/.+", url).group(1) for url in urls}  # type: ignore[union-attr]
    assert len(versions) == 1
    script = next(u for u in urls if u.endswith("/app.js"))
    plain = requests.get(f"{app.url}{script}", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/javascript")
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Encoding" not in plain.headers
    zipped = requests.get(
        f"{app.url}{script}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10
    )
    raw = zipped.raw.read()
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content)
    again = requests.get(
        f"{app.url}{script}", headers={"If-None-Match": plain.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and not again.content

    page = requests.get(f"{app.url}/api/app", timeout=10)
    same = requests.get(
        f"{app.url}/api/app", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert same.status_code == 304


def test_the_vendored_client_is_one_module_served_beside_the_app(app: LocalHost) -> None:
    _, parts = page_of(app)
    version = re.search(r"/api/app/v/([0-9a-f]{16})/", str(parts.scripts[0]["src"])).group(1)  # type: ignore[union-attr]
    url = f"{app.url}/api/app/v/{version}/vendor/web-pubsub-client/web-pubsub-client.js"
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert "export{" in answer.text.replace(" ", "") and "WebPubSubClient" in answer.text
    assert not re.search(r"\bimport\s*[\w{*].*?from\s*['\"]", answer.text)  # nothing bare


def test_an_old_version_still_loads_but_is_not_cached_for_long(app: LocalHost) -> None:
    answer = requests.get(f"{app.url}/api/app/v/0000000000000000/app.js", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=0"
    unversioned = requests.get(f"{app.url}/api/app/app.css", timeout=10)
    assert unversioned.status_code == 200
    assert unversioned.headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize(
    "path",
    [
        "nothing.js",
        "v/0123456789abcdef/nothing.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",  # not one of the app's vendored libraries
        "vendor/web-pubsub-client",
        "..%2F..%2Fshared%2Fsettings.py",
        "%2E%2E/function_app.py",
        "v/x/../../../host.json",
        "app.js%00.png",
        ".hidden.js",
    ],
)
def test_anything_else_under_the_app_is_a_404_problem(app: LocalHost, path: str) -> None:
    answer = requests.get(f"{app.url}/api/app/{path}", timeout=10)
    assert answer.status_code == 404
    if answer.content:
        assert answer.headers["Content-Type"].startswith("application/problem+json")
