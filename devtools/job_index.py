"""Build or repair the keyed job lists and counters (shared/adapters/table_job_index.py).

    python -m devtools.job_index repair OWNER_ID [OWNER_ID ...]
    python -m devtools.job_index backfill            # every owner in the ``jobs`` table

Runs against the storage the settings name (``AzureWebJobsStorage`` or the identity-based
``AzureWebJobsStorage__*`` form, read by shared/settings.py as the app reads them). Both
are safe while the app runs: every fix is guarded by the ETag it was computed from. A
user's first list or summary request does the same for that user when nothing has yet;
``backfill`` only does it ahead of time, so that no request pays for it. Prints one JSON
line per owner; on a terminal, a progress bar on stderr counts the owners done.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from devtools.progress import progress, say
from shared.container import Container


def owners(container: Container) -> Iterator[str]:
    """Every partition of ``jobs`` (a table scan: an operator's tool, never a request)."""
    table = container.table("jobs")
    last = None
    for row in table.list_entities(select=["PartitionKey"]):
        if row["PartitionKey"] != last:
            last = row["PartitionKey"]
            yield last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    repair = sub.add_parser("repair", help="recompute the index and counters of these owners")
    repair.add_argument("owner", nargs="+")
    sub.add_parser("backfill", help="repair every owner of the jobs table")
    args = parser.parse_args(argv)
    container = Container()
    targets = args.owner if args.command == "repair" else owners(container)
    for owner in progress(targets, desc=args.command, unit="owner"):
        report = container.jobs.index.repair(owner)
        say(json.dumps({"owner_id": owner, **report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
