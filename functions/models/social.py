"""The request and response models of functions/social.py (imported on first use)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shared.models import BaseModel


class LoginCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_code: str = Field(min_length=1, max_length=128)


class ProviderOut(BaseModel):
    name: str
    display_name: str


class ProvidersOut(BaseModel):
    items: list[ProviderOut]
