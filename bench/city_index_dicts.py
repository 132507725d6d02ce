"""The city index as it was before issue 21 (gzip'ed JSON parsed into dicts on first use),
kept only so that ``python -m bench --only cityindex`` can compare the SQLite index with it.
Nothing in the app imports this module.

The city index: resolve a typed city name to a GeoNames city without a network call.

Built by ``devtools/build_city_index.py`` from GeoNames "cities15000" (places of more than
15 000 people, and capitals; CC BY 4.0) into ``data/cities15000.json.gz``. Resolving locally keeps
a lookup to one provider request, makes "Paris" mean the same city whatever the provider,
gives stable ids for cache keys and subscriptions, and lets us suggest names for typos.

Loaded on first use, once per process and thread-safe: a cold start that never resolves a
name never pays for the file (about a second of parsing and normalising).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.domain.placenames import ascii_fold, normalize
from shared.domain.weather import City

DEFAULT_CITY_INDEX_PATH = Path(__file__).resolve().parents[1] / "data" / "cities15000.json.gz"

# The matching rules are the domain's (the weather service keys its geocoding cache with
# them too); still importable from here for the index builder and the tests.
__all__ = ["DEFAULT_CITY_INDEX_PATH", "CityIndex", "ascii_fold", "normalize"]


@dataclass(frozen=True)
class _Loaded:
    cities: dict[str, City]
    by_name: dict[str, list[City]]  # normalized name -> cities, most populous first
    display_names: dict[str, str]  # normalized primary name -> name of its largest city
    suggestion_buckets: dict[str, tuple[str, ...]]  # first character -> normalized names


class CityIndex:
    """GeoNames cities by normalized name and by id."""

    def __init__(self, path: Path | str = DEFAULT_CITY_INDEX_PATH) -> None:
        self._path = Path(path)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def search(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Cities whose name, ASCII name or an alternate name matches ``name`` exactly once
        normalized, optionally in one country (ISO alpha-2), most populous first."""
        key = normalize(name)
        if not key or limit < 1:
            return []
        matches: Iterable[City] = self._data().by_name.get(key, ())
        if country:
            wanted = country.strip().upper()
            matches = (city for city in matches if city.country == wanted)
        found: list[City] = []
        for city in matches:
            found.append(city)
            if len(found) == limit:
                break
        return found

    def get(self, city_id: str) -> City | None:
        """The city with that GeoNames id, or None."""
        return self._data().cities.get(city_id)

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """City names close to ``name`` (for "did you mean"), best first.

        Only names starting with the same character and of similar length are compared,
        which keeps difflib to a few hundred candidates: a typo is rarely in the first
        letter, and a suggestion list must not cost more than the lookup it rescues.
        """
        import difflib  # only "did you mean" needs it; kept off the cold-start path

        key = normalize(name)
        if not key or limit < 1:
            return []
        data = self._data()
        slack = max(2, len(key) // 3)
        candidates = [
            candidate
            for candidate in data.suggestion_buckets.get(key[0], ())
            if abs(len(candidate) - len(key)) <= slack
        ]
        close = difflib.get_close_matches(key, candidates, n=limit, cutoff=0.75)
        return list(dict.fromkeys(data.display_names[candidate] for candidate in close))

    def load(self) -> None:
        """Load now rather than on the first lookup (for a warm-up, or a benchmark)."""
        self._data()

    def __len__(self) -> int:
        return len(self._data().cities)

    def _data(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = _load(self._path)
                loaded = self._loaded
        return loaded


def _load(path: Path) -> _Loaded:
    """Read the rows ``[id, name, asciiname, [alternate names], country, lat, lon,
    population, timezone]`` and build the lookup tables."""
    rows = json.loads(gzip.decompress(path.read_bytes()))
    cities: list[City] = [
        City(
            id=str(row[0]),
            name=row[1],
            country=row[4],
            lat=row[5],
            lon=row[6],
            population=row[7],
            timezone=row[8] or None,
        )
        for row in rows
    ]
    alternates = {str(row[0]): (row[2], row[3]) for row in rows}
    # Most populous first, so every per-name list comes out in answer order.
    cities.sort(key=lambda city: (-city.population, city.id))

    by_name: dict[str, list[City]] = {}
    display_names: dict[str, str] = {}
    for city in cities:
        asciiname, alternate_names = alternates[city.id]
        primary = {normalize(city.name), normalize(asciiname)}
        primary.discard("")
        keys = primary.union(map(normalize, alternate_names))
        keys.discard("")
        for key in keys:
            by_name.setdefault(key, []).append(city)
        for key in primary:
            display_names.setdefault(key, city.name)

    buckets: dict[str, list[str]] = {}
    for key in sorted(display_names):
        buckets.setdefault(key[0], []).append(key)
    return _Loaded(
        cities={city.id: city for city in cities},
        by_name=by_name,
        display_names=display_names,
        suggestion_buckets={first: tuple(keys) for first, keys in buckets.items()},
    )
