"""Operations functions (Blueprint): health, OpenAPI document, Swagger UI."""

import azure.functions as func

bp = func.Blueprint()
