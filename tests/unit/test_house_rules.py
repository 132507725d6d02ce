"""House rules that a reader could miss: services see ports, never adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "shared" / "services"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("path", sorted(SERVICES.rglob("*.py")), ids=lambda p: p.name)
def test_no_service_imports_an_adapter(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.startswith("shared.adapters")}


@pytest.mark.parametrize(
    "name", ["accounts.py", "limits.py", "weather.py", "subscriptions.py", "refresh.py"]
)
def test_these_services_receive_ports_not_the_container(name: str) -> None:
    assert "shared.container" not in imported_modules(SERVICES / name)
