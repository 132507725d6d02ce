"""The request and response models of functions/observations.py (imported on first use)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shared.domain.text import Cursor
from shared.models import BaseModel


class ObservationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: int = Field(24, ge=1, le=168, description="how far back: 1 to 168 hours")
    cursor: Cursor | None = Field(None, description="a next_cursor from the page before")


class ObservationItem(BaseModel):
    time: str = Field(
        description="the provider's measurement time, ISO 8601 UTC with Z",
        examples=["2026-12-01T09:10:00Z"],
    )
    temperature: float = Field(description="°C (the refresh follows metric weather)")
    feels_like: float
    humidity: int
    precipitation_probability: int | None
    conditions: str


class ObservationPage(BaseModel):
    items: list[ObservationItem] = Field(description="oldest first")
    next_cursor: str | None
