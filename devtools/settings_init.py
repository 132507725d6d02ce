"""Create ``local.settings.json`` from ``local.settings.example.json`` (``make`` runs this).

The example holds every setting with a safe local default; the copy gets a fresh random
``AUTH_SIGNING_KEY``, so no secret is ever committed. An existing file keeps its values
and only gains the settings the example has added since.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def create(target: Path, example: Path) -> bool:
    """Write ``target`` if missing (True), else add settings the example gained since."""
    template = json.loads(example.read_text(encoding="utf-8"))
    if target.exists():
        document = json.loads(target.read_text(encoding="utf-8"))
        values = document.setdefault("Values", {})
        added = [k for k in template.get("Values", {}) if k not in values]
        for name in added:
            values[name] = template["Values"][name]
        if added:
            target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            print(f"added to {target.name}: {', '.join(added)}", file=sys.stderr)
        return False
    document = template
    values = document.setdefault("Values", {})
    if not values.get("AUTH_SIGNING_KEY"):
        values["AUTH_SIGNING_KEY"] = secrets.token_urlsafe(48)
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    target.chmod(0o600)
    return True


def main() -> int:
    target = ROOT / "local.settings.json"
    if create(target, ROOT / "local.settings.example.json"):
        print(f"created {target.name} with a fresh AUTH_SIGNING_KEY", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
