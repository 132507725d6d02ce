"""Operations functions (Blueprint): health and the purge of expired abuse-limit counts. The
OpenAPI document and Swagger UI are in functions/openapi.py, which describes every area,
this one included."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http, telemetry
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


# Hourly, at minute 41 (off the hour, away from the other timers): the counts of the abuse
# limits (tables ``ratelimits`` and the ``login-failures`` rows of ``useremails``) whose
# state has run out. Every client address and every e-mail address tried leaves a row;
# without this the tables only grow (issue 18, item 5).
@bp.timer_trigger(arg_name="timer", schedule="0 41 * * * *", run_on_startup=False)
@telemetry.traced("timer")
def purge_abuse_counters(timer: func.TimerRequest) -> None:
    """Delete expired rate-limit and login-failure rows (the same as no row)."""
    app = container()
    app.limits.purge_expired()
    app.accounts.purge_login_failures()
