"""shared.http: parsing, problem+json, request ids, auth, serialisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import azure.functions as func
import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared import http
from shared.auth import TokenService
from shared.container import Container, set_container
from shared.domain.errors import Conflict, NotFound, RateLimited, UpstreamUnavailable
from shared.settings import Settings
from tests.conftest import TEST_SIGNING_KEY


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=5)
    count: int = 1


def request(
    body: bytes | str | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    raw = body.encode() if isinstance(body, str) else (body or b"")
    return func.HttpRequest(
        method=method,
        url="http://localhost/api/things?x=1",
        headers=headers or {},
        params=params or {},
        route_params={},
        body=raw,
    )


def problem(response: func.HttpResponse) -> dict:
    assert response.mimetype == "application/problem+json"
    return json.loads(response.get_body())


@http.endpoint("Echo a body", body=Body, response=Body, status=201)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return http.created(http.parse_body(req, Body))


@http.endpoint("Fails")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret connection string AccountKey=abc")


def test_valid_body_is_parsed_and_request_id_is_added() -> None:
    response = echo(request('{"name": "ab"}'))
    assert response.status_code == 201
    assert json.loads(response.get_body()) == {"name": "ab", "count": 1}
    assert len(response.headers["X-Request-Id"]) == 32


def test_callers_request_id_is_echoed_and_unsafe_ones_replaced() -> None:
    assert (
        echo(request('{"name": "a"}', headers={"X-Request-Id": "abc-123"})).headers["X-Request-Id"]
        == "abc-123"
    )
    replaced = echo(request('{"name": "a"}', headers={"X-Request-Id": "bad\r\nid"}))
    assert replaced.headers["X-Request-Id"] != "bad\r\nid"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": ""}', "name"),
        ('{"name": "toolong"}', "name"),
        ('{"name": "a", "count": "x"}', "count"),
        ('{"name": "a", "extra": 1}', "extra"),
        ("{}", "name"),
        ("not json", "body"),
        ("[1, 2]", "body"),
    ],
)
def test_invalid_bodies_give_400_with_field_errors(body: str, field: str) -> None:
    response = echo(request(body))
    assert response.status_code == 400
    data = problem(response)
    assert data["type"] == "/problems/validation"
    assert data["status"] == 400
    assert field in [e["field"] for e in data["errors"]]


def test_body_over_64_kib_gives_413() -> None:
    response = echo(request('{"name": "' + "a" * (64 * 1024) + '"}'))
    assert response.status_code == 413
    assert problem(response)["type"] == "/problems/payload-too-large"


def test_unexpected_errors_give_500_without_internals() -> None:
    response = boom(request())
    assert response.status_code == 500
    text = response.get_body().decode()
    assert "AccountKey" not in text and "Traceback" not in text
    assert problem(response)["type"] == "/problems/internal"


@pytest.mark.parametrize(
    ("error", "status", "slug", "header"),
    [
        (NotFound("no such job"), 404, "not-found", None),
        (Conflict("not editable", slug="job-not-editable"), 409, "job-not-editable", None),
        (RateLimited("slow down", retry_after=7), 429, "rate-limited", ("Retry-After", "7")),
        (
            UpstreamUnavailable("down", retry_after=30),
            503,
            "upstream-unavailable",
            ("Retry-After", "30"),
        ),
    ],
)
def test_domain_errors_map_to_their_problem(error, status, slug, header) -> None:
    @http.endpoint("raises")
    def raises(req: func.HttpRequest) -> func.HttpResponse:
        raise error

    response = raises(request())
    assert response.status_code == status
    assert problem(response)["type"] == f"/problems/{slug}"
    if header:
        assert response.headers[header[0]] == header[1]


def test_endpoint_records_its_documentation() -> None:
    doc = http.ENDPOINT_DOCS["echo"]
    assert doc.body is Body and doc.status == 201 and doc.summary == "Echo a body"


def test_async_functions_are_wrapped_too() -> None:
    import asyncio

    @http.endpoint("async")
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        raise NotFound("nothing")

    response = asyncio.run(handler(request()))
    assert response.status_code == 404
    assert "X-Request-Id" in response.headers


def test_times_are_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    assert http.format_time(datetime(2026, 12, 1, 9, 0, tzinfo=paris)) == "2026-12-01T08:00:00Z"
    assert http.to_jsonable({"t": datetime(2026, 1, 1, tzinfo=UTC)}) == {
        "t": "2026-01-01T00:00:00Z"
    }


class TestAuthenticate:
    @pytest.fixture(autouse=True)
    def _container(self):
        settings = Settings(AUTH_SIGNING_KEY=TEST_SIGNING_KEY, ADMIN_EMAILS="Boss@Example.com")
        set_container(Container(settings=settings))
        yield
        set_container(None)

    def token(self, email: str = "a@example.com", key: str = TEST_SIGNING_KEY) -> str:
        return TokenService(key, 60).issue("u1", email, datetime.now(UTC)).access_token

    def test_valid_token_gives_the_principal(self) -> None:
        principal = http.authenticate(request(headers={"Authorization": f"Bearer {self.token()}"}))
        assert principal.user_id == "u1" and not principal.is_admin

    def test_admin_comes_from_admin_emails_case_insensitively(self) -> None:
        req = request(headers={"Authorization": f"Bearer {self.token('boss@example.com')}"})
        assert http.authenticate(req).is_admin

    @pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer not-a-jwt"])
    def test_missing_or_malformed_gives_401_with_challenge(self, header: str | None) -> None:
        @http.endpoint("me")
        def me(req: func.HttpRequest) -> func.HttpResponse:
            return http.ok({"id": http.authenticate(req).user_id})

        response = me(request(method="GET", headers={"Authorization": header} if header else {}))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert problem(response)["type"] == "/problems/unauthorized"

    def test_wrongly_signed_token_is_refused(self) -> None:
        from shared.domain.errors import Unauthorized

        forged = self.token(key="another-key-0123456789abcdef0123456789")
        with pytest.raises(Unauthorized):
            http.authenticate(request(headers={"Authorization": f"Bearer {forged}"}))

    def test_no_token_means_anonymous_for_optional_auth(self) -> None:
        assert http.optional_principal(request()) is None


# -- what no layer behind parse_body / parse_query ever sees ----------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 60_000, "nested deeper than 32 levels"),
        (b'{"name": ' + b"[" * 33 + b"]" * 33 + b"}", "nested deeper than 32 levels"),
        (b'{"name": "a", "count": ' + b"9" * 5000 + b"}", "a number longer than 64"),
        (b'{"name": "a", "count": 1e999}', "out of range"),
        (b'{"name": "a", "count": NaN}', "NaN is not a JSON number"),
        (b'{"name": "a", "count": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"name": "\\ud800"}', "unpaired surrogate"),
        (b'{"\\udc00": 1}', "unpaired surrogate"),
        (b'{"name": "caf\xe9"}', "not UTF-8"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
    ],
)
def test_bodies_python_cannot_handle_are_400_before_any_model(body: bytes, message: str) -> None:
    response = echo(request(body))
    assert response.status_code == 400
    data = problem(response)
    assert data["type"] == "/problems/validation"
    assert any(message in e["message"] for e in data["errors"]), data


def test_strings_that_look_deep_are_not_counted_as_nesting() -> None:
    response = echo(request('{"name": "' + "[" * 40 + '", "count": 2}'))
    assert response.status_code == 400  # too long for the model, but not "nested"
    assert problem(response)["errors"][0]["field"] == "name"
    assert echo(request(b'{"name": "\\"[{"}')).status_code == 201
    assert echo(request(b'{"name": "\\ud83d\\ude00"}')).status_code == 201  # a real pair


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/xml",
    ],
)
def test_a_body_declared_as_something_else_is_415(content_type: str) -> None:
    response = echo(request('{"name": "a"}', headers={"Content-Type": content_type}))
    assert response.status_code == 415
    assert problem(response)["type"] == "/problems/unsupported-media-type"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "Application/JSON; charset=UTF-8", "application/merge-patch+json"],
)
def test_json_in_utf_8_is_taken(content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert echo(request('{"name": "a"}', headers=headers)).status_code == 201


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1, max_length=100)


@http.endpoint("Query", query=Query)
def search(req: func.HttpRequest) -> func.HttpResponse:
    return http.ok(http.parse_query(req, Query))


@pytest.mark.parametrize(
    "city", ["Paris\u0081x", "a\nb", "nul\x00", "tab\there", "\x7f", "bad\ufffd"]
)
def test_control_characters_and_non_utf8_in_query_values_are_400(city: str) -> None:
    response = search(request(method="GET", params={"city": city}))
    assert response.status_code == 400
    assert problem(response)["errors"][0]["field"] == "city"


def test_pattern_errors_say_what_is_wrong_not_the_pattern() -> None:
    from shared.domain.text import Line

    class Named(BaseModel):
        name: Line

    @http.endpoint("named", body=Named)
    def named(req: func.HttpRequest) -> func.HttpResponse:
        return http.ok(http.parse_body(req, Named))

    response = named(request('{"name": "a\\u0007b"}'))
    assert response.status_code == 400
    assert problem(response)["errors"] == [
        {"field": "name", "message": "must not contain control characters"}
    ]


def test_item6_client_address_takes_the_entry_of_the_trusted_hops_and_ignores_spoofing() -> None:
    """Issue 18, item 6. Each proxy appends the address it received the request from to
    X-Forwarded-For; only what our own proxies appended can be trusted. App Service's
    front end appends ``ip:port`` of its peer (azure-functions-host #11254 shows the
    header as the worker receives it behind Front Door: the client, then Front Door)."""
    import azure.functions as func

    from shared.http import client_address

    def address(forwarded: str | None, hops: int) -> str:
        headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
        req = func.HttpRequest("GET", "http://h/api/weather", headers=headers, body=b"")
        return client_address(req, hops)

    # 0 hops (nothing in front, as locally and in compose): the header is the caller's
    # own claim, whatever it says: one shared key.
    for forged in (None, "203.0.113.7", "198.51.100.1, 203.0.113.7"):
        assert address(forged, 0) == "unknown"
    # 1 hop (App Service's front end): the last entry; what the client put before is not.
    assert address("203.0.113.7:50123", 1) == "203.0.113.7"
    assert address("6.6.6.6, 203.0.113.7:50123", 1) == "203.0.113.7"
    assert address("6.6.6.6, 7.7.7.7, 203.0.113.7:50123", 1) == "203.0.113.7"
    # 2 hops (Front Door, then the front end, which appends Front Door's address): the
    # client is the second from the right, not the shared Front Door address.
    assert address("203.0.113.7, 147.243.2.10:4455", 2) == "203.0.113.7"
    assert address("6.6.6.6, 203.0.113.7, 147.243.2.10:4455", 2) == "203.0.113.7"
    assert address("198.51.100.9, 147.243.2.10:4455", 2) == "198.51.100.9"
    # Fewer entries than trusted hops (a request that bypassed a proxy), or garbage.
    assert address("147.243.2.10:4455", 2) == "unknown"
    assert address(None, 1) == "unknown"
    assert address("not-an-address", 1) == "unknown"
    # IPv6: the /64, with or without brackets and port; IPv4-mapped is IPv4.
    assert address("[2001:db8:1:2:3:4:5:6]:443", 1) == "2001:db8:1:2::/64"
    assert address("::ffff:203.0.113.7", 1) == "203.0.113.7"
