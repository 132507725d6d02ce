"""Route templates and route selection exactly as the Azure Functions host applies them.

Templates use ASP.NET Core attribute-routing syntax (the host hands them to ASP.NET's
``TemplateParser``): literal segments, ``{name}``, optional ``{name?}``, defaults
``{name=value}``, constraints ``{id:int}`` / ``{id:int:min(1)}`` / ``{slug:regex(^[a-z]+$)}``,
a trailing catch-all ``{*rest}``; braces inside a parameter are escaped by doubling them
(``{id:regex(^[0-9]{{13}}$)}``), as in ASP.NET. Literal matching is case-insensitive.

Selection is NOT ASP.NET's route precedence. The host adds one route per HTTP function to a
``RouteCollection`` in function-name order (case-insensitively) and the first route whose
template, constraints and method constraint all match wins
(azure-functions-host issues #9876, #3153 and #6062; MicrosoftDocs/azure-docs #11755; the
unmerged precedence fix is azure-webjobs-sdk-extensions PR #842). A method no matching route
accepts (GET on a POST-only route, HEAD on a GET route, TRACE anywhere) falls through the
collection like an unknown path: the host answers 404 with an empty body, not 405
(azure-functions-host issues #10098 and #11625).

At load the host refuses (``ScriptHost.ValidateHttpFunction`` / ``HttpRoutesConflict``):
- a template that, trimmed of ``/`` and lower-cased, *starts with* ``admin`` or ``runtime``
  (a string prefix: ``administration/x`` is refused too): "The specified route conflicts
  with one or more built in routes.";
- a template equal (case-insensitively, trimmed of ``/``) to another function's whose
  methods intersect (no methods = every method): "The route specified conflicts with the
  route defined by function '<name>'.".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

_PARAM = re.compile(r"^\{(?P<star>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>.*)\}$")


class RouteTemplateError(ValueError):
    """A route template the host would refuse to load."""


def _is_int(value: str, low: int, high: int) -> bool:
    if not re.fullmatch(r"-?\d+", value):
        return False
    return low <= int(value) <= high


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in {"nan", "inf", "-inf", "infinity", "-infinity"}


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _constraint(spec: str) -> Callable[[str], bool]:
    """One ASP.NET route constraint (``int``, ``min(3)``, ``regex(...)``...) as a predicate."""
    match = re.fullmatch(r"(?P<kind>[a-z]+)(?:\((?P<arg>.*)\))?", spec, re.DOTALL)
    if not match:
        raise RouteTemplateError(f"invalid route constraint {spec!r}")
    kind, arg = match["kind"], match["arg"]

    def numbers() -> list[int]:
        try:
            return [int(part) for part in (arg or "").split(",")]
        except ValueError as exc:
            raise RouteTemplateError(f"constraint {spec!r} needs integer arguments") from exc

    if kind == "int" and arg is None:
        return lambda v: _is_int(v, *_INT32)
    if kind == "long" and arg is None:
        return lambda v: _is_int(v, *_INT64)
    if kind in {"float", "double", "decimal"} and arg is None:
        return _is_float
    if kind == "bool" and arg is None:
        return lambda v: v.lower() in {"true", "false"}
    if kind == "guid" and arg is None:
        return _is_guid
    if kind == "datetime" and arg is None:
        return _is_datetime
    if kind == "alpha" and arg is None:
        return lambda v: bool(re.fullmatch(r"[A-Za-z]+", v))
    if kind == "min":
        (low,) = numbers()
        return lambda v: _is_int(v, *_INT64) and int(v) >= low
    if kind == "max":
        (high,) = numbers()
        return lambda v: _is_int(v, *_INT64) and int(v) <= high
    if kind == "range":
        low, high = numbers()
        return lambda v: _is_int(v, *_INT64) and low <= int(v) <= high
    if kind == "minlength":
        (size,) = numbers()
        return lambda v: len(v) >= size
    if kind == "maxlength":
        (size,) = numbers()
        return lambda v: len(v) <= size
    if kind == "length":
        sizes = numbers()
        if len(sizes) == 1:
            return lambda v: len(v) == sizes[0]
        return lambda v: sizes[0] <= len(v) <= sizes[1]
    if kind == "regex" and arg:
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    raise RouteTemplateError(f"unknown route constraint {spec!r}")


def _split_constraints(rest: str) -> list[str]:
    """``:int:min(1)`` -> ``["int", "min(1)"]``; colons inside parentheses are kept."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in rest:
        if char == ":" and depth == 0:
            if current:
                parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


def _unescape_braces(text: str, template: str) -> str:
    """Inside a parameter ``{{`` and ``}}`` stand for ``{`` and ``}``; a lone brace is an
    error, as in ASP.NET ("In a route parameter, '{' and '}' must be escaped with '{{' and
    '}}'")."""
    if text.replace("{{", "").replace("}}", "").count("{") or text.replace("{{", "").replace(
        "}}", ""
    ).count("}"):
        raise RouteTemplateError(
            f"In a route parameter, '{{' and '}}' must be escaped with '{{{{' and '}}}}' "
            f"(route {template!r})"
        )
    return text.replace("{{", "{").replace("}}", "}")


@dataclass(frozen=True)
class Segment:
    literal: str | None = None
    name: str | None = None
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    constraints: tuple[Callable[[str], bool], ...] = ()

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


def parse_template(template: str) -> tuple[Segment, ...]:
    """Parse ``jobs/{job_id}/bids/{bid_id:int?}`` into segments; raise on what ASP.NET refuses."""
    template = template.strip().strip("/")
    if not template:
        return ()
    segments: list[Segment] = []
    names: set[str] = set()
    raw_segments = template.split("/")
    for index, raw in enumerate(raw_segments):
        if raw == "":
            raise RouteTemplateError(f"empty segment in route {template!r}")
        if "{" not in raw and "}" not in raw:
            segments.append(Segment(literal=raw))
            continue
        match = _PARAM.match(raw)
        if not match:
            raise RouteTemplateError(
                f"segment {raw!r} of route {template!r}: a parameter must fill its segment"
            )
        name = match["name"]
        if name.lower() in names:
            raise RouteTemplateError(f"parameter {name!r} appears twice in route {template!r}")
        names.add(name.lower())
        rest = _unescape_braces(match["rest"], template)
        default = None
        optional = False
        if "=" in rest and "(" not in rest.split("=", 1)[0]:
            rest, default = rest.split("=", 1)
        if rest.endswith("?"):
            optional, rest = True, rest[:-1]
        constraints = tuple(_constraint(spec) for spec in _split_constraints(rest))
        catch_all = bool(match["star"])
        if catch_all and index != len(raw_segments) - 1:
            raise RouteTemplateError(f"catch-all must be the last segment of {template!r}")
        segments.append(
            Segment(
                name=name,
                optional=optional,
                default=default,
                catch_all=catch_all,
                constraints=constraints,
            )
        )
    # An optional parameter may only be followed by other optional ones.
    seen_optional = False
    for segment in segments:
        if seen_optional and not (segment.optional or segment.catch_all or segment.default):
            raise RouteTemplateError(f"only trailing parameters may be optional in {template!r}")
        seen_optional = seen_optional or segment.optional or segment.default is not None
    return tuple(segments)


RESERVED_PREFIXES = ("admin", "runtime")
BUILT_IN_CONFLICT = "The specified route conflicts with one or more built in routes."


def order_key(function_name: str) -> str:
    """The host's order of HTTP functions: by name, case-insensitively.

    For names of ASCII letters and digits every case-insensitive comparer agrees; whether
    ``_`` sorts before letters (lower-casing) or after them (upper-casing, as .NET's
    OrdinalIgnoreCase does) was not established from the host's source, so the app's routes
    are written to be disjoint, and tests/unit/test_api_routes.py checks that they resolve
    the same under either order."""
    return function_name.lower()


@dataclass(frozen=True)
class Route(Generic[T]):
    name: str  # the function's name: the host's order
    template: str  # as the function declares it (without the route prefix)
    segments: tuple[Segment, ...]  # of the prefixed template
    methods: frozenset[str] | None  # None: every method
    target: T

    def accepts_method(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def match(self, parts: list[str]) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[index:])
                if rest:
                    if not segment.accepts(rest):
                        return None
                    values[segment.name or ""] = rest
                elif segment.default is not None:
                    values[segment.name or ""] = segment.default
                return values
            if index >= len(parts):
                if segment.default is not None:
                    values[segment.name or ""] = segment.default
                    continue
                if segment.optional:
                    continue
                return None
            part = parts[index]
            if segment.literal is not None:
                if part.lower() != segment.literal.lower():
                    return None
                continue
            if not segment.accepts(part):
                return None
            values[segment.name or ""] = part
        if len(parts) > len(self.segments):
            return None
        return values


@dataclass
class RouteMatch(Generic[T]):
    route: Route[T]
    params: dict[str, str]


@dataclass
class RouteTable(Generic[T]):
    """The HTTP functions of an app, in the host's order; ``resolve`` gives the first route
    whose template and method match, as the host's RouteCollection does."""

    prefix: str = "api"
    routes: list[Route[T]] = field(default_factory=list)

    def add(
        self,
        name: str,
        template: str | None,
        methods: Iterable[str] | None,
        target: T,
        order: Callable[[str], str] = order_key,
    ) -> Route[T]:
        """Validate as the host does at load (RouteTemplateError with its message), then
        insert in function-name order."""
        declared = (template or "").strip().strip("/") or name  # no route: the name
        if declared.lower().startswith(RESERVED_PREFIXES):
            raise RouteTemplateError(BUILT_IN_CONFLICT)
        method_set = frozenset(m.upper() for m in methods) if methods else None
        for other in self.routes:
            if other.name.lower() == name.lower():
                raise RouteTemplateError(
                    f"The function or proxy name '{name}' must be unique within the function app."
                )
            same_template = other.template.lower() == declared.lower()
            overlap = (
                method_set is None or other.methods is None or bool(method_set & other.methods)
            )
            if same_template and overlap:
                raise RouteTemplateError(
                    f"The route specified conflicts with the route defined by function "
                    f"'{other.name}'."
                )
        full = f"{self.prefix.strip('/')}/{declared}" if self.prefix.strip("/") else declared
        route = Route(
            name=name,
            template=declared,
            segments=parse_template(full),
            methods=method_set,
            target=target,
        )
        self.routes.append(route)
        self.routes.sort(key=lambda r: order(r.name))
        return route

    def resolve(self, path: str, method: str) -> tuple[RouteMatch[T] | None, bool]:
        """(match, path_matched): the first route, in function-name order, whose template
        and methods match. ``path_matched`` is True when some template matched the path
        but no route took the method (the host answers 404 either way; logs say which)."""
        parts = split_path(path)
        path_matched = False
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            if not route.accepts_method(method):
                path_matched = True
                continue
            return RouteMatch(route, params), path_matched
        return None, path_matched


def split_path(path: str) -> list[str]:
    """Split a URL path into percent-decoded segments (an encoded ``/`` stays in its segment)."""
    stripped = path.strip("/")
    if not stripped:
        return []
    return [unquote(part) for part in stripped.split("/")]
