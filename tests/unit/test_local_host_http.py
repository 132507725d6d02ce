"""The local host's HTTP front, in process (no sockets): CORS as ``func start`` applies it,
the host's answers to paths and methods no function takes, the concurrency throttle, and
the routes the host refuses at load. Sources: devtools/cors.py and devtools/routing.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from devtools.cors import INSECURE, CorsConfigError, CorsPolicy
from devtools.functions import IndexingError
from devtools.host import FunctionsHost
from devtools.hostconfig import HostConfig, HttpLimits
from tests.support.waiting import wait_for

BASE = "http://127.0.0.1:7071"
ROOT = Path(__file__).resolve().parents[2]


def small_app(release: threading.Event | None = None) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="items", methods=["GET"])
    def list_items(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("[]", mimetype="application/json")

    @app.route(route="slow", methods=["GET"])
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        if release is not None:
            release.wait(10)
        return func.HttpResponse("done")

    return app


@pytest.fixture
def hosts() -> Iterator[list[FunctionsHost]]:
    made: list[FunctionsHost] = []
    yield made
    for host in made:
        host.invoker.close(1)


def build(
    hosts: list[FunctionsHost],
    app: func.FunctionApp | None = None,
    cors: CorsPolicy | None = None,
    http: HttpLimits | None = None,
) -> FunctionsHost:
    host = FunctionsHost(app or small_app(), HostConfig(http=http or HttpLimits()), {}, cors)
    hosts.append(host)
    return host


def call(
    host: FunctionsHost, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return host.handle_http(method, path, headers or {}, b"", BASE)


# -- paths and methods no function takes -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nothing"),  # no template matches
        ("POST", "/api/items"),  # the template matches, the method does not
        ("DELETE", "/api/items"),
        ("HEAD", "/api/items"),  # a GET route does not take HEAD (azure-functions-host #11625)
        ("TRACE", "/api/items"),  # an unknown method goes through routing like any other
        ("PROPFIND", "/api/items"),
        ("GET", "/items"),  # outside the route prefix
    ],
)
def test_what_no_route_takes_is_an_empty_404(method: str, path: str, hosts: list) -> None:
    # The host's routing answers 404 with no body in both cases, not 405 and never 501
    # (azure-functions-host #10098: "DELETE /api/products ... the response is a 404 Not
    # Found, Content-Length: 0").
    status, headers, body = call(build(hosts), method, path)
    assert (status, body) == (404, b"")
    assert not any(k.lower() == "content-type" for k in headers)


def test_the_method_of_a_route_matches_in_any_case(hosts: list) -> None:
    status, _, body = call(build(hosts), "get", "/api/items")
    assert (status, body) == (200, b"[]")


# -- CORS --------------------------------------------------------------------------------


def test_without_cors_settings_no_cors_headers_and_options_is_routed(hosts: list) -> None:
    host = build(hosts)
    preflight = {"Origin": "http://app.test", "Access-Control-Request-Method": "GET"}
    status, headers, _ = call(host, "OPTIONS", "/api/items", preflight)
    assert status == 404  # no CORS middleware: OPTIONS reaches routing, no route takes it
    assert not any(k.lower().startswith("access-control") for k in headers)


def test_preflight_is_answered_204_on_any_path_with_the_requested_method_and_headers(
    hosts: list,
) -> None:
    host = build(hosts, cors=CorsPolicy.from_setting("http://app.test,https://b.test", "true"))
    for path in ("/api/items", "/api/no-such-route"):
        status, headers, body = call(
            host,
            "OPTIONS",
            path,
            {
                "Origin": "http://app.test",
                "Access-Control-Request-Method": "DELETE",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert (status, body) == (204, b"")
        assert headers == {
            "Access-Control-Allow-Origin": "http://app.test",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "DELETE",
            "Access-Control-Allow-Headers": "authorization,content-type",
            "Vary": "Origin",
        }


def test_preflight_from_an_origin_not_listed_is_204_without_cors_headers(hosts: list) -> None:
    host = build(hosts, cors=CorsPolicy.from_setting("http://app.test", None))
    status, headers, _ = call(
        host,
        "OPTIONS",
        "/api/items",
        {"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
    )
    assert status == 204
    assert headers == {}


def test_simple_requests_from_allowed_origins_get_the_headers_whatever_the_status(
    hosts: list,
) -> None:
    host = build(hosts, cors=CorsPolicy.from_setting("*", False))
    status, headers, _ = call(host, "GET", "/api/items", {"Origin": "http://any.test"})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers
    status, headers, _ = call(host, "GET", "/api/none", {"Origin": "http://any.test"})
    assert (status, headers) == (404, {"Access-Control-Allow-Origin": "*"})
    # No Origin: not a CORS request; nothing added.
    _, headers, _ = call(host, "GET", "/api/items")
    assert "Access-Control-Allow-Origin" not in headers


def test_cors_settings_are_read_as_core_tools_reads_them() -> None:
    assert CorsPolicy.from_setting("", True) is None
    assert CorsPolicy.from_setting(None, None) is None
    policy = CorsPolicy.from_setting("HTTP://App.Test:8080,,http://b.test", "false")
    assert policy is not None
    assert policy.origins == ("http://app.test:8080", "http://b.test")
    assert policy.credentials is False
    assert policy.allows("http://app.test:8080")
    assert not policy.allows("http://app.test")  # another port is another origin
    # "*" means any origin only alone; listed with others it is just a string.
    mixed = CorsPolicy.from_setting("*,http://b.test", False)
    assert mixed is not None and not mixed.allows("http://c.test")
    with pytest.raises(CorsConfigError) as refused:
        CorsPolicy.from_setting("*", "true")
    assert str(refused.value) == INSECURE


# -- the throttle --------------------------------------------------------------------------


def test_requests_beyond_max_concurrent_wait_and_beyond_max_outstanding_get_429(
    hosts: list,
) -> None:
    release = threading.Event()
    host = build(
        hosts,
        app=small_app(release),
        http=HttpLimits(max_concurrent_requests=1, max_outstanding_requests=2),
    )
    results: list[Any] = []

    def slow_call() -> None:
        results.append(call(host, "GET", "/api/slow")[0])

    first = threading.Thread(target=slow_call)
    first.start()
    second = threading.Thread(target=slow_call)
    second.start()
    # Both are outstanding (one runs, one waits for the slot) before a third arrives.
    wait_for(lambda: host._outstanding == 2, timeout=10, interval=0.01)
    assert host.invoker.running == 1  # maxConcurrentRequests=1: the second waits
    assert call(host, "GET", "/api/slow") == (429, {}, b"")
    release.set()
    first.join(10)
    second.join(10)
    assert results == [200, 200]


# -- load-time refusals ------------------------------------------------------------------


def test_an_app_with_an_admin_route_does_not_load(hosts: list) -> None:
    app = small_app()

    @app.route(route="admin/users/{user_id}/plan", methods=["PUT"])
    def set_plan(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("")

    with pytest.raises(IndexingError) as refused:
        build(hosts, app=app)
    assert str(refused.value) == (
        "The 'set_plan' function is in error: "
        "The specified route conflicts with one or more built in routes."
    )


def test_an_app_with_two_functions_on_one_route_and_method_does_not_load(hosts: list) -> None:
    app = small_app()

    @app.route(route="items", methods=["GET", "POST"])
    def add_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("")

    with pytest.raises(IndexingError) as refused:
        build(hosts, app=app)
    assert str(refused.value) == (
        "The 'list_items' function is in error: "
        "The route specified conflicts with the route defined by function 'add_item'."
    )


def test_http_limits_come_from_host_json_and_its_overrides(tmp_path: Path) -> None:
    from devtools.hostconfig import ConfigError, load_host_config

    assert load_host_config(ROOT / "host.json", {}).http == HttpLimits(100, -1)
    assert load_host_config(tmp_path / "none.json", {}).http == HttpLimits(-1, -1)
    overridden = load_host_config(
        ROOT / "host.json",
        {"AzureFunctionsJobHost__extensions__http__maxOutstandingRequests": "200"},
    )
    assert overridden.http == HttpLimits(100, 200)
    with pytest.raises(ConfigError):
        load_host_config(
            ROOT / "host.json",
            {"AzureFunctionsJobHost__extensions__http__maxConcurrentRequests": "0"},
        )
