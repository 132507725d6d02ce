"""History functions (Blueprint): the caller's own weather searches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http
from shared.container import container

if TYPE_CHECKING:
    from functions.models import history as models
else:
    models = http.lazy_models("functions.models.history")

bp = func.Blueprint()
TAGS = ("history",)


@bp.route(route="history", methods=["GET"])
@http.endpoint("The caller's searches, newest first", query="history:HistoryQuery",
               response="history:HistoryPage", auth=True, tags=TAGS)  # fmt: skip
def list_history(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.HistoryQuery)
    items, cursor = container().history.page(user.user_id, query.limit, query.cursor)
    return http.ok({"items": items, "next_cursor": cursor})


@bp.route(route="history", methods=["DELETE"])
@http.endpoint("Clear the caller's history", status=204, auth=True, tags=TAGS)
def clear_history(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    container().history.clear(user.user_id)
    return http.no_content()
