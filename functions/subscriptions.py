"""Subscriptions functions (Blueprint): follow cities, and the weather refresh that keeps
them current (a timer, and the queue of what a run had to leave for later)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http, telemetry
from shared.container import container
from shared.queues import REFRESH_QUEUE
from shared.routes import CITY_ID

if TYPE_CHECKING:
    from functions.models import subscriptions as models
else:
    models = http.lazy_models("functions.models.subscriptions")

bp = func.Blueprint()

TAGS = ("subscriptions",)


@bp.route(route="subscriptions", methods=["GET"])
@http.endpoint("The caller's cities with their latest known weather, and the plan's quota",
               response="subscriptions:SubscriptionList", auth=True, tags=TAGS)  # fmt: skip
def list_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().subscriptions.list_for(user))


@bp.route(route="subscriptions", methods=["POST"])
@http.endpoint("Follow a city (within the plan's quota)", body="subscriptions:SubscribeIn",
               response="subscriptions:SubscriptionOut", status=201, auth=True, tags=TAGS,
               errors=(403, 404, 409))  # fmt: skip
def subscribe(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, models.SubscribeIn)
    created = container().subscriptions.subscribe(user, body.city, body.country)
    return http.created(created, location=f"/api/subscriptions/{created['city']['id']}")


@bp.route(route=f"subscriptions/{CITY_ID}", methods=["DELETE"])
@http.endpoint("Stop following a city", status=204, auth=True, tags=TAGS, errors=(404,))
def unsubscribe(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    container().subscriptions.unsubscribe(user, req.route_params["city_id"])
    return http.no_content()


@bp.timer_trigger(arg_name="timer", schedule="%WEATHER_REFRESH_SCHEDULE%", run_on_startup=False)
@telemetry.traced("timer")
def refresh_weather(timer: func.TimerRequest) -> None:
    """Refresh every subscribed city once, inside the provider's rate limit; what the
    limit does not allow now goes to the weather-refresh queue."""
    container().refresh.run()


@bp.queue_trigger(arg_name="msg", queue_name=REFRESH_QUEUE, connection="AzureWebJobsStorage")
@telemetry.traced("queue")
def refresh_weather_deferred(msg: func.QueueMessage) -> None:
    """Cities a refresh run left for later (each message waits for its budget window)."""
    container().refresh.run_deferred(msg.get_body().decode("utf-8"))
