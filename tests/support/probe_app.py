"""A small Functions app that exercises the local host itself (not the product).

Every non-HTTP invocation records what it received in the table ``hostprobe`` (partition
= function name), so tests can see from outside what the host passed in. ``PROBE_RUN_ID``
(a setting) keeps runs of different tests apart on one Azurite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient
from pydantic import BaseModel, ConfigDict, Field

from shared import http

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=20)
    times: int = Field(ge=1, le=5)


def _table() -> TableClient:
    connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions name
    table = TableClient.from_connection_string(connection, "hostprobe")
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    return table


def _record(function: str, **fields: object) -> None:
    entity = {
        "PartitionKey": f"{os.environ.get('PROBE_RUN_ID', 'run')}-{function}",
        "RowKey": str(uuid.uuid4()),
        "data": json.dumps(fields, default=str),
    }
    _table().create_entity(entity)


def _echo(req: func.HttpRequest, name: str) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "function": name,
                "route_params": dict(req.route_params),
                "params": dict(req.params),
                "method": req.method,
            }
        ),
        mimetype="application/json",
    )


@app.route(route="items/new", methods=["GET"])
def item_new(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, "item_new")


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, "item_by_id")


@app.route(route="items/{slug}", methods=["GET", "DELETE"])
def item_by_slug(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, "item_by_slug")


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, "files")


@app.route(route="echo", methods=["POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        req.get_body(),
        status_code=201,
        headers={"X-Echo": req.headers.get("x-probe", "")},
        mimetype=req.headers.get("content-type", "application/octet-stream"),
    )


@app.route(route="greet", methods=["POST"])
@http.endpoint("Greet someone", body=Greeting)
def greet(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, Greeting)
    return http.ok({"greeting": " ".join([f"hello {body.name}"] * body.times)})


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    logging.getLogger("probe").info("slow invocation started")  # tests wait for this line
    time.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("done")


@app.route(route="slow-async", methods=["GET"])
async def slow_async(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("done")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internals")


@app.queue_trigger(arg_name="msg", queue_name="%PROBE_QUEUE_OK%", connection="AzureWebJobsStorage")
def queue_ok(msg: func.QueueMessage) -> None:
    _record(
        "queue_ok",
        id=msg.id,
        body=msg.get_body().decode("utf-8"),
        dequeue_count=msg.dequeue_count,
        insertion_time=msg.insertion_time,
        pop_receipt=msg.pop_receipt,
    )


@app.queue_trigger(
    arg_name="msg", queue_name="%PROBE_QUEUE_FAIL%", connection="AzureWebJobsStorage"
)
def queue_fail(msg: func.QueueMessage) -> None:
    _record("queue_fail", id=msg.id, dequeue_count=msg.dequeue_count)
    raise RuntimeError("this function always fails")


@app.timer_trigger(arg_name="timer", schedule="%PROBE_SCHEDULE%", run_on_startup=False)
def tick(timer: func.TimerRequest, context: func.Context) -> None:
    _record("tick", past_due=timer.past_due, invocation_id=context.invocation_id)
