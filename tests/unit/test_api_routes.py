"""Every route of /work/shared/API.md (Operations, Accounts, Weather and history, Jobs),
resolved through the real app's function metadata (``function_app.app.get_functions()``)
under the real Functions host's rules (devtools/routing.py: functions in name order,
case-insensitively, the first matching template and method wins; no ASP.NET precedence).

The ids are minted by the code that mints them in the app. A row whose function is
``None`` is in API.md but not (yet) served by this app: the test checks that no other
function captures its path; whoever adds it names the function here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pytest

from devtools.routing import RouteTable, order_key
from shared.domain.jobs import new_job_id, owner_in_job_id, time_sortable_id

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
USER = str(uuid.uuid4())
JOB = new_job_id(NOW, USER)
BID = time_sortable_id(NOW + timedelta(seconds=1))

ROUTES: list[tuple[str, str, str | None]] = [
    # Operations
    ("GET", "/api/health", "health_check"),
    ("GET", "/api/openapi.json", "openapi_document"),
    ("GET", "/api/docs", "api_docs"),
    ("GET", "/api/docs/swagger-ui.css", "api_docs_asset"),
    ("GET", "/api/docs/init.js", "api_docs_asset"),
    ("GET", "/api/app", "web_app"),
    ("GET", "/api/app/app.js", "web_app_asset"),
    ("GET", "/api/app/v/0123456789abcdef/vendor/web-pubsub-client/x.js", "web_app_asset"),
    ("POST", "/admin/functions/process_job", None),  # the host's admin API, not a route
    # Accounts
    ("POST", "/api/register", "register"),
    ("POST", "/api/resend-otp", "resend_otp"),
    ("POST", "/api/verify-email", "verify_email"),
    ("POST", "/api/login", "login"),
    ("GET", "/api/me", "me"),
    ("GET", "/api/users", "list_users"),
    ("PUT", f"/api/users/{USER}/plan", "set_plan"),
    ("GET", "/api/auth/providers", "auth_providers"),
    ("GET", "/api/auth/local/login", "social_login"),
    ("GET", "/api/auth/local/callback", "social_callback"),
    ("GET", "/api/auth/entra-id/login", "social_login"),
    ("GET", "/api/auth/google/callback", "social_callback"),
    ("POST", "/api/auth/token", "social_token"),
    ("GET", "/api/auth/token", None),
    ("POST", "/api/auth/providers", None),
    ("GET", "/api/auth/token/login", "social_login"),  # a provider named "token": its own route
    ("GET", "/api/auth/-x/login", None),  # not a provider name's shape
    ("GET", f"/api/auth/{'a' * 33}/login", None),
    ("GET", "/api/auth/lo%2Fcal/login", None),
    ("GET", "/api/auth/local%0A/callback", None),
    ("POST", "/api/auth/local/login", None),
    # Weather and history
    ("GET", "/api/weather", "get_weather"),
    ("GET", "/api/history", "list_history"),
    ("DELETE", "/api/history", "clear_history"),
    # Subscriptions and real time
    ("GET", "/api/subscriptions", "list_subscriptions"),
    ("POST", "/api/subscriptions", "subscribe"),
    ("DELETE", "/api/subscriptions/2950159", "unsubscribe"),
    ("DELETE", "/api/subscriptions/ow:-33.8688,151.2093", "unsubscribe"),
    ("GET", "/api/cities/2950159/observations", "list_city_observations"),
    ("GET", "/api/cities/ow:-33.8688,151.2093/observations", "list_city_observations"),
    ("POST", "/api/realtime/negotiate", "negotiate"),
    ("GET", "/api/realtime/negotiate", None),
    # Jobs
    ("POST", "/api/jobs", "create_job"),
    ("GET", "/api/jobs", "list_jobs"),
    ("GET", "/api/jobs/open", "list_open_jobs"),
    ("GET", "/api/jobs/assigned", "list_assigned_jobs"),
    ("GET", "/api/jobs/summary", "job_summary"),
    ("GET", f"/api/jobs/{JOB}", "get_job"),
    ("PATCH", f"/api/jobs/{JOB}", "edit_job"),
    ("DELETE", f"/api/jobs/{JOB}", "cancel_job"),
    ("GET", f"/api/jobs/{JOB}/result", "job_result"),
    ("POST", f"/api/jobs/{JOB}/bids", "place_bid"),
    ("GET", f"/api/jobs/{JOB}/bids", "list_bids"),
    ("POST", f"/api/jobs/{JOB}/bids/{BID}/accept", "accept_bid"),
    # What no route takes: a 404 from routing (the host's answer; not 405)
    ("PUT", f"/api/admin/users/{USER}/plan", None),  # the old route: gone, as in Azure
    ("GET", f"/api/users/{USER}/plan", None),
    ("DELETE", "/api/health", None),
    ("POST", "/api/jobs/open", None),
    ("PUT", f"/api/jobs/{JOB}", None),
    ("TRACE", "/api/jobs", None),
    ("DELETE", "/api/subscriptions", None),
    ("GET", "/api/subscriptions/2950159", None),
    ("DELETE", "/api/subscriptions/Berlin", None),
    ("DELETE", "/api/subscriptions/ow:48.85,2.35", None),
    ("GET", "/api/cities/Berlin/observations", None),
    ("GET", "/api/cities/2950159", None),
    ("POST", "/api/cities/2950159/observations", None),
    ("POST", "/api/app", None),
    ("DELETE", "/api/app/app.js", None),
    ("GET", "/api/apps", None),  # the catch-all takes only what is under app/
    ("GET", "/api/application", None),
]


@lru_cache(maxsize=1)
def http_functions() -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    """(name, route, methods) of the app's HTTP functions, from the metadata the host reads
    (``get_functions()`` may be called once per app: it checks names are unique)."""
    import function_app

    found: list[tuple[str, str | None, tuple[str, ...]]] = []
    for function in function_app.app.get_functions():
        trigger: Any = function.get_trigger()
        if type(trigger).__name__ == "HttpTrigger":
            methods = tuple(str(getattr(m, "value", m)) for m in (trigger.methods or []))
            found.append((str(function.get_function_name()), trigger.route, methods))
    return tuple(found)


def host_table(order: Callable[[str], str] = order_key) -> RouteTable[str]:
    """The app's HTTP functions as the host loads them (refusals raise, as at load)."""
    table: RouteTable[str] = RouteTable(prefix="api")
    for name, route, methods in http_functions():
        table.add(name, route, methods or None, name, order=order)
    return table


def resolved(table: RouteTable[str], method: str, path: str) -> str | None:
    match, _ = table.resolve(path, method)
    return match.route.target if match else None


def _route_id(route: tuple[str, str, str | None]) -> str:
    # Stable across processes (pytest-xdist workers must collect the same ids): the minted
    # ids are random, so they are named, not spelled out.
    method, path, function = route
    path = path.replace(JOB, "{job}").replace(BID, "{bid}").replace(USER, "{user}")
    return f"{method}-{path}-{function}"


@pytest.mark.parametrize(("method", "path", "function"), ROUTES, ids=[_route_id(r) for r in ROUTES])
def test_every_api_route_reaches_its_function(method: str, path: str, function: str | None) -> None:
    assert resolved(host_table(), method, path) == function


def test_the_table_covers_every_http_function_of_the_app() -> None:
    named = {row[2] for row in ROUTES if row[2]}
    assert named == {route.name for route in host_table().routes}


@pytest.mark.parametrize(
    "order",
    [
        lambda name: name.upper(),  # .NET OrdinalIgnoreCase: "_" after letters
        lambda name: name.lower(),  # "_" before letters
        lambda name: "".join(chr(0x10FFFF - ord(c)) for c in name.lower()),  # reversed
    ],
    ids=["upper", "lower", "reversed"],
)
def test_routes_do_not_depend_on_function_order(order: Callable[[str], str]) -> None:
    """No two of the app's routes take the same request, so the host's exact name
    comparer (and any renaming) cannot change where a request goes."""
    table = host_table(order)
    for method, path, function in ROUTES:
        assert resolved(table, method, path) == function, (method, path)


@pytest.mark.parametrize("word", ["open", "assigned", "summary", "OPEN", "Summary"])
def test_job_words_never_reach_a_job_id_route(word: str) -> None:
    table = host_table()
    for suffix in ("", "/result", "/bids"):
        for method in ("GET", "PATCH", "DELETE", "POST"):
            name = resolved(table, method, f"/api/jobs/{word}{suffix}")
            assert name in {None, "list_open_jobs", "list_assigned_jobs", "job_summary"}


@pytest.mark.parametrize(
    "bad",
    ["%2F", "%5C", "%23", "%3F", "%00", "%0A", "%1F", "%7F", "%C2%85", "%20", "~", ".", "%25"],
)
def test_ids_holding_characters_table_keys_forbid_do_not_match(bad: str) -> None:
    table = host_table()
    for method, path in [
        ("GET", f"/api/jobs/{JOB}{bad}"),
        ("GET", f"/api/jobs/{JOB[:20]}{bad}{JOB[20:]}"),
        ("POST", f"/api/jobs/{JOB}/bids/{BID}{bad}/accept"),
        ("PUT", f"/api/users/{USER}{bad}/plan"),
        ("PUT", f"/api/users/{bad}/plan"),
        ("DELETE", f"/api/subscriptions/2950159{bad}"),
        ("DELETE", f"/api/subscriptions/ow:48.8566,2.3522{bad}"),
    ]:
        assert resolved(table, method, path) is None, path


def test_the_route_shapes_are_those_of_the_ids_the_app_mints() -> None:
    table = host_table()
    for step in range(200):
        when = NOW + timedelta(milliseconds=37 * step)
        owner = str(uuid.uuid4())
        job = new_job_id(when, owner)
        assert owner_in_job_id(job) == owner
        assert resolved(table, "GET", f"/api/jobs/{job}") == "get_job"
        bid = time_sortable_id(when)
        assert resolved(table, "POST", f"/api/jobs/{job}/bids/{bid}/accept") == "accept_bid"
        assert resolved(table, "PUT", f"/api/users/{owner}/plan") == "set_plan"
    # Shapes that are not ids: too short, a bid id where a job id goes, an upper-case
    # owner part is fine (owner ids are [A-Za-z0-9_-]), a 101-character owner is not.
    assert resolved(table, "GET", f"/api/jobs/{BID}") is None
    assert resolved(table, "GET", "/api/jobs/123-abc") is None
    assert resolved(table, "GET", f"/api/jobs/{time_sortable_id(NOW)}-A_b-9") == "get_job"
    assert resolved(table, "GET", f"/api/jobs/{time_sortable_id(NOW)}-{'a' * 101}") is None


def test_city_routes_take_every_city_id_the_app_can_hold() -> None:
    """Ids of the city index (GeoNames) and of OpenWeatherMap's geocoder (``ow:lat,lon``,
    made by the adapter from any coordinate) reach DELETE /api/subscriptions/{city_id};
    the route's shape is the domain's CITY_ID."""
    from shared.adapters.city_index import CityIndex
    from shared.adapters.weather_openweather import _city
    from shared.container import CITY_INDEX_PATH
    from shared.domain.subscriptions import CITY_ID

    table = host_table()
    index = CityIndex(CITY_INDEX_PATH)
    ids = [city.id for name in ("Berlin", "Paris", "Sao Paulo", "Tokyo", "Zurich")
           for city in index.search(name, limit=5)]  # fmt: skip
    for lat, lon in [(-89.99999, -179.99999), (0.0, 0.0), (48.85661, 2.35222), (90, 180)]:
        made = _city({"name": "X", "lat": lat, "lon": lon, "country": "fr"})
        assert made is not None
        ids.append(made.id)
    assert len(ids) > 10
    for city_id in ids:
        assert CITY_ID.fullmatch(city_id), city_id
        assert resolved(table, "DELETE", f"/api/subscriptions/{city_id}") == "unsubscribe"
