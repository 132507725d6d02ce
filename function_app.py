"""The Function App: builds the FunctionApp and registers one Blueprint per area; nothing else.

`func start` (Azure Functions Core Tools), Azure itself and the local host in devtools/
all load this module unchanged.
"""

import azure.functions as func

from functions import accounts, history, jobs, ops, realtime, social, subscriptions, weather
from shared.settings import check_startup_settings, get_settings

check_startup_settings(get_settings())

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for area in (ops, accounts, social, weather, history, jobs, subscriptions, realtime):
    app.register_functions(area.bp)
