"""Issue 18 item 10, through the local host: what the OpenAPI document refuses, the app
refuses, and what it accepts, the app accepts.

- `/api/auth/B/login` and `/callback`: the host's route constraint ignores case (ASP.NET's
  RegexRouteConstraint does, so does devtools/routing.py), the documented pattern does not:
  the function answers 404 problem+json, and a lowercase unknown provider still goes back to
  the page with `#error=unknown-provider`.
- `POST /api/register`: the schema's e-mail pattern says which addresses are taken; the one
  schemathesis reported (`8`w+02a0/h@d.com`) is refused by both, and an unusual address the
  pattern allows is registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.host import LocalHost


@pytest.fixture
def host(local_host_factory: Callable[..., LocalHost], tmp_path: Path) -> LocalHost:
    return local_host_factory(
        EMAIL_PROVIDER="outbox", EMAIL_OUTBOX_DIR=str(tmp_path / "outbox"),
        RATE_LIMITS_ENABLED="false",
    )  # fmt: skip


def test_item10_a_provider_outside_the_documented_pattern_is_404(host: LocalHost) -> None:
    document = requests.get(f"{host.url}/api/openapi.json", timeout=10).json()
    for step in ("login", "callback"):
        parameter = document["paths"][f"/api/auth/{{provider}}/{step}"]["get"]["parameters"][0]
        pattern = parameter["schema"]["pattern"]
        assert not re.search(pattern, "B") and re.search(pattern, "b")
        refused = requests.get(f"{host.url}/api/auth/B/{step}", allow_redirects=False, timeout=10)
        assert refused.status_code == 404, refused.text
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        unknown = requests.get(f"{host.url}/api/auth/b/{step}", allow_redirects=False, timeout=10)
        assert unknown.status_code == 302
        assert unknown.headers["Location"] == "/api/app#error=unknown-provider"


def test_item10_register_takes_what_the_schema_takes(host: LocalHost) -> None:
    document = requests.get(f"{host.url}/api/openapi.json", timeout=10).json()
    email = document["components"]["schemas"]["RegisterIn"]["properties"]["email"]
    reported, unusual = "8`w+02a0/h@d.com", "8`w+02a0{h}|x@d-1.example.co-m"
    assert not re.search(email["pattern"], reported)
    assert re.search(email["pattern"], unusual)
    password = "correct horse battery"
    refused = requests.post(
        f"{host.url}/api/register", json={"email": reported, "password": password}, timeout=10
    )
    assert refused.status_code == 400, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["email"]
    taken = requests.post(
        f"{host.url}/api/register", json={"email": unusual, "password": password}, timeout=10
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["email"] == unusual
