"""The Function App: builds the FunctionApp and registers one Blueprint per area; nothing else.

`func start` (Azure Functions Core Tools), Azure itself and the local host in devtools/
all load this module unchanged.
"""

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
from shared.settings import check_startup_environment

# The start-up refusals, from a few environment reads: the full Settings (pydantic-settings)
# is built on first use, so that a cold start imports no more than the functions need.
check_startup_environment()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for area in (
    ops,
    accounts,
    social,
    weather,
    history,
    jobs,
    subscriptions,
    observations,
    realtime,
    web,
):
    app.register_functions(area.bp)
