"""Jobs functions (Blueprint): the jobs API, the queue worker, the sweeper, bid sentiment."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import http
from shared.container import container
from shared.domain.currencies import ISO_4217
from shared.routes import BID_ID, JOB_ID
from shared.services import jobs
from shared.services.job_kinds import KINDS

bp = func.Blueprint()

TAGS = ("jobs",)
Status = Literal["pending", "in-progress", "completed", "failed", "cancelled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobIn(_In):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    kind: str = Field(description=f"one of {', '.join(sorted(KINDS))}")
    params: dict[str, Any] | None = None
    scheduled_time: AwareDatetime | None = Field(
        None, description="with an offset; omitted: now; not in the past"
    )


class JobPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    params: dict[str, Any] | None = None
    scheduled_time: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something(self) -> JobPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, params, scheduled_time")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class JobsQuery(_In):
    status: Status | None = None
    kind: str | None = None
    sort: Literal["created_at", "-created_at", "scheduled_time", "-scheduled_time"] = "-created_at"
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


class PageQuery(_In):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


class FeeIn(_In):
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field("USD", description="ISO 4217 code")

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in ISO_4217:
            raise ValueError("must be an ISO 4217 currency code, e.g. USD or EUR")
        return code


class BidIn(_In):
    comment: str = Field(min_length=1, max_length=2000)
    proposed_deadline: date
    fee: FeeIn


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
               status=201, auth=True, tags=TAGS)  # fmt: skip
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
               auth=True, tags=TAGS)  # fmt: skip
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
               response=JobPage, auth=True, tags=TAGS)  # fmt: skip
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
               tags=TAGS, errors=(403, 404, 409))  # fmt: skip
def place_bid(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, BidIn)
    container().limits.bid_creation(user.user_id)
    bid = container().job_service.place_bid(
        user, req.route_params["job_id"],
        jobs.BidInput(body.comment, body.proposed_deadline, body.fee.amount, body.fee.currency),
    )  # fmt: skip
    return http.created(bid.to_public())


@bp.route(route=f"jobs/{JOB_ID}/bids", methods=["GET"])
@http.endpoint("Bids on a job, in the order placed: all for the owner, own ones for a bidder",
               query=PageQuery, response=BidPage, auth=True, tags=TAGS,
               errors=(404,))  # fmt: skip
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


@bp.queue_trigger(arg_name="msg", queue_name=jobs.JOBS_QUEUE, connection="AzureWebJobsStorage")
def process_job(msg: func.QueueMessage) -> None:
    """Run a job whose time has come; safe against duplicates and races."""
    container().job_service.process(msg.get_body().decode("utf-8"))


@bp.timer_trigger(arg_name="timer", schedule="%JOBS_SWEEP_SCHEDULE%", run_on_startup=False)
def enqueue_due_jobs(timer: func.TimerRequest) -> None:
    """Enqueue jobs further ahead than a queue message can wait, send again the messages of
    jobs not started in time (lost), score bid comments left waiting."""
    service = container().job_service
    service.enqueue_due()
    service.redispatch_lost()
    service.score_pending_sentiment(everything=True)


@bp.queue_trigger(arg_name="msg", queue_name=jobs.SENTIMENT_QUEUE,
                  connection="AzureWebJobsStorage")  # fmt: skip
def score_bid_sentiment(msg: func.QueueMessage) -> None:
    """New bids: score waiting comments, each once, up to 10 per request."""
    container().job_service.score_pending_sentiment()
