"""Subscriptions as rules: plans and quotas, city ids, and what counts as a change. Pure.

A subscription is a user following a city: the refresh keeps the city's weather current
and pushes it to the user's connections (group ``city.<city_id>``) when it changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.domain.errors import Conflict, Forbidden

if TYPE_CHECKING:
    from shared.domain.weather import City, Observation

CITY_GROUP_PREFIX = "city."

# The ids a city can have (shared/domain/weather.py City.id): a GeoNames id (the city
# index and Open-Meteo's geocoder), or ``ow:lat,lon`` with four decimals (OpenWeatherMap's
# geocoder). The route constraint of DELETE /api/subscriptions/{city_id} is this shape.
CITY_ID = re.compile(r"[0-9]{1,12}|ow:-?[0-9]{1,3}\.[0-9]{4},-?[0-9]{1,3}\.[0-9]{4}")


class AlreadySubscribed(Conflict):
    slug, title = "already-subscribed", "Already subscribed to this city"


class QuotaExceeded(Forbidden):
    slug, title = "quota-exceeded", "The plan's city quota is used up"


@dataclass(frozen=True)
class Subscription:
    city: City
    subscribed_at: datetime


@dataclass(frozen=True)
class SubscribedCity:
    """A city of the subscribed set, as the refresh needs it: where it is, when it was
    last refreshed, and the fingerprint of the weather last pushed to its subscribers."""

    city: City
    refreshed_at: datetime | None = None
    published: str | None = None


def city_group(city_id: str) -> str:
    """The Web PubSub group of a city's subscribers."""
    return f"{CITY_GROUP_PREFIX}{city_id}"


def plan_limit(plan: str, basic: int, premium: int) -> int:
    return premium if plan == "premium" else basic


def check_can_add(subscriptions: list[Subscription], city_id: str, limit: int) -> None:
    """409 ``already-subscribed`` for a city in the list, 403 ``quota-exceeded`` when the
    list is full (a plan lowered below the count keeps what it has, adds nothing)."""
    if any(s.city.id == city_id for s in subscriptions):
        raise AlreadySubscribed("You already follow this city")
    if len(subscriptions) >= limit:
        raise QuotaExceeded(
            f"Your plan allows {limit} cities and you follow {len(subscriptions)}; "
            "unsubscribe from one first, or ask for the premium plan"
        )


def fingerprint(observation: Observation) -> str:
    """What subscribers see of an observation, at the precision the app shows it
    (temperatures and wind to 0.1, pressure to 1 hPa, percentages, the conditions).
    Two observations are the same weather when their fingerprints are equal: the
    provider's measurement time alone moving on is not a change; the forecast is part of
    what subscribers see."""
    seen = (
        f"{observation.units}|{observation.temperature:.1f}|{observation.feels_like:.1f}|"
        f"{observation.humidity}|{observation.pressure:.0f}|{observation.wind_speed:.1f}|"
        f"{observation.clouds}|{observation.precipitation_probability}|{observation.conditions}"
    )
    # The card's chart: each forecast hour at the precision a chart can show (whole
    # degrees and percent); a window that moved on by an hour is a change.
    for hour in observation.forecast or ():
        seen += (
            f"|{int(hour.time.timestamp())}:{hour.temperature:.0f}:"
            f"{hour.precipitation_probability}:{hour.conditions}"
        )
    return hashlib.sha256(seen.encode()).hexdigest()[:24]
