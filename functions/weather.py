"""Weather functions (Blueprint): current weather by city name."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import azure.functions as func
from pydantic import ConfigDict, Field

from shared import http
from shared.container import container
from shared.domain.text import PlaceName
from shared.models import BaseModel

bp = func.Blueprint()


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


@bp.route(route="weather", methods=["GET"])
@http.endpoint("Current weather for a city (signed-in lookups are kept in history)",
               query=WeatherQuery, response=WeatherOut, optional_auth=True,
               tags=("weather",), errors=(404, 503))  # fmt: skip
def get_weather(req: func.HttpRequest) -> func.HttpResponse:
    user = http.optional_principal(req)
    query = http.parse_query(req, WeatherQuery)
    body = container().weather.lookup(query.city, query.country, query.units, user)
    return http.ok(body, headers={"Cache-Control": "private, max-age=60"})
