"""The request and response models of functions/subscriptions.py (imported on first use)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from functions.models.weather import CityOut, WeatherOut
from shared.domain.text import PlaceName
from shared.models import BaseModel


class SubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: PlaceName = Field(min_length=1, max_length=100, description="`Paris` or `Paris,FR`")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2")


class SubscriptionOut(BaseModel):
    city: CityOut
    weather: WeatherOut | None
    subscribed_at: datetime


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]
    plan: str
    limit: int
    used: int
