"""Jobs functions (Blueprint): the jobs API, the queue worker, the sweeper, bid sentiment."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import azure.functions as func
from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared import http, telemetry
from shared.container import container
from shared.domain.currencies import ISO_4217
from shared.domain.text import Cursor, Line, Text
from shared.models import BaseModel
from shared.queues import JOBS_QUEUE, SENTIMENT_QUEUE
from shared.routes import BID_ID, JOB_ID
from shared.services.job_kinds import KINDS

bp = func.Blueprint()

TAGS = ("jobs",)
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
_AMOUNT_STRING = r"^([1-9][0-9]{0,9}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 9999999999.99, "multipleOf": 0.01},
        {"type": "string", "pattern": _AMOUNT_STRING},
    ],
    "description": "greater than 0, at most 2 decimals; a JSON number or a decimal string",
}


_CURRENCIES: list[JsonValue] = [*sorted(ISO_4217)]


class FeeIn(_In):
    amount: Annotated[
        Decimal, Field(gt=0, max_digits=12, decimal_places=2), WithJsonSchema(_AMOUNT_SCHEMA)
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
    proposed_deadline: date = Field(description="YYYY-MM-DD, not in the past")
    fee: FeeIn


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


def _page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    return {"items": [item.to_public() for item in items], "next_cursor": cursor}


@bp.route(route="jobs", methods=["POST"])
@http.endpoint("Create a job (runs at scheduled_time)", body=JobIn, response=JobOut,
               status=201, auth=True, tags=TAGS, errors=(429,),
               links={op: {"job_id": "$response.body#/id"} for op in (
                   "get_job", "edit_job", "cancel_job", "job_result", "list_bids")})  # fmt: skip
def create_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, JobIn)
    container().limits.job_creation(user.user_id)
    job = container().job_service.create(
        user, name=body.name, description=body.description, kind=body.kind,
        params=body.params, scheduled_time=body.scheduled_time,
    )  # fmt: skip
    return http.created(job.to_public(), location=f"/api/jobs/{job.id}")


@bp.route(route="jobs", methods=["GET"])
@http.endpoint("Own jobs, filtered and sorted", query=JobsQuery, response=JobPage,
               auth=True, tags=TAGS,
               links={op: {"job_id": "$response.body#/items/0/id"} for op in (
                   "get_job", "edit_job", "job_result", "list_bids")})  # fmt: skip
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, JobsQuery)
    items, cursor = container().jobs.list_own(
        user.user_id, status=query.status, kind=query.kind, sort=query.sort,
        limit=query.limit, cursor=query.cursor,
    )  # fmt: skip
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/open", methods=["GET"])
@http.endpoint("Pending, unassigned jobs of other users (to bid on)", query=PageQuery,
               response=JobPage, auth=True, tags=TAGS,
               links={op: {"job_id": "$response.body#/items/0/id"} for op in (
                   "get_job", "place_bid")})  # fmt: skip
def list_open_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, PageQuery)
    items, cursor = container().jobs.list_open(user.user_id, query.limit, query.cursor)
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/assigned", methods=["GET"])
@http.endpoint("Jobs assigned to the caller", query=PageQuery, response=JobPage,
               auth=True, tags=TAGS)  # fmt: skip
def list_assigned_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, PageQuery)
    items, cursor = container().jobs.list_assigned(user.user_id, query.limit, query.cursor)
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/summary", methods=["GET"])
@http.endpoint("Counts of own jobs by status", response=SummaryOut, auth=True, tags=TAGS)
def job_summary(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.summary(user))


@bp.route(route=f"jobs/{JOB_ID}", methods=["GET"])
@http.endpoint("A job (owner, assignee, or anyone while open for bids)", response=JobOut,
               auth=True, tags=TAGS, errors=(404,))  # fmt: skip
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.get(user, req.route_params["job_id"]).to_public())


@bp.route(route=f"jobs/{JOB_ID}", methods=["PATCH"])
@http.endpoint("Change a pending job", body=JobPatch, response=JobOut, auth=True,
               tags=TAGS, errors=(403, 404, 409))  # fmt: skip
def edit_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, JobPatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    job = container().job_service.edit(user, req.route_params["job_id"], changes)
    return http.ok(job.to_public())


@bp.route(route=f"jobs/{JOB_ID}", methods=["DELETE"])
@http.endpoint("Cancel a pending job", response=JobOut, auth=True, tags=TAGS,
               errors=(403, 404, 409))  # fmt: skip
def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    job = container().job_service.cancel(user, req.route_params["job_id"])
    return http.ok(job.to_public())


@bp.route(route=f"jobs/{JOB_ID}/result", methods=["GET"])
@http.endpoint("The result of a finished job", response=ResultOut, auth=True, tags=TAGS,
               errors=(404, 409))  # fmt: skip
def job_result(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.result(user, req.route_params["job_id"]))


@bp.route(route=f"jobs/{JOB_ID}/bids", methods=["POST"])
@http.endpoint("Bid on an open job", body=BidIn, response=BidOut, status=201, auth=True,
               tags=TAGS, errors=(403, 404, 409, 429),
               links={"list_bids": {"job_id": "$response.body#/job_id"},
                      "accept_bid": {"job_id": "$response.body#/job_id",
                                     "bid_id": "$response.body#/id"}})  # fmt: skip
def place_bid(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.jobs import BidInput  # the service module only when a bid comes

    user = http.authenticate(req)
    body = http.parse_body(req, BidIn)
    container().limits.bid_creation(user.user_id)
    bid = container().job_service.place_bid(
        user, req.route_params["job_id"],
        BidInput(body.comment, body.proposed_deadline, body.fee.amount, body.fee.currency),
    )  # fmt: skip
    return http.created(bid.to_public())


@bp.route(route=f"jobs/{JOB_ID}/bids", methods=["GET"])
@http.endpoint("Bids on a job, in the order placed: all for the owner, own ones for a bidder",
               query=PageQuery, response=BidPage, auth=True, tags=TAGS, errors=(404,),
               links={"accept_bid": {"job_id": "$request.path.job_id",
                                     "bid_id": "$response.body#/items/0/id"}})  # fmt: skip
def list_bids(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, PageQuery)
    bids, cursor = container().job_service.list_bids(
        user, req.route_params["job_id"], query.limit, query.cursor
    )
    return http.ok(_page(bids, cursor))


@bp.route(route=f"jobs/{JOB_ID}/bids/{BID_ID}/accept", methods=["POST"])
@http.endpoint("Accept a bid: the bidder becomes the assignee", response=JobOut,
               auth=True, tags=TAGS, errors=(403, 404, 409))  # fmt: skip
def accept_bid(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    job = container().job_service.accept_bid(
        user, req.route_params["job_id"], req.route_params["bid_id"]
    )
    return http.ok(job.to_public())


@bp.queue_trigger(arg_name="msg", queue_name=JOBS_QUEUE, connection="AzureWebJobsStorage")
@telemetry.traced("queue")
def process_job(msg: func.QueueMessage) -> None:
    """Run a job whose time has come; safe against duplicates and races."""
    container().job_service.process(msg.get_body().decode("utf-8"))


@bp.timer_trigger(arg_name="timer", schedule="%JOBS_SWEEP_SCHEDULE%", run_on_startup=False)
@telemetry.traced("timer")
def enqueue_due_jobs(timer: func.TimerRequest) -> None:
    """Enqueue jobs further ahead than a queue message can wait, send again the messages of
    jobs not started in time (lost), score bid comments left waiting."""
    service = container().job_service
    service.enqueue_due()
    service.redispatch_lost()
    service.score_pending_sentiment(everything=True)


@bp.queue_trigger(arg_name="msg", queue_name=SENTIMENT_QUEUE,
                  connection="AzureWebJobsStorage")  # fmt: skip
@telemetry.traced("queue")
def score_bid_sentiment(msg: func.QueueMessage) -> None:
    """New bids: score waiting comments, each once, up to 10 per request."""
    container().job_service.score_pending_sentiment()
