"""Route templates, and route selection by the real Functions host's rules.

The rules and where they come from are in devtools/routing.py's docstring: functions in
name order (case-insensitively), the first matching template whose methods include the
request's wins (azure-functions-host #9876, #3153, #6062); a method no matching route takes
is a 404 like an unknown path (azure-functions-host #10098, #11625); templates starting with
``admin``/``runtime`` and same-template routes with overlapping methods are refused at load
(``ScriptHost.ValidateHttpFunction`` / ``HttpRoutesConflict``).
"""

from __future__ import annotations

import pytest

from devtools.routing import (
    BUILT_IN_CONFLICT,
    RouteTable,
    RouteTemplateError,
    parse_template,
    split_path,
)


def table(*routes: tuple[str, list[str] | None]) -> RouteTable[str]:
    """Each route's function is named after its template (so name order = template order)."""
    result: RouteTable[str] = RouteTable(prefix="api")
    for template, methods in routes:
        result.add(template, template, methods, template)
    return result


def named(*routes: tuple[str, str | None, list[str] | None]) -> RouteTable[str]:
    result: RouteTable[str] = RouteTable(prefix="api")
    for name, template, methods in routes:
        result.add(name, template, methods, name)
    return result


def resolve(routes: RouteTable[str], path: str, method: str = "GET") -> tuple[str, dict] | None:
    match, _ = routes.resolve(path, method)
    return (match.route.target, match.params) if match else None


def test_first_function_by_name_wins_not_the_more_specific_template() -> None:
    # The case of azure-functions-host #9876: "Details" (Products/{id}) sorts before "List"
    # (Products/List), so /Products/List reaches Details. ASP.NET precedence would pick List.
    routes = named(("List", "Products/List", ["GET"]), ("Details", "Products/{id}", ["GET"]))
    assert resolve(routes, "/api/Products/List") == ("Details", {"id": "List"})
    assert resolve(routes, "/api/Products/7") == ("Details", {"id": "7"})
    # Renamed so that the literal route's function sorts first, it wins.
    routes = named(("a_List", "Products/List", ["GET"]), ("Details", "Products/{id}", ["GET"]))
    assert resolve(routes, "/api/Products/List") == ("a_List", {})


def test_name_order_ignores_case_and_insertion_order() -> None:
    for order in (0, 1):
        entries = [("greet", "greet", ["GET"]), ("Hello", "{name}", ["GET"])]
        routes = named(*(entries if order == 0 else entries[::-1]))
        # azure-functions-host #6062: "Hello" ({name}) sorts after "greet": greet wins.
        assert resolve(routes, "/api/greet") == ("greet", {})
        assert resolve(routes, "/api/bob") == ("Hello", {"name": "bob"})
    routes = named(("greet", "greet", ["GET"]), ("GetAll", "{name}", ["GET"]))
    assert resolve(routes, "/api/greet") == ("GetAll", {"name": "greet"})  # "getall" < "greet"


def test_the_jobs_case_from_api_md() -> None:
    """Unconstrained, get_job (jobs/{job_id}) takes jobs/open etc.: what Azure does."""
    routes = named(
        ("get_job", "jobs/{job_id}", ["GET"]),
        ("job_summary", "jobs/summary", ["GET"]),
        ("list_assigned_jobs", "jobs/assigned", ["GET"]),
        ("list_open_jobs", "jobs/open", ["GET"]),
    )
    for word in ("open", "assigned", "summary"):
        assert resolve(routes, f"/api/jobs/{word}") == ("get_job", {"job_id": word})
    # A constraint that excludes the words fixes it without renaming anything.
    routes = named(
        ("get_job", "jobs/{job_id:regex(^[0-9]{{13}}[0-9a-f]{{16}}-[A-Za-z0-9_-]+$)}", ["GET"]),
        ("list_open_jobs", "jobs/open", ["GET"]),
    )
    assert resolve(routes, "/api/jobs/open") == ("list_open_jobs", {})
    job_id = "1764590400000" + "0123456789abcdef" + "-owner_1"
    assert resolve(routes, f"/api/jobs/{job_id}") == ("get_job", {"job_id": job_id})


def test_a_route_that_matches_the_path_but_not_the_method_is_passed_over() -> None:
    routes = named(
        ("a_delete", "jobs/{id}", ["DELETE"]),
        ("b_get", "jobs/{id}", ["GET"]),
    )
    assert resolve(routes, "/api/jobs/5", "DELETE") == ("a_delete", {"id": "5"})
    assert resolve(routes, "/api/jobs/5", "get") == ("b_get", {"id": "5"})  # any case
    # No route takes the method: no match (the host's 404, not 405), path_matched says why.
    for method in ("POST", "HEAD", "TRACE", "PROPFIND"):
        match, path_matched = routes.resolve("/api/jobs/5", method)
        assert match is None
        assert path_matched is True
    match, path_matched = routes.resolve("/api/nothing", "GET")
    assert match is None
    assert path_matched is False


def test_a_route_without_methods_takes_every_method() -> None:
    routes = named(("any", "things", None))
    for method in ("GET", "POST", "TRACE", "FOO"):
        assert resolve(routes, "/api/things", method) == ("any", {})


def test_a_function_without_a_route_is_served_at_its_name() -> None:
    routes = named(("health_check", None, ["GET"]))
    assert resolve(routes, "/api/health_check") == ("health_check", {})


@pytest.mark.parametrize(
    "template",
    ["admin/users/{id}/plan", "Admin", "/admin/x", "administration/x", "adminusers",
     "runtime/status", "RUNTIME", "runtimes/x"],
)  # fmt: skip
def test_templates_in_the_hosts_own_route_space_are_refused(template: str) -> None:
    # ValidateHttpFunction: httpRoute.Trim('/').ToLowerInvariant().StartsWith("admin") or
    # "runtime": a string prefix, so "administration" is refused too.
    with pytest.raises(RouteTemplateError) as refused:
        named(("f", template, ["GET"]))
    assert (
        str(refused.value)
        == BUILT_IN_CONFLICT
        == ("The specified route conflicts with one or more built in routes.")
    )


def test_reserved_words_elsewhere_in_a_template_are_fine() -> None:
    routes = named(("f", "users/{id}/admin", ["GET"]), ("g", "myadmin", ["GET"]))
    assert resolve(routes, "/api/users/1/admin") == ("f", {"id": "1"})
    assert resolve(routes, "/api/myadmin") == ("g", {})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("jobs", ["GET"]), ("jobs", ["GET", "POST"])),
        (("jobs", ["GET"]), ("/Jobs/", ["get"])),
        (("jobs", None), ("jobs", ["DELETE"])),
        (("jobs/{id}", ["GET"]), ("jobs/{id}", None)),
    ],
)
def test_same_template_with_overlapping_methods_is_refused(
    first: tuple[str, list[str] | None], second: tuple[str, list[str] | None]
) -> None:
    routes = named(("a_first", *first))
    with pytest.raises(RouteTemplateError) as refused:
        routes.add("b_second", *second, "b_second")
    assert str(refused.value) == (
        "The route specified conflicts with the route defined by function 'a_first'."
    )


def test_same_template_with_disjoint_methods_is_fine() -> None:
    routes = named(("list_jobs", "jobs", ["GET"]), ("create_job", "jobs", ["POST"]))
    assert resolve(routes, "/api/jobs", "POST") == ("create_job", {})
    assert resolve(routes, "/api/jobs", "GET") == ("list_jobs", {})
    # Templates that differ as strings do not conflict, even when they match the same paths
    # (the host compares the strings); the first by name then wins.
    routes.add("a_param", "{x}", ["GET"], "a_param")
    assert resolve(routes, "/api/jobs") == ("a_param", {"x": "jobs"})


def test_two_functions_of_one_name_are_refused() -> None:
    routes = named(("same", "a", ["GET"]))
    with pytest.raises(RouteTemplateError, match="must be unique"):
        routes.add("Same", "b", ["GET"], "Same")


def test_braces_in_a_regex_constraint_are_escaped_by_doubling_them() -> None:
    routes = table(("x/{v:regex(^[a-z]{{2}}$)}", None))
    assert resolve(routes, "/api/x/fr") is not None
    assert resolve(routes, "/api/x/fra") is None
    with pytest.raises(RouteTemplateError, match="must be escaped"):
        parse_template("x/{v:regex(^[a-z]{2}$)}")


def test_typed_parameter_rejects_values_of_another_type() -> None:
    routes = table(("items/{id:int}", None))
    assert resolve(routes, "/api/items/abc") is None
    assert resolve(routes, "/api/items/99999999999") is None  # beyond int32, as in .NET
    assert resolve(routes, "/api/items/-3") == ("items/{id:int}", {"id": "-3"})


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
    routes = table((f"x/{template}", None))
    assert resolve(routes, f"/api/x/{good}") is not None
    assert resolve(routes, f"/api/x/{bad}") is None


def test_optional_parameter_may_be_absent() -> None:
    routes = table(("weather/{city?}", None))
    assert resolve(routes, "/api/weather") == ("weather/{city?}", {})
    assert resolve(routes, "/api/weather/Paris") == ("weather/{city?}", {"city": "Paris"})
    assert resolve(routes, "/api/weather/Paris/extra") is None


def test_default_value_fills_a_missing_parameter() -> None:
    routes = table(("report/{format=json}", None))
    assert resolve(routes, "/api/report") == ("report/{format=json}", {"format": "json"})
    assert resolve(routes, "/api/report/csv") == ("report/{format=json}", {"format": "csv"})


def test_literals_match_case_insensitively_and_values_are_percent_decoded() -> None:
    routes = table(("Cities/{name}", None))
    assert resolve(routes, "/API/cities/S%C3%A3o%20Paulo") == (
        "Cities/{name}",
        {"name": "São Paulo"},
    )


def test_trailing_slash_and_empty_path() -> None:
    routes = table(("health", None))
    assert resolve(routes, "/api/health/") == ("health", {})
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


def test_catch_all_takes_the_rest_of_the_path() -> None:
    routes = table(("app/{*path}", None))
    assert resolve(routes, "/api/app/js/main.js") == ("app/{*path}", {"path": "js/main.js"})
    assert resolve(routes, "/api/app") == ("app/{*path}", {})


def test_a_value_holding_a_control_character_or_newline_fails_an_anchored_regex() -> None:
    # .NET and Python both let "$" match before a final newline; "(?![\\s\\S])" does not.
    routes = table(("ids/{v:regex(^[a-z]+(?![\\s\\S]))}", None))
    assert resolve(routes, "/api/ids/abc") is not None
    assert resolve(routes, "/api/ids/abc%0A") is None
    loose = table(("ids/{v:regex(^[a-z]+$)}", None))
    assert resolve(loose, "/api/ids/abc%0A") is not None  # why the app's ids avoid "$"
