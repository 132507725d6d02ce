"""Observations functions (Blueprint): a followed city's recorded weather of the last
hours (the cards' trend), and the timer that purges what is older than 7 days."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http, telemetry
from shared.container import container
from shared.routes import CITY_ID

if TYPE_CHECKING:
    from functions.models import observations as models
else:
    models = http.lazy_models("functions.models.observations")

bp = func.Blueprint()

# Hourly, off the refresh's ten-minute marks: a day's deletes spread thin.
PURGE_SCHEDULE = "0 17 * * * *"


@bp.route(route=f"cities/{CITY_ID}/observations", methods=["GET"])
@http.endpoint("What the refreshes recorded for a followed city in the last hours, oldest "
               "first", query="observations:ObservationQuery",
               response="observations:ObservationPage", auth=True, tags=("subscriptions",),
               errors=(404,))  # fmt: skip
def list_city_observations(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.ObservationQuery)
    page = container().observations.page(
        user, req.route_params["city_id"], query.hours, query.cursor
    )
    return http.ok(page)


@bp.timer_trigger(arg_name="timer", schedule=PURGE_SCHEDULE, run_on_startup=False)
@telemetry.traced("timer")
def purge_observations(timer: func.TimerRequest) -> None:
    """Delete observations older than 7 days (range queries per city, never a scan)."""
    container().observations.purge()
