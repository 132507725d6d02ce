"""The house has no import circle: function_app, functions/ and shared/ import one way.

Every import a module makes at run time counts, also one inside a function (a lazy import
is still an edge) and ``importlib.import_module("literal")``; imports under
``if TYPE_CHECKING:`` do not (they never run). A circle is reported as the path that
closes it, e.g. ``function_app -> functions.ops -> function_app``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("functions", "shared")


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {"function_app": root / "function_app.py"}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(name: str, path: Path) -> set[str]:
    """Dotted names a module imports at run time (absolute, relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {t for t in imported_names(name, path) if t in modules and t != name}
        # ``from shared import http`` names the module shared.http, not only the package.
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle as a path whose first and last module are the same, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_project_import_graph_has_no_cycle() -> None:
    graph = import_graph(project_modules())
    assert "functions.openapi" in graph["function_app"]  # the walk sees the real imports
    assert "shared.settings_model" in graph["shared.settings"]  # a lazy import counts
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or ())


def test_the_two_former_circles_stay_open() -> None:
    graph = import_graph(project_modules())
    assert "function_app" not in {t for targets in graph.values() for t in targets}
    assert "shared.settings" not in graph["shared.settings_model"]


def test_only_the_settings_modules_read_the_environment() -> None:
    readers = {
        name
        for name, path in project_modules().items()
        if "os.environ" in path.read_text(encoding="utf-8")
        or "getenv(" in path.read_text(encoding="utf-8")
    }
    assert readers <= {"shared.settings", "shared.settings_model"}, readers


def test_the_walk_reports_a_circle(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "functions").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "functions" / "__init__.py").write_text("")
    (tmp_path / "function_app.py").write_text("from functions import door\n")
    (tmp_path / "functions" / "door.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from shared import typed_only\n"
        "def late():\n    from shared import helper\n"
    )
    (tmp_path / "shared" / "helper.py").write_text(
        "import importlib\nfrom . import typed_only as _t\n"
        "def load():\n    return importlib.import_module('function_app')\n"
    )
    (tmp_path / "shared" / "typed_only.py").write_text("VALUE = 1\n")
    graph = import_graph(project_modules(tmp_path))
    assert graph["functions.door"] == {"shared", "shared.helper"}  # not the TYPE_CHECKING one
    assert graph["shared.helper"] == {"shared", "shared.typed_only", "function_app"}
    assert find_cycle(graph) == [
        "function_app", "functions.door", "shared.helper", "function_app",
    ]  # fmt: skip
    (tmp_path / "shared" / "helper.py").write_text("VALUE = 1\n")
    assert find_cycle(import_graph(project_modules(tmp_path))) is None
