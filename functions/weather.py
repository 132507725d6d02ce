"""Weather functions (Blueprint): current weather by city name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http
from shared.container import container

if TYPE_CHECKING:
    from functions.models import weather as models
else:
    models = http.lazy_models("functions.models.weather")

bp = func.Blueprint()


@bp.route(route="weather", methods=["GET"])
@http.endpoint("Current weather for a city (signed-in lookups are kept in history)",
               query="weather:WeatherQuery", response="weather:WeatherOut", optional_auth=True,
               tags=("weather",), errors=(404, 429, 503))  # fmt: skip
def get_weather(req: func.HttpRequest) -> func.HttpResponse:
    user = http.optional_principal(req)
    query = http.parse_query(req, models.WeatherQuery)
    app = container()
    client = f"user:{user.user_id}" if user is not None else http.client_address(req)
    body = app.weather.lookup(
        query.city, query.country, query.units, user,
        gate=lambda: app.limits.weather_upstream(client),  # only lookups that go upstream
    )  # fmt: skip
    return http.ok(body, headers={"Cache-Control": "private, max-age=60"})
