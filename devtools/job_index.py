"""Build or repair the own job lists and counts (shared/adapters/table_job_index.py).

    python -m devtools.job_index repair OWNER_ID [OWNER_ID ...]
    python -m devtools.job_index backfill            # every owner in the ``jobs`` table

Runs against the storage the settings name (``AzureWebJobsStorage`` or the identity-based
``AzureWebJobsStorage__*`` form, read by shared/settings.py as the app reads them). Both
are safe while the app runs: every fix is guarded by the ETag it was computed from. A
user's first list or summary request does the same for that user when nothing has yet;
``backfill`` only does it ahead of time, so that no request pays for it. Rows of the
design before (issue 14: ``x|`` and ``y|`` rows) are migrated and deleted. ``backfill``
also moves the open list of the design before (table ``openjobs``) into the dispatch rows
(``jobdispatch``) that are the open list now. Prints one JSON line per owner;
on a terminal, a progress bar on stderr counts the owners done.
"""

from __future__ import annotations

import argparse
import contextlib
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


def migrate_open_list(container: Container) -> dict[str, int]:
    """Copies in ``openjobs`` (the open list before issue 17) into dispatch rows."""
    from azure.core.exceptions import ResourceNotFoundError

    table = container.table("openjobs")
    report = {"open_copies": 0, "still_open": 0}
    for row in list(table.list_entities(select=["PartitionKey", "RowKey"])):
        report["open_copies"] += 1
        found = container.jobs.find(str(row["RowKey"]).split("|", 1)[-1])
        if found is not None and found.value.is_open:
            container.jobs.watch(found.value)
            report["still_open"] += 1
        with contextlib.suppress(ResourceNotFoundError):
            table.delete_entity(row["PartitionKey"], row["RowKey"])
    return report


def main(argv: list[str] | None = None, container: Container | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    repair = sub.add_parser("repair", help="recompute the lists and counts of these owners")
    repair.add_argument("owner", nargs="+")
    sub.add_parser("backfill", help="repair every owner of the jobs table, move the open list")
    args = parser.parse_args(argv)
    container = container or Container()
    targets = args.owner if args.command == "repair" else owners(container)
    for owner in progress(targets, desc=args.command, unit="owner"):
        report = container.jobs.index.repair(owner)
        say(json.dumps({"owner_id": owner, **report}))
    if args.command == "backfill":
        say(json.dumps(migrate_open_list(container)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
