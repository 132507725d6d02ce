"""Real-time functions (Blueprint): the Web PubSub client URL of a signed-in user."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http
from shared.container import container

if TYPE_CHECKING:
    from functions.models import realtime as models
else:
    models = http.lazy_models("functions.models.realtime")

bp = func.Blueprint()

TAGS = ("real time",)


@bp.route(route="realtime/negotiate", methods=["POST"])
@http.endpoint("A WebSocket URL for the caller's live updates (their cities, jobs and bids)",
               response="realtime:NegotiateOut", auth=True, tags=TAGS, errors=(503,))  # fmt: skip
def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().subscriptions.negotiate(user))
