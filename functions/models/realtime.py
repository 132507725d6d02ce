"""The request and response models of functions/realtime.py (imported on first use)."""

from __future__ import annotations

from pydantic import Field

from shared.models import BaseModel


class NegotiateOut(BaseModel):
    url: str = Field(
        description="the Azure Web PubSub client URL with its access token (subprotocol "
        "json.webpubsub.azure.v1): the connection belongs to the caller and is in the "
        "groups city.<city_id> of the caller's subscriptions, and cannot join or send to any"
    )
    expires_in: int = Field(description="seconds the URL can be used to connect")
