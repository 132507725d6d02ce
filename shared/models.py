"""The base of the app's pydantic models: schemas built on first use, not at import.

``defer_build`` postpones each model's validator and serializer until it first validates
or dumps something, so that a cold start pays only for the models its invocation uses.
Subclasses' own ``model_config`` merges with this one.
"""

from __future__ import annotations

from pydantic import BaseModel as _PydanticBaseModel
from pydantic import ConfigDict


class BaseModel(_PydanticBaseModel):
    model_config = ConfigDict(defer_build=True)
