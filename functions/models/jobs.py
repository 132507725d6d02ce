"""The request and response models of functions/jobs.py (imported on first use)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.domain.currencies import ISO_4217
from shared.domain.text import Cursor, Line, Text
from shared.models import BaseModel
from shared.services.job_kinds import KINDS

Status = Literal["pending", "in-progress", "completed", "failed", "cancelled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


KindName = Annotated[
    str, Field(description="the job kind", json_schema_extra={"enum": sorted(KINDS)})
]


def _known_kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"must be one of {', '.join(sorted(KINDS))}")
    return value


class JobIn(_In):
    name: Line = Field(min_length=1, max_length=200)
    description: Text = Field("", max_length=2000)
    kind: KindName
    params: dict[str, Any] | None = Field(
        None, description="the kind's parameters (see the schema of each kind); null: none"
    )
    scheduled_time: AwareDatetime | None = Field(
        None, description="with an offset; omitted or null: now; not in the past"
    )

    model_config = ConfigDict(json_schema_extra=lambda schema: _params_by_kind(schema))

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return _known_kind(value)


class JobPatch(_In):
    # Typed without None: an omitted field keeps its value, and null is refused (400).
    name: Line = Field(None, min_length=1, max_length=200)  # type: ignore[assignment]
    description: Text = Field(None, max_length=2000)  # type: ignore[assignment]
    params: dict[str, Any] = Field(None, description="params of the job's kind")  # type: ignore[arg-type]
    scheduled_time: AwareDatetime = Field(None, description="not in the past")  # type: ignore[assignment]

    model_config = ConfigDict(json_schema_extra=lambda schema: _patch_params(schema))

    @model_validator(mode="after")
    def _something(self) -> JobPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, params, scheduled_time")
        return self


class JobsQuery(_In):
    status: Status | None = None
    kind: KindName | None = None
    sort: Literal["created_at", "-created_at", "scheduled_time", "-scheduled_time"] = "-created_at"
    limit: int = Field(20, ge=1, le=100)
    cursor: Cursor | None = Field(None, description="a next_cursor from the page before")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        return None if value is None else _known_kind(value)


class PageQuery(_In):
    limit: int = Field(20, ge=1, le=100)
    cursor: Cursor | None = Field(None, description="a next_cursor from the page before")


# A positive amount with at most two decimals, as a JSON number or a decimal string.
MAX_AMOUNT = Decimal("9999999999.99")
_AMOUNT_STRING = r"^([1-9][0-9]{0,9}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_AMOUNT), "multipleOf": 0.01},
        {"type": "string", "pattern": _AMOUNT_STRING},
    ],
    "description": "greater than 0, at most 2 decimals; a JSON number or a decimal string",
}


_CURRENCIES: list[JsonValue] = [*sorted(ISO_4217)]


class FeeIn(_In):
    amount: Annotated[
        Decimal,
        Field(gt=0, le=MAX_AMOUNT, max_digits=12, decimal_places=2),
        WithJsonSchema(_AMOUNT_SCHEMA),
    ]
    currency: str = Field(
        "USD",
        description="ISO 4217 code",
        json_schema_extra={"enum": _CURRENCIES},
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _number_or_decimal_string(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number or a decimal string")
        if isinstance(value, str) and not re.fullmatch(_AMOUNT_STRING, value):
            raise ValueError("must be a decimal greater than 0 with at most 2 decimals")
        if isinstance(value, float):
            # Bounded before any arithmetic: 1e308 * 100 is inf, and round(inf) raises
            # OverflowError, which is no ValueError, so pydantic let it through as a 500.
            if not math.isfinite(value) or not 0 < value <= float(MAX_AMOUNT):
                raise ValueError(f"must be greater than 0 and at most {MAX_AMOUNT}")
            # A JSON number is a double: 0.57 may arrive as 0.5700000000000001. Within a
            # millionth of a cent it is taken as the cents it stands for.
            cents = round(value * 100)
            if abs(value * 100 - cents) < 1e-6:
                return Decimal(cents) / 100
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in ISO_4217:
            raise ValueError("must be an ISO 4217 currency code, e.g. USD or EUR")
        return code


# A calendar date as ISO 8601 writes it; the year has four digits (date.max is 9999-12-31).
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class BidIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"comment": "I can deliver this within a week.",
                 "proposed_deadline": "2030-06-30", "fee": {"amount": 120.5, "currency": "EUR"}}
            ]
        }
    )  # fmt: skip
    comment: Text = Field(min_length=1, max_length=2000)
    proposed_deadline: date = Field(
        description="YYYY-MM-DD (years 0001 to 9999), today (UTC) or later",
        json_schema_extra={"pattern": _DATE, "maxLength": 10},
    )
    fee: FeeIn

    @field_validator("proposed_deadline", mode="before")
    @classmethod
    def _calendar_date(cls, value: Any) -> Any:
        """Exactly YYYY-MM-DD, as the schema says: pydantic's lax mode would also take a
        datetime at midnight or a Unix timestamp, which the contract does not offer."""
        if not isinstance(value, str) or not re.fullmatch(_DATE, value):
            raise ValueError("must be a date written YYYY-MM-DD")
        return value


def _kind_params_schema(name: str) -> dict[str, Any]:
    params = KINDS[name].params.model_json_schema(ref_template="#/components/schemas/{model}")
    params.pop("$defs", None)
    params.pop("title", None)
    return params


def _patch_params(schema: dict[str, Any]) -> None:
    """JobPatch's params: those of one of the kinds (the job's own; the request cannot say)."""
    schema["properties"]["params"] = {
        "description": "params of the job's kind",
        "anyOf": [_kind_params_schema(name) for name in sorted(KINDS)],
    }


def _accepts_no_params(model: type[BaseModel]) -> bool:
    try:
        model.model_validate({})
    except ValueError:
        return False
    return True


def _params_by_kind(schema: dict[str, Any]) -> None:
    """JobIn's schema: one alternative per kind, each with that kind's params schema."""
    alternatives = []
    for name in sorted(KINDS):
        params = _kind_params_schema(name)
        alternative: dict[str, Any] = {
            "properties": {"kind": {"const": name}, "params": params},
            "description": KINDS[name].description,
        }
        if _accepts_no_params(KINDS[name].params):
            # omitted or null: no params
            alternative["properties"]["params"] = {"anyOf": [params, {"type": "null"}]}
        else:
            alternative["required"] = ["params"]
        alternatives.append(alternative)
    schema["oneOf"] = alternatives
    schema["examples"] = [
        {"name": "Weekend weather", "kind": "weather.report",
         "params": {"cities": ["Paris", "Berlin,DE"], "units": "metric"}},
        {"name": "My searches", "kind": "history.export"},
        {"name": "Feedback mood", "kind": "text.sentiment",
         "params": {"texts": ["Great work, thank you!", "This was late again."]}},
    ]  # fmt: skip


class JobOut(BaseModel):
    id: str
    name: str
    description: str
    kind: str
    params: dict[str, Any]
    status: Status
    scheduled_time: datetime
    created_at: datetime
    updated_at: datetime
    attempts: int
    max_attempts: int
    owner_id: str
    assignee_id: str | None
    last_error: str | None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class SummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    pending: int
    in_progress: int = Field(alias="in-progress")
    completed: int
    failed: int
    cancelled: int
    total: int


class ResultOut(BaseModel):
    job_id: str
    output: Any
    error_message: str | None
    completed_at: datetime


class FeeOut(BaseModel):
    amount: float
    currency: str


class SentimentOut(BaseModel):
    label: Literal["positive", "neutral", "negative", "mixed"]
    scores: dict[str, float]
    source: str


class BidOut(BaseModel):
    id: str
    job_id: str
    bidder_id: str
    comment: str
    proposed_deadline: date
    fee: FeeOut
    status: Literal["open", "accepted", "rejected"]
    sentiment: SentimentOut | None
    created_at: datetime


class BidPage(BaseModel):
    items: list[BidOut]
    next_cursor: str | None
