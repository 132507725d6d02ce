"""Every area's Blueprint, in the order they are registered, and the FunctionApp built of them.

``function_app`` builds the app the host loads from here; ``functions.openapi`` builds the
same app (plus itself) to describe it. A new area is added to ``AREAS`` only.
"""

from __future__ import annotations

import azure.functions as func

from functions import (
    accounts,
    history,
    jobs,
    observations,
    ops,
    realtime,
    social,
    subscriptions,
    weather,
    web,
)

AREAS = (ops, accounts, social, weather, history, jobs, subscriptions, observations, realtime, web)


def build_app(*extra: func.Blueprint) -> func.FunctionApp:
    """A FunctionApp with every area's Blueprint, then ``extra``; anonymous at the platform
    level (the app checks bearer tokens itself)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for area in AREAS:
        app.register_functions(area.bp)
    for blueprint in extra:
        app.register_functions(blueprint)
    return app
