"""The Function App: builds the FunctionApp of every area's Blueprint; nothing else.

`func start` (Azure Functions Core Tools), Azure itself and the local host in devtools/
all load this module unchanged. The areas are listed in functions/areas.py; the OpenAPI
document and Swagger UI (functions/openapi.py) describe them all.
"""

from functions import areas, openapi
from shared.settings import check_startup_environment

# The start-up refusals, from a few environment reads: the full Settings (pydantic-settings)
# is built on first use, so that a cold start imports no more than the functions need.
check_startup_environment()

app = areas.build_app(openapi.bp)
