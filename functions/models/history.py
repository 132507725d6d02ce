"""The request and response models of functions/history.py (imported on first use)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from shared.domain.text import Cursor
from shared.models import BaseModel


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(20, ge=1, le=100)
    cursor: Cursor | None = Field(None, description="a next_cursor from the page before")


class HistoryEntry(BaseModel):
    id: str
    city_name: str
    country: str
    city_id: str
    timestamp: datetime


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None
