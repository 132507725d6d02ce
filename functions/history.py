"""History functions (Blueprint): the caller's own weather searches."""

from __future__ import annotations

from datetime import datetime

import azure.functions as func
from pydantic import ConfigDict, Field

from shared import http
from shared.container import container
from shared.domain.text import Cursor
from shared.models import BaseModel

bp = func.Blueprint()
TAGS = ("history",)


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


@bp.route(route="history", methods=["GET"])
@http.endpoint("The caller's searches, newest first", query=HistoryQuery,
               response=HistoryPage, auth=True, tags=TAGS)  # fmt: skip
def list_history(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, HistoryQuery)
    items, cursor = container().history.page(user.user_id, query.limit, query.cursor)
    return http.ok({"items": items, "next_cursor": cursor})


@bp.route(route="history", methods=["DELETE"])
@http.endpoint("Clear the caller's history", status=204, auth=True, tags=TAGS)
def clear_history(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    container().history.clear(user.user_id)
    return http.no_content()
