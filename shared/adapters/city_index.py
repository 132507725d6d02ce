"""The city index: resolve a typed city name to a GeoNames city without a network call.

The data is GeoNames "cities15000" (places of more than 15 000 people, and capitals;
CC BY 4.0): ``devtools/build_city_index.py`` writes the rows to ``data/cities15000.json.gz``
(tracked), and ``shared/adapters/city_index_build.py`` turns them into the SQLite database
read here, ``data/cities.sqlite3`` (a build output: ``make``, azd's ``prepackage`` hook and
the Dockerfile build it; docs/architecture.md). Resolving locally keeps a lookup to one
provider request, makes "Paris" mean the same city whatever the provider, gives stable ids
for cache keys and subscriptions, and lets us suggest names for typos.

The database is opened on first use, once per process, read-only and immutable (no locks,
no journal) and memory-mapped: a lookup reads a few pages of one index instead of parsing
the whole file into dicts, so the first query of a new instance costs milliseconds and the
worker's memory grows by the pages it touched (shared with the page cache), not by the
dataset. Recent answers are kept in a small LRU so that the popular names cost a dict hit.
"""

from __future__ import annotations

import errno
import functools
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from shared.domain.placenames import ascii_fold, normalize
from shared.domain.weather import City

DEFAULT_CITY_INDEX_PATH = Path(__file__).resolve().parents[2] / "data" / "cities.sqlite3"
SCHEMA_VERSION = 1  # the version shared/adapters/city_index_build.py writes
MMAP_BYTES = 64 * 1024 * 1024  # more than the file (about 10 MB): all of it mapped
SEARCH_CACHE_SIZE = 2048  # (name, country, limit) answers kept per process

# The matching rules are the domain's (the weather service keys its geocoding cache with
# them too); still importable from here for the index builders and the tests.
__all__ = ["DEFAULT_CITY_INDEX_PATH", "CityIndex", "ascii_fold", "normalize"]

# Literal SQL, parameters only (nothing typed is ever spliced into a statement).
_SEARCH = (
    "SELECT c.id, c.name, c.country, c.lat, c.lon, c.population, c.timezone "
    "FROM name n JOIN city c ON c.id = n.city WHERE n.key = ? ORDER BY n.rank LIMIT ?"
)
_SEARCH_IN_COUNTRY = (
    "SELECT c.id, c.name, c.country, c.lat, c.lon, c.population, c.timezone "
    "FROM name n JOIN city c ON c.id = n.city WHERE n.key = ? AND n.country = ? "
    "ORDER BY n.rank LIMIT ?"
)
_GET = "SELECT id, name, country, lat, lon, population, timezone FROM city WHERE id = ?"
_DISPLAY_NAME = "SELECT name FROM display WHERE key = ?"
_CANDIDATES = "SELECT key FROM display WHERE first = ? AND length BETWEEN ? AND ?"


@dataclass(frozen=True)
class _Loaded:
    """The open database; queries go through ``lock`` (one connection per process)."""

    connection: sqlite3.Connection
    lock: threading.Lock

    def query(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self.lock:
            return self.connection.execute(sql, parameters).fetchall()


def _city(row: tuple[object, ...]) -> City:
    city_id, name, country, lat, lon, population, timezone = row
    return City(
        id=str(city_id),
        name=str(name),
        country=str(country),
        lat=float(lat),  # type: ignore[arg-type]
        lon=float(lon),  # type: ignore[arg-type]
        population=int(population),  # type: ignore[call-overload]
        timezone=str(timezone) or None,
    )


class CityIndex:
    """GeoNames cities by normalized name and by id."""

    def __init__(self, path: Path | str = DEFAULT_CITY_INDEX_PATH) -> None:
        self._path = Path(path)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self._search = functools.lru_cache(maxsize=SEARCH_CACHE_SIZE)(self._search_uncached)

    def search(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Cities whose name, ASCII name or an alternate name matches ``name`` exactly once
        normalized, optionally in one country (ISO alpha-2), most populous first."""
        key = normalize(name)
        if not key or limit < 1:
            return []
        return list(self._search(key, country.strip().upper() if country else None, limit))

    def _search_uncached(self, key: str, country: str | None, limit: int) -> tuple[City, ...]:
        data = self._data()
        if country is None:
            rows = data.query(_SEARCH, (key, limit))
        else:
            rows = data.query(_SEARCH_IN_COUNTRY, (key, country, limit))
        return tuple(map(_city, rows))

    def get(self, city_id: str) -> City | None:
        """The city with that GeoNames id, or None."""
        data = self._data()
        if not (city_id.isascii() and city_id.isdigit() and len(city_id) < 19):
            return None  # ids are stored as (64-bit) numbers: "x" names no city
        if str(int(city_id)) != city_id:
            return None  # nor does "007" (the id is "7")
        rows = data.query(_GET, (int(city_id),))
        return _city(rows[0]) if rows else None

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """City names close to ``name`` (for "did you mean"), best first.

        Only names starting with the same character and of similar length are compared
        (one range of the ``display`` table's ``(first, length)`` index), which keeps
        difflib to a few hundred candidates: a typo is rarely in the first letter, and a
        suggestion list must not cost more than the lookup it rescues.
        """
        import difflib  # only "did you mean" needs it; kept off the cold-start path

        key = normalize(name)
        if not key or limit < 1:
            return []
        data = self._data()
        slack = max(2, len(key) // 3)
        rows = data.query(_CANDIDATES, (key[0], len(key) - slack, len(key) + slack))
        close = difflib.get_close_matches(key, [str(row[0]) for row in rows], n=limit, cutoff=0.75)
        names = (data.query(_DISPLAY_NAME, (candidate,))[0][0] for candidate in close)
        return list(dict.fromkeys(str(name) for name in names))

    def load(self) -> None:
        """Open the database now rather than on the first lookup (a warm-up, a benchmark)."""
        self._data()

    def __len__(self) -> int:
        (count,) = self._data().query("SELECT count(*) FROM city", ())[0]
        return int(count)  # type: ignore[call-overload]

    def _data(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = _load(self._path)
                loaded = self._loaded
        return loaded


def _load(path: Path) -> _Loaded:
    """Open the database read-only, immutable and memory-mapped, and check its version."""
    if not path.is_file():
        raise FileNotFoundError(
            errno.ENOENT,
            "city index database missing: build it with `make city-index` "
            "(python -m shared.adapters.city_index_build)",
            str(path),
        )
    # immutable=1: the file never changes while open (it is replaced, never edited), so
    # SQLite takes no locks and reads no journal; mode=ro: nothing can write it.
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        (version,) = connection.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error:
        connection.close()
        raise
    if version != SCHEMA_VERSION:
        connection.close()
        raise RuntimeError(
            f"{path} has schema version {version}, this code reads {SCHEMA_VERSION}: "
            "rebuild it with `make city-index`"
        )
    return _Loaded(connection, threading.Lock())
