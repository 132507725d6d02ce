"""Jobs functions (Blueprint): the jobs API, the queue worker, the sweeper, bid sentiment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared import http, telemetry
from shared.container import container
from shared.queues import JOBS_QUEUE, SENTIMENT_QUEUE
from shared.routes import BID_ID, JOB_ID

if TYPE_CHECKING:
    from functions.models import jobs as models
else:
    models = http.lazy_models("functions.models.jobs")

bp = func.Blueprint()

TAGS = ("jobs",)


def _page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    return {"items": [item.to_public() for item in items], "next_cursor": cursor}


@bp.route(route="jobs", methods=["POST"])
@http.endpoint("Create a job (runs at scheduled_time)", body="jobs:JobIn", response="jobs:JobOut",
               status=201, auth=True, tags=TAGS, errors=(429,),
               links={op: {"job_id": "$response.body#/id"} for op in (
                   "get_job", "edit_job", "cancel_job", "job_result", "list_bids")})  # fmt: skip
def create_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, models.JobIn)
    container().limits.job_creation(user.user_id)
    job = container().job_service.create(
        user, name=body.name, description=body.description, kind=body.kind,
        params=body.params, scheduled_time=body.scheduled_time,
    )  # fmt: skip
    return http.created(job.to_public(), location=f"/api/jobs/{job.id}")


@bp.route(route="jobs", methods=["GET"])
@http.endpoint("Own jobs, filtered and sorted", query="jobs:JobsQuery", response="jobs:JobPage",
               auth=True, tags=TAGS,
               links={op: {"job_id": "$response.body#/items/0/id"} for op in (
                   "get_job", "edit_job", "job_result", "list_bids")})  # fmt: skip
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.JobsQuery)
    items, cursor = container().jobs.list_own(
        user.user_id, status=query.status, kind=query.kind, sort=query.sort,
        limit=query.limit, cursor=query.cursor,
    )  # fmt: skip
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/open", methods=["GET"])
@http.endpoint("Pending, unassigned jobs of other users (to bid on)", query="jobs:PageQuery",
               response="jobs:JobPage", auth=True, tags=TAGS,
               links={op: {"job_id": "$response.body#/items/0/id"} for op in (
                   "get_job", "place_bid")})  # fmt: skip
def list_open_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.PageQuery)
    items, cursor = container().jobs.list_open(user.user_id, query.limit, query.cursor)
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/assigned", methods=["GET"])
@http.endpoint("Jobs assigned to the caller", query="jobs:PageQuery", response="jobs:JobPage",
               auth=True, tags=TAGS)  # fmt: skip
def list_assigned_jobs(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.PageQuery)
    items, cursor = container().jobs.list_assigned(user.user_id, query.limit, query.cursor)
    return http.ok(_page(items, cursor))


@bp.route(route="jobs/summary", methods=["GET"])
@http.endpoint(
    "Counts of own jobs by status",
    response="jobs:SummaryOut",
    auth=True,
    tags=TAGS,
)
def job_summary(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.summary(user))


@bp.route(route=f"jobs/{JOB_ID}", methods=["GET"])
@http.endpoint("A job (owner, assignee, or anyone while open for bids)", response="jobs:JobOut",
               auth=True, tags=TAGS, errors=(404,))  # fmt: skip
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.get(user, req.route_params["job_id"]).to_public())


@bp.route(route=f"jobs/{JOB_ID}", methods=["PATCH"])
@http.endpoint("Change a pending job", body="jobs:JobPatch", response="jobs:JobOut", auth=True,
               tags=TAGS, errors=(403, 404, 409))  # fmt: skip
def edit_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, models.JobPatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    job = container().job_service.edit(user, req.route_params["job_id"], changes)
    return http.ok(job.to_public())


@bp.route(route=f"jobs/{JOB_ID}", methods=["DELETE"])
@http.endpoint("Cancel a pending job", response="jobs:JobOut", auth=True, tags=TAGS,
               errors=(403, 404, 409))  # fmt: skip
def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    job = container().job_service.cancel(user, req.route_params["job_id"])
    return http.ok(job.to_public())


@bp.route(route=f"jobs/{JOB_ID}/result", methods=["GET"])
@http.endpoint("The result of a finished job", response="jobs:ResultOut", auth=True, tags=TAGS,
               errors=(404, 409))  # fmt: skip
def job_result(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().job_service.result(user, req.route_params["job_id"]))


@bp.route(route=f"jobs/{JOB_ID}/bids", methods=["POST"])
@http.endpoint("Bid on an open job", body="jobs:BidIn", response="jobs:BidOut", status=201,
               auth=True, tags=TAGS, errors=(403, 404, 409, 429),
               links={"list_bids": {"job_id": "$response.body#/job_id"},
                      "accept_bid": {"job_id": "$response.body#/job_id",
                                     "bid_id": "$response.body#/id"}})  # fmt: skip
def place_bid(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.jobs import BidInput  # the service module only when a bid comes

    user = http.authenticate(req)
    body = http.parse_body(req, models.BidIn)
    container().limits.bid_creation(user.user_id)
    bid = container().job_service.place_bid(
        user, req.route_params["job_id"],
        BidInput(body.comment, body.proposed_deadline, body.fee.amount, body.fee.currency),
    )  # fmt: skip
    return http.created(bid.to_public())


@bp.route(route=f"jobs/{JOB_ID}/bids", methods=["GET"])
@http.endpoint("Bids on a job, in the order placed: all for the owner, own ones for a bidder",
               query="jobs:PageQuery", response="jobs:BidPage", auth=True, tags=TAGS, errors=(404,),
               links={"accept_bid": {"job_id": "$request.path.job_id",
                                     "bid_id": "$response.body#/items/0/id"}})  # fmt: skip
def list_bids(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.PageQuery)
    bids, cursor = container().job_service.list_bids(
        user, req.route_params["job_id"], query.limit, query.cursor
    )
    return http.ok(_page(bids, cursor))


@bp.route(route=f"jobs/{JOB_ID}/bids/{BID_ID}/accept", methods=["POST"])
@http.endpoint("Accept a bid: the bidder becomes the assignee", response="jobs:JobOut",
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
    """New bids: score waiting comments, each once, up to 10 per request. Accepted bids:
    tell the other bidders that theirs were rejected."""
    container().job_service.handle_bid_message(msg.get_body().decode("utf-8"))
