"""Issue 18 item 15: every action the workflows use runs on Node 24.

GitHub deprecates Node 20 on its runners; an action's `runs.using` in its action.yml says
which Node runs it. The table gives, for each action we use, the first major whose
action.yml says node24, read from the action's own repository (`git show <tag>:action.yml`,
2026-12): a `uses:` of an action not in the table fails, so a new one is looked up too.
Majors are floating tags (v5 moves to the newest v5.x.y), so the earliest release of the
major must already be on node24, or the table says from which minor on (setup-azd).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

# action (lowercase) -> (first major on node24, where that was read)
NODE24_MAJOR: dict[str, tuple[int, str]] = {
    "actions/checkout": (5, "actions/checkout v5.0.0 action.yml: using: node24 (v4.x: node20)"),
    "actions/setup-python": (6, "actions/setup-python v6.0.0 action.yml: node24 (v5.x: node20)"),
    "actions/setup-node": (5, "actions/setup-node v5.0.0 action.yml: node24 (v4.x: node20)"),
    "azure/login": (3, "Azure/login v3.0.0 action.yml: node24 (v2.3.1: node20)"),
    # v2.0.0-v2.2.1 ran on node20; the floating v2 tag is at v2.4.0, node24 since v2.3.0.
    "azure/setup-azd": (2, "Azure/setup-azd v2.3.0 action.yml: node24 (v1: node20)"),
}

USES = re.compile(r"^\s*(?:-\s*)?uses:\s*([^\s#]+)", re.MULTILINE)


def uses_of(text: str) -> list[str]:
    return [ref for ref in USES.findall(text) if not ref.startswith(("./", "docker://"))]


def old_majors(text: str) -> list[str]:
    """The `uses:` references that are not at a node24 major (or not in the table)."""
    problems = []
    for ref in uses_of(text):
        action, _, version = ref.partition("@")
        known = NODE24_MAJOR.get(action.lower())
        major = re.fullmatch(r"v(\d+)(?:\.\d+){0,2}", version)
        if known is None:
            problems.append(f"{ref}: not in NODE24_MAJOR (look up its action.yml runs.using)")
        elif major is None:
            problems.append(f"{ref}: pin a major tag (vN), not {version!r}")
        elif int(major.group(1)) < known[0]:
            problems.append(f"{ref}: runs on an older Node; v{known[0]} is on node24")
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_item15_every_action_is_at_its_node24_major(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert uses_of(text), path.name
    assert old_majors(text) == []


def test_item15_the_check_fails_on_the_node20_majors() -> None:
    before = """
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        uses: azure/login@v2
      - uses: someone/else@v9
    """
    problems = old_majors(before)
    assert len(problems) == 4, problems
    assert "not in NODE24_MAJOR" in problems[-1]
