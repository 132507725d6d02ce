"""The weather caches in Table Storage.

``weathercache``  PartitionKey = ``{provider}|{units}``, RowKey = city id (made key-safe):
                  the last observation of a city -> one point read per lookup; one
                  partition query lists a provider's cities. The hourly forecast of the same
                  answer rides in the same row (``forecast``: columns, conditions as indexes
                  into a palette; about 0.5 KB for 24 hours, far under the 64 KB a string
                  property may hold), so it costs no extra storage call either.
``geocache``      PartitionKey = provider, RowKey = the normalized name and country:
                  the provider's geocoding answer (30 days) or miss (1 day).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.adapters.table_codec import from_iso, to_iso
from shared.domain.weather import CachedObservation, City, ForecastHour, Observation

if TYPE_CHECKING:
    from azure.data.tables import TableClient

GEOCODE_TTL = timedelta(days=30)
GEOCODE_MISS_TTL = timedelta(days=1)
_KEY_UNSAFE = re.compile(r"[/\\#?\x00-\x1f\x7f]")


def _observation_to_json(observation: Observation) -> str:
    data = dict(observation.__dict__)
    data.pop("forecast", None)  # stored apart, compactly (forecast_to_json)
    data["observed_at"] = to_iso(observation.observed_at)
    return json.dumps(data)


def _observation_from_json(text: str, forecast: str | None = None) -> Observation:
    data = json.loads(text)
    data["observed_at"] = from_iso(data["observed_at"])
    return Observation(**data, forecast=forecast_from_json(forecast))


def forecast_to_json(forecast: tuple[ForecastHour, ...] | None) -> str | None:
    """A forecast as columns: ``s`` the first hour (epoch seconds), ``m`` minutes after it,
    ``t`` temperatures, ``p`` chances of rain, ``w`` wind speeds, ``c`` indexes into the
    palette ``k`` of conditions."""
    if forecast is None:
        return None
    start = int(forecast[0].time.timestamp()) if forecast else 0
    palette: list[str] = []
    for hour in forecast:
        if hour.conditions not in palette:
            palette.append(hour.conditions)
    return json.dumps(
        {
            "s": start,
            "m": [(int(hour.time.timestamp()) - start) // 60 for hour in forecast],
            "t": [hour.temperature for hour in forecast],
            "p": [hour.precipitation_probability for hour in forecast],
            "w": [hour.wind_speed for hour in forecast],
            "k": palette,
            "c": [palette.index(hour.conditions) for hour in forecast],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def forecast_from_json(text: str | None) -> tuple[ForecastHour, ...] | None:
    if not text:
        return None
    data = json.loads(text)
    start = data["s"]
    return tuple(
        ForecastHour(
            time=datetime.fromtimestamp(start + minutes * 60, UTC),
            temperature=temperature,
            precipitation_probability=probability,
            conditions=data["k"][condition],
            wind_speed=wind,
        )
        for minutes, temperature, probability, wind, condition in zip(
            data["m"], data["t"], data["p"], data["w"], data["c"], strict=True
        )
    )


def _city_to_json(city: City) -> str:
    return json.dumps(city.__dict__)


def _city_from_json(text: str) -> City:
    return City(**json.loads(text))


class WeatherCache:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, provider: str, units: str, city_id: str) -> CachedObservation | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(f"{provider}|{units}", _safe_key(city_id))
        except ResourceNotFoundError:
            return None
        fetched = from_iso(entity["fetched_at"])
        assert fetched is not None
        return CachedObservation(
            _city_from_json(entity["city"]),
            _observation_from_json(entity["observation"], entity.get("forecast")),
            fetched,
        )

    def put(self, provider: str, units: str, entry: CachedObservation) -> None:
        from azure.data.tables import UpdateMode

        # REPLACE, not the SDK's default MERGE: the SDK leaves out a property whose value is
        # None, so a merge would keep the previous answer's forecast under an answer without.
        self._table.upsert_entity({
            "PartitionKey": f"{provider}|{units}", "RowKey": _safe_key(entry.city.id),
            "city": _city_to_json(entry.city),
            "observation": _observation_to_json(entry.observation),
            "forecast": forecast_to_json(entry.observation.forecast),
            "fetched_at": to_iso(entry.fetched_at),
        }, mode=UpdateMode.REPLACE)  # fmt: skip

    def cities(self, provider: str, units: str) -> list[CachedObservation]:
        return [
            CachedObservation(
                _city_from_json(e["city"]),
                _observation_from_json(e["observation"], e.get("forecast")),
                from_iso(e["fetched_at"]) or datetime.min,
            )
            for e in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": f"{provider}|{units}"}
            )
        ]


def _safe_key(value: str) -> str:
    """Table keys may not hold / \\ # ? or control characters."""
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


class GeocodeCache:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, provider: str, key: str, now: datetime) -> tuple[bool, City | None]:
        """(known, city): known is False when nothing fresh is cached for ``key``."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(provider, _safe_key(key))
        except ResourceNotFoundError:
            return False, None
        expires = from_iso(entity["expires_at"])
        if expires is None or expires <= now:
            return False, None
        city = entity.get("city")
        return True, _city_from_json(city) if city else None

    def put(self, provider: str, key: str, city: City | None, now: datetime) -> None:
        from azure.data.tables import UpdateMode

        # REPLACE: a miss (city None, left out by the SDK) must not keep an earlier hit's city.
        self._table.upsert_entity({
            "PartitionKey": provider, "RowKey": _safe_key(key),
            "city": _city_to_json(city) if city else None,
            "expires_at": to_iso(now + (GEOCODE_TTL if city else GEOCODE_MISS_TTL)),
        }, mode=UpdateMode.REPLACE)  # fmt: skip
