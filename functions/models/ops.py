"""The request and response models of functions/ops.py (imported on first use)."""

from __future__ import annotations

from shared.models import BaseModel


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str]
    version: str
    latency_ms: dict[str, float]
