"""The weather.updated message: what a card redraws from, at most 8 KiB (API.md), measured
as the Web PubSub SDK serializes it (json.dumps defaults, non-ASCII escaped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.domain.weather import WMO_CODES, City, ForecastHour, Observation, describe_wmo
from shared.services.refresh import EVENT_MAX_BYTES, weather_updated
from shared.services.weather import render

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
LONGEST = max((describe_wmo(code) for code in WMO_CODES), key=len)


def worst_case(hours: int, name: str = "Ŝ" * 200, conditions: str = LONGEST) -> Observation:
    """Every number at its longest printed form, the longest conditions, a long non-ASCII
    name (escaped as 6 bytes a character on the wire)."""
    forecast = tuple(
        ForecastHour(NOW + timedelta(hours=i), -123.45678901234, 100, conditions, 123.45678901234)
        for i in range(hours)
    )
    big = -123.45678901234
    return Observation(big, big, 100, 1013.45678901234, -big, 100, 100, conditions, NOW,
                       "imperial", forecast)  # fmt: skip


def message_for(observation: Observation, name: str = "Ŝ" * 200) -> dict[str, object]:
    city = City("ow:-33.8688,151.2093", name, "AU", -33.8688, 151.2093)
    return weather_updated(city.id, render(city, observation, "openweather", cached=False,
                                           stale=False))  # fmt: skip


def test_the_worst_realistic_card_fits_in_8_kib_with_all_24_hours() -> None:
    message = message_for(worst_case(24))
    size = len(json.dumps(message).encode())
    assert size <= EVENT_MAX_BYTES, size
    weather = message["weather"]
    assert isinstance(weather, dict)
    assert len(weather["forecast"]["hours"]) == 24  # the whole chart's next 24 hours
    assert weather["pressure"] == 1013.45678901234  # the card shows the pressure too
    assert message["event"] == "weather.updated" and weather["observed_at"].endswith("Z")


def test_no_more_than_the_card_shows_and_never_over_the_bound() -> None:
    longer = message_for(worst_case(48))  # a provider answering two days
    assert len(longer["weather"]["forecast"]["hours"]) == 24  # type: ignore[index]
    absurd = message_for(worst_case(24, conditions="x" * 400))
    assert len(json.dumps(absurd).encode()) <= EVENT_MAX_BYTES
    hours = absurd["weather"]["forecast"]["hours"]  # type: ignore[index]
    assert 0 < len(hours) < 24 and hours[0]["time"] == "2026-12-03T18:00:00Z"  # first kept
    # Beyond all reason (the current conditions alone over 8 KiB): the forecast goes first.
    hopeless = message_for(worst_case(24, conditions="x" * 9000))
    assert hopeless["weather"]["forecast"] is None  # type: ignore[index]


def test_a_body_without_forecast_stays_without() -> None:
    observation = Observation(1.0, 0.5, 80, 1000.0, 2.0, 90, None, "fog", NOW, "metric")
    message = message_for(observation, name="Zocca")
    assert message["weather"]["forecast"] is None  # type: ignore[index]
    json.dumps(message)
