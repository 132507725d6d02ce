"""Operations functions (Blueprint): health. The OpenAPI document and Swagger UI are in
functions/openapi.py, which describes every area, this one included."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http
from shared.container import container
from shared.services import health

if TYPE_CHECKING:
    from functions.models import ops as models
else:
    models = http.lazy_models("functions.models.ops")

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"])
@http.endpoint("Health of the app and its storage dependencies", response="ops:HealthOut",
               tags=("operations",), alternatives={503: "ops:HealthOut"})  # fmt: skip
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    report = health.check(container().storage_probes())
    return http.json_response(
        report, status=200 if report.healthy else 503, headers={"Cache-Control": "no-store"}
    )
