"""Route templates and precedence, as the Functions host (ASP.NET routing) applies them."""

from __future__ import annotations

import pytest

from devtools.routing import RouteTable, RouteTemplateError, parse_template, split_path


def table(*routes: tuple[str, list[str] | None]) -> RouteTable[str]:
    result: RouteTable[str] = RouteTable()
    for template, methods in routes:
        result.add(template, methods, template)
    return result


def resolve(routes: RouteTable[str], path: str, method: str = "GET") -> tuple[str, dict] | None:
    match, _ = routes.resolve(path, method)
    return (match.route.target, match.params) if match else None


def test_literal_segment_wins_over_parameter_whatever_the_order_added() -> None:
    routes = table(("api/jobs/{id}", ["GET"]), ("api/jobs/open", ["GET"]))
    assert resolve(routes, "/api/jobs/open") == ("api/jobs/open", {})
    assert resolve(routes, "/api/jobs/42") == ("api/jobs/{id}", {"id": "42"})


def test_constrained_parameter_wins_over_plain_one() -> None:
    routes = table(("api/items/{slug}", None), ("api/items/{id:int}", None))
    assert resolve(routes, "/api/items/7") == ("api/items/{id:int}", {"id": "7"})
    assert resolve(routes, "/api/items/seven") == ("api/items/{slug}", {"slug": "seven"})


def test_typed_parameter_rejects_values_of_another_type() -> None:
    routes = table(("api/items/{id:int}", None))
    assert resolve(routes, "/api/items/abc") is None
    assert resolve(routes, "/api/items/99999999999") is None  # beyond int32, as in .NET
    assert resolve(routes, "/api/items/-3") == ("api/items/{id:int}", {"id": "-3"})


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("{v:guid}", "0b8f7c8e-6f6e-4a43-9a5e-0c0d6e0f3a11", "not-a-guid"),
        ("{v:bool}", "True", "yes"),
        ("{v:alpha}", "Paris", "Paris1"),
        ("{v:double}", "1.5", "one"),
        ("{v:int:min(1)}", "1", "0"),
        ("{v:range(1,10)}", "10", "11"),
        ("{v:minlength(3)}", "abc", "ab"),
        ("{v:regex(^[a-z]{{2}}$)}", "fr", "fra"),
    ],
)
def test_constraints(template: str, good: str, bad: str) -> None:
    template = template.replace("{{", "{").replace("}}", "}")
    routes = table((f"api/x/{template}", None))
    assert resolve(routes, f"/api/x/{good}") is not None
    assert resolve(routes, f"/api/x/{bad}") is None


def test_optional_parameter_may_be_absent() -> None:
    routes = table(("api/weather/{city?}", None))
    assert resolve(routes, "/api/weather") == ("api/weather/{city?}", {})
    assert resolve(routes, "/api/weather/Paris") == ("api/weather/{city?}", {"city": "Paris"})
    assert resolve(routes, "/api/weather/Paris/extra") is None


def test_default_value_fills_a_missing_parameter() -> None:
    routes = table(("api/report/{format=json}", None))
    assert resolve(routes, "/api/report") == ("api/report/{format=json}", {"format": "json"})
    assert resolve(routes, "/api/report/csv") == ("api/report/{format=json}", {"format": "csv"})


def test_catch_all_takes_the_rest_of_the_path_and_loses_to_everything_else() -> None:
    routes = table(("api/app/{*path}", None), ("api/app/config.json", None))
    assert resolve(routes, "/api/app/js/main.js") == ("api/app/{*path}", {"path": "js/main.js"})
    assert resolve(routes, "/api/app/config.json") == ("api/app/config.json", {})
    assert resolve(routes, "/api/app") == ("api/app/{*path}", {})


def test_literals_match_case_insensitively_and_values_are_percent_decoded() -> None:
    routes = table(("api/Cities/{name}", None))
    assert resolve(routes, "/API/cities/S%C3%A3o%20Paulo") == (
        "api/Cities/{name}",
        {"name": "São Paulo"},
    )


def test_method_filter_and_the_path_matched_flag() -> None:
    routes = table(("api/jobs/{id}", ["DELETE"]), ("api/jobs/{id:int}", ["GET"]))
    assert resolve(routes, "/api/jobs/5", "DELETE") == ("api/jobs/{id}", {"id": "5"})
    assert resolve(routes, "/api/jobs/5", "get") == ("api/jobs/{id:int}", {"id": "5"})
    match, path_matched = routes.resolve("/api/jobs/abc", "GET")
    assert match is None
    assert path_matched is True
    match, path_matched = routes.resolve("/api/nothing", "GET")
    assert match is None
    assert path_matched is False


def test_trailing_slash_and_empty_path() -> None:
    routes = table(("api/health", None))
    assert resolve(routes, "/api/health/") == ("api/health", {})
    assert split_path("/") == []


@pytest.mark.parametrize(
    "template",
    [
        "api/{id}/{id}",  # duplicate name
        "api/{*rest}/more",  # catch-all not last
        "api/x{id}",  # parameter sharing a segment (not supported here)
        "api/{id:nosuch}",  # unknown constraint
        "api/{a?}/{b}",  # required after optional
        "api//x",  # empty segment
    ],
)
def test_templates_the_host_refuses(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        parse_template(template)
