"""Real-time functions (Blueprint): the Web PubSub client URL of a signed-in user."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from shared import http
from shared.container import container
from shared.models import BaseModel

bp = func.Blueprint()

TAGS = ("real time",)


class NegotiateOut(BaseModel):
    url: str = Field(
        description="the Azure Web PubSub client URL with its access token (subprotocol "
        "json.webpubsub.azure.v1): the connection belongs to the caller and is in the "
        "groups city.<city_id> of the caller's subscriptions, and cannot join or send to any"
    )
    expires_in: int = Field(description="seconds the URL can be used to connect")


@bp.route(route="realtime/negotiate", methods=["POST"])
@http.endpoint("A WebSocket URL for the caller's live updates (their cities, jobs and bids)",
               response=NegotiateOut, auth=True, tags=TAGS, errors=(503,))  # fmt: skip
def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().subscriptions.negotiate(user))
