"""Build the city index database (``data/cities.sqlite3``) from the committed GeoNames rows.

The rows are ``data/cities15000.json.gz`` (written by ``devtools/build_city_index.py``; 2 MB,
tracked in git). The database is a build output (about 10 MB, git-ignored): ``make run``,
``make test`` and ``make bench`` build it when missing or older than the rows, azd's
``prepackage`` hook builds it before every package (azure.yaml), and the Dockerfile builds
it in the image. Standard library only, so that any Python 3.11 can run it:

    python -m shared.adapters.city_index_build [--source ...] [--output ...] [--if-stale]

The tables hold exactly what ``CityIndex`` answers, in the shape its queries want:

- ``city``: one row per GeoNames id (name, country, lat, lon, population, timezone);
- ``name``: one row per (matching key, city): the ``normalize``d name, ASCII name and every
  alternate name, keyed ``(key, rank)`` where ``rank`` orders cities most populous first
  (ties by id, as text), so one index range answers a lookup in answer order;
- ``display``: one row per normalized primary name with the name of its largest city and
  the name's first character and length, indexed ``(first, length)``: the candidates a
  "did you mean" compares with ``difflib``.

Nothing here runs in a request; the app only opens the file read-only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from shared.domain.placenames import normalize

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PATH = ROOT / "data" / "cities15000.json.gz"
OUTPUT_PATH = ROOT / "data" / "cities.sqlite3"
# Bumped whenever the tables change: the index refuses a file of another version.
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE city (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    population INTEGER NOT NULL,
    timezone TEXT NOT NULL
);
CREATE TABLE name (
    key TEXT NOT NULL,
    rank INTEGER NOT NULL,
    country TEXT NOT NULL,
    city INTEGER NOT NULL,
    PRIMARY KEY (key, rank)
) WITHOUT ROWID;
CREATE TABLE display (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    first TEXT NOT NULL,
    length INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX display_bucket ON display (first, length);
"""


def read_rows(source: Path) -> list[list[Any]]:
    """``[id, name, asciiname, [alternate names], country, lat, lon, population, timezone]``."""
    rows: list[list[Any]] = json.loads(gzip.decompress(source.read_bytes()))
    return rows


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def build(rows: Iterable[Sequence[Any]], output: Path, digest: str = "") -> int:
    """Write the database for ``rows`` to ``output`` (atomically); the number of cities."""
    ordered = sorted(rows, key=lambda row: (-int(row[7]), str(row[0])))
    names: set[tuple[str, int, str, int]] = set()
    display: dict[str, str] = {}
    for rank, row in enumerate(ordered):
        city_id, name, asciiname, alternates, country = int(row[0]), row[1], row[2], row[3], row[4]
        primary = {normalize(name), normalize(asciiname)}
        primary.discard("")
        keys = primary.union(map(normalize, alternates))
        keys.discard("")
        names.update((key, rank, country, city_id) for key in keys)
        for key in primary:
            display.setdefault(key, name)

    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f"{output.name}.{os.getpid()}.tmp")  # concurrent builders
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.executescript(SCHEMA)
        with connection:
            connection.executemany(
                "INSERT INTO city VALUES (?, ?, ?, ?, ?, ?, ?)",
                sorted(
                    (int(r[0]), r[1], r[4], float(r[5]), float(r[6]), int(r[7]), r[8] or "")
                    for r in ordered
                ),
            )
            connection.executemany("INSERT INTO name VALUES (?, ?, ?, ?)", sorted(names))
            connection.executemany(
                "INSERT INTO display VALUES (?, ?, ?, ?)",
                ((key, name, key[0], len(key)) for key, name in sorted(display.items())),
            )
            connection.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("source_sha256", digest), ("cities", str(len(ordered)))],
            )
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("VACUUM")
    finally:
        connection.close()
    os.replace(temporary, output)
    return len(ordered)


def is_current(output: Path, digest: str) -> bool:
    """True when ``output`` is a database of this schema built from rows with ``digest``."""
    if not output.is_file():
        return False
    try:
        connection = sqlite3.connect(f"{output.resolve().as_uri()}?mode=ro", uri=True)
        try:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            row = connection.execute(
                "SELECT value FROM meta WHERE key = 'source_sha256'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return bool(version == SCHEMA_VERSION and row is not None and row[0] == digest)


def ensure(source: Path = SOURCE_PATH, output: Path = OUTPUT_PATH) -> bool:
    """Build ``output`` unless it is current; True when it was (re)built."""
    digest = source_digest(source)
    if is_current(output, digest):
        return False
    build(read_rows(source), output, digest)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the city index database.")
    parser.add_argument("--source", type=Path, default=SOURCE_PATH)
    parser.add_argument("--output", type=Path, default=OUTPUT_PATH)
    parser.add_argument(
        "--if-stale", action="store_true", help="do nothing when the output is current"
    )
    args = parser.parse_args(argv)
    if args.if_stale and not ensure(args.source, args.output):
        sys.stderr.write(f"{args.output} is current\n")
        return 0
    if not args.if_stale:
        digest = source_digest(args.source)
        build(read_rows(args.source), args.output, digest)
    size = args.output.stat().st_size
    sys.stderr.write(f"wrote {args.output} ({size / 1e6:.1f} MB) from {args.source}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
