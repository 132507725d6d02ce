"""The function metadata the hosts read from ``app.get_functions()``, as one JSON document.

    python -m tests.support.function_metadata > tests/unit/data/function_metadata.json

regenerates the snapshot tests/unit/test_cold_start.py compares with (after adding or
changing a function on purpose).
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any


def metadata() -> dict[str, Any]:
    import function_app

    return {
        f.get_function_name(): {
            **json.loads(f.get_function_json()),
            "parameters": list(inspect.signature(f.get_user_function()).parameters),
        }
        for f in function_app.app.get_functions()
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(metadata(), indent=1, sort_keys=True) + "\n")
