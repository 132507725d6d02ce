"""The request and response models of functions/weather.py (imported on first use)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from shared.domain.text import PlaceName
from shared.models import BaseModel


class WeatherQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: PlaceName = Field(
        min_length=1,
        max_length=100,
        description="`Paris` or `Paris,FR`",
        examples=["Paris", "Paris,FR", "São Paulo"],
    )
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2")
    units: Literal["metric", "imperial"] = "metric"


class CityOut(BaseModel):
    id: str
    name: str
    country: str
    lat: float
    lon: float


class ForecastHourOut(BaseModel):
    time: datetime = Field(description="the hour it starts (UTC)")
    temperature: float
    precipitation_probability: int | None
    conditions: str
    wind_speed: float


class ForecastOut(BaseModel):
    hours: list[ForecastHourOut] = Field(
        description="at least the next 24 hours from the current hour, in the body's units "
        "(hourly; OpenWeatherMap's free forecast steps every three hours)"
    )


class WeatherOut(BaseModel):
    city: CityOut
    temperature: float
    feels_like: float
    humidity: int
    pressure: float
    wind_speed: float
    clouds: int
    precipitation_probability: int | None
    conditions: str
    units: Literal["metric", "imperial"]
    observed_at: datetime
    source: str
    cached: bool
    stale: bool
    forecast: ForecastOut | None = Field(description="null when the provider gave none")
