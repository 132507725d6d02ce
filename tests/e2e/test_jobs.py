"""Jobs end to end: the local host on Azurite with the queue and timer triggers running."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from shared.auth import TokenService
from tests.conftest import TEST_SIGNING_KEY
from tests.support.host import LocalHost
from tests.support.waiting import wait_for

TOKENS = TokenService(TEST_SIGNING_KEY, 60)


class Client:
    """A signed-in user of one host (tokens are minted directly: accounts are tested
    elsewhere, and only verified users ever get one)."""

    def __init__(self, host: LocalHost, user_id: str | None = None) -> None:
        self.host = host
        self.user_id = user_id or f"user-{uuid.uuid4().hex[:10]}"
        token = TOKENS.issue(self.user_id, f"{self.user_id}@example.com", datetime.now(UTC))
        self.headers = {"Authorization": f"Bearer {token.access_token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.host.url}/api/{path}", headers=self.headers, timeout=15, **kwargs
        )

    def create(self, **body: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"name": "export", "kind": "history.export"}
        values.update(body)
        response = self.call("POST", "jobs", json=values)
        assert response.status_code == 201, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.call("GET", f"jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job = self.job(job_id)
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job stayed {job['status']}, wanted {statuses}")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def handler_runs(*hosts: LocalHost) -> list[dict[str, Any]]:
    return [r for host in hosts for r in host.log_records() if r.get("message") == "job started"]


@pytest.fixture
def host(local_host_factory: Callable[..., LocalHost]) -> LocalHost:
    return local_host_factory(JOB_RETRY_BASE_SECONDS="1", JOB_TIMEOUT_SECONDS="5")


def test_a_job_5_s_ahead_runs_after_its_time_not_before(host: LocalHost) -> None:
    owner = Client(host)
    scheduled = datetime.now(UTC) + timedelta(seconds=5)
    job = owner.create(scheduled_time=iso(scheduled))
    assert job["status"] == "pending"
    time.sleep(3)
    assert owner.job(job["id"])["status"] == "pending"
    done = owner.wait_status(job["id"], "completed", timeout=20)
    result = owner.call("GET", f"jobs/{job['id']}/result").json()
    completed_at = datetime.fromisoformat(result["completed_at"].replace("Z", "+00:00"))
    assert completed_at >= scheduled
    assert completed_at - scheduled < timedelta(seconds=8)
    assert result["output"]["rows"] == 0
    assert result["output"]["blob"].startswith("job-outputs/exports/")
    assert done["attempts"] == 1


def test_cancel_before_the_time_means_it_never_runs(host: LocalHost) -> None:
    owner = Client(host)
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(seconds=2)))
    cancelled = owner.call("DELETE", f"jobs/{job['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    time.sleep(4)
    assert owner.job(job["id"])["status"] == "cancelled"
    assert not [r for r in handler_runs(host) if r.get("job_id") == job["id"]]
    again = owner.call("DELETE", f"jobs/{job['id']}")
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/job-not-cancellable"
    assert owner.call("GET", f"jobs/{job['id']}/result").status_code == 409


def test_the_same_message_delivered_twice_runs_the_handler_once(
    azurite_factory: Callable[[], Azurite], local_host_factory: Callable[..., LocalHost]
) -> None:
    storage = azurite_factory()
    host = local_host_factory(storage=storage)
    owner = Client(host)
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(seconds=3)))
    queue = QueueClient.from_connection_string(storage.connection_string, "jobs")
    body = json.dumps({"owner_id": owner.user_id, "job_id": job["id"],
                       "dispatch_id": _dispatch_of(host, job["id"])})  # fmt: skip
    encoded = base64.b64encode(body.encode()).decode()
    queue.send_message(encoded, visibility_timeout=3)
    queue.send_message(encoded, visibility_timeout=3)  # three deliveries in all
    owner.wait_status(job["id"], "completed")
    time.sleep(2)
    runs = [r for r in handler_runs(host) if r.get("job_id") == job["id"]]
    assert len(runs) == 1
    processed = [
        r for r in host.log_records()
        if r.get("event") == "invocation" and r.get("function") == "process_job"
    ]  # fmt: skip
    assert len(processed) >= 3


def _dispatch_of(host: LocalHost, job_id: str) -> str:
    """The dispatch id the app gave the job (read from Azurite as the worker would)."""
    from azure.data.tables import TableServiceClient

    values = host.values
    service = TableServiceClient.from_connection_string(values["AzureWebJobsStorage"])
    owner = job_id.split("-", 1)[1]  # a job id is {time-sortable}-{owner}
    row = service.get_table_client("jobs").get_entity(owner, job_id)
    return str(json.loads(row["data"])["dispatch_id"])


def test_two_hosts_complete_50_jobs_each_handler_once(
    azurite_factory: Callable[[], Azurite], local_host_factory: Callable[..., LocalHost]
) -> None:
    storage = azurite_factory()
    first = local_host_factory(storage=storage)
    second = local_host_factory(storage=storage)
    owner = Client(first)
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda i: owner.create(name=f"job {i}"), range(50)))
    ids = {job["id"] for job in created}
    deadline = time.monotonic() + 60
    summary: dict[str, int] = {}
    while time.monotonic() < deadline:
        summary = owner.call("GET", "jobs/summary").json()
        if summary["completed"] == 50:
            break
        time.sleep(0.25)
    assert summary == {"pending": 0, "in-progress": 0, "completed": 50, "failed": 0,
                       "cancelled": 0, "total": 50}  # fmt: skip
    runs = [r for r in handler_runs(first, second) if r.get("job_id") in ids]
    assert len(runs) == 50
    assert {r["job_id"] for r in runs} == ids
    assert handler_runs(first) and handler_runs(second)  # both took a share
    page = owner.call("GET", "jobs", params={"status": "completed", "limit": 100}).json()
    assert all(job["attempts"] == 1 for job in page["items"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "history.export", "scheduled_time": "2020-01-01T00:00:00+00:00"},
         "scheduled_time"),
        ({"name": "x", "kind": "history.export", "scheduled_time": "2030-01-01T00:00:00"},
         "scheduled_time"),
        ({"name": "x", "kind": "no.such"}, "kind"),
        ({"name": "x", "kind": "text.sentiment", "params": {"texts": []}}, "params.texts"),
        ({"name": "x", "kind": "text.sentiment", "params": {"texts": ["a"] * 11}},
         "params.texts"),
        ({"name": "x", "kind": "text.sentiment", "params": {"texts": ["я" * 1001] * 10}},
         "params.texts.0"),
        ({"name": "x", "kind": "history.export", "scheduled_time": "9999-12-31T23:59:59-14:00"},
         "scheduled_time"),
        ({"name": "x", "kind": "history.export", "scheduled_time": "9999-12-31T23:59:59Z"},
         "scheduled_time"),
        ({"name": "x", "kind": "weather.report", "params": {"city": "Paris"}}, "params.cities"),
        ({"name": "", "kind": "history.export"}, "name"),
        ({"name": "x" * 201, "kind": "history.export"}, "name"),
        ({"name": "x", "kind": "history.export", "owner_id": "me"}, "owner_id"),
    ],
)  # fmt: skip
def test_invalid_jobs_are_400_with_field_errors(
    host: LocalHost, body: dict[str, Any], field: str
) -> None:
    owner = Client(host)
    response = owner.call("POST", "jobs", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json()["errors"]}
    assert field in fields
    assert owner.call("GET", "jobs/summary").json()["total"] == 0  # nothing was created


def test_edit_sort_filter_and_paging_over_http(host: LocalHost) -> None:
    owner = Client(host)
    later = datetime.now(UTC) + timedelta(hours=1)
    jobs = [owner.create(name=f"job {i}", scheduled_time=iso(later - timedelta(minutes=i)))
            for i in range(3)]  # fmt: skip
    edited = owner.call("PATCH", f"jobs/{jobs[0]['id']}",
                        json={"name": "renamed", "description": "now with words"})  # fmt: skip
    assert edited.status_code == 200
    assert edited.json()["name"] == "renamed"
    assert owner.call("PATCH", f"jobs/{jobs[0]['id']}", json={}).status_code == 400
    assert owner.call("PATCH", f"jobs/{jobs[0]['id']}", json={"kind": "x"}).status_code == 400
    ids = [j["id"] for j in jobs]
    by_time = owner.call("GET", "jobs", params={"sort": "scheduled_time"}).json()
    assert [j["id"] for j in by_time["items"]] == ids[::-1]
    first = owner.call("GET", "jobs", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    rest = owner.call("GET", "jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    bad_cursor = owner.call("GET", "jobs", params={"cursor": "garbage!"})
    assert bad_cursor.status_code == 400
    assert owner.call("GET", "jobs", params={"sort": "name"}).status_code == 400
    assert owner.call("GET", "jobs", params={"limit": 0}).status_code == 400


def _route_matrix() -> list[tuple[str, str, dict[str, Any] | None]]:
    bid = {"comment": "I can do it", "proposed_deadline": str(date.today() + timedelta(days=3)),
           "fee": {"amount": 10, "currency": "USD"}}  # fmt: skip
    return [
        ("GET", "jobs/{job}", None),
        ("PATCH", "jobs/{job}", {"description": "changed"}),
        ("GET", "jobs/{job}/result", None),
        ("GET", "jobs/{job}/bids", None),
        ("POST", "jobs/{job}/bids", bid),
        ("POST", "jobs/{job}/bids/{bid}/accept", None),
        ("DELETE", "jobs/{job}", None),
    ]


# Who gets what on an assigned, still pending job (the bidder's bid was rejected).
# 200/201: allowed; 403: may see, may not do; 404: may not see; 409: allowed but the
# state forbids it; 401: no token.
MATRIX = {
    #                     owner  assignee bidder other anonymous
    "GET jobs/{job}":                    (200, 200, 404, 404, 401),
    "PATCH jobs/{job}":                  (200, 403, 404, 404, 401),
    "GET jobs/{job}/result":             (409, 409, 404, 404, 401),
    "GET jobs/{job}/bids":               (200, 200, 200, 404, 401),
    "POST jobs/{job}/bids":              (403, 409, 409, 409, 401),
    "POST jobs/{job}/bids/{bid}/accept": (409, 403, 404, 404, 401),
    "DELETE jobs/{job}":                 (200, 403, 404, 404, 401),
}  # fmt: skip


def test_authorization_matrix(host: LocalHost) -> None:
    owner, assignee, bidder, other = Client(host), Client(host), Client(host), Client(host)
    anonymous = Client(host)
    anonymous.headers = {}
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(hours=2)))
    bid_body = _route_matrix()[4][2]
    won = assignee.call("POST", f"jobs/{job['id']}/bids", json=bid_body)
    assert won.status_code == 201
    lost = bidder.call("POST", f"jobs/{job['id']}/bids", json=bid_body)
    assert lost.status_code == 201
    accepted = owner.call("POST", f"jobs/{job['id']}/bids/{won.json()['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["assignee_id"] == assignee.user_id
    assert [j["id"] for j in assignee.call("GET", "jobs/assigned").json()["items"]] == [job["id"]]
    assert owner.call("GET", "jobs/assigned").json()["items"] == []
    assert job["id"] not in [j["id"] for j in other.call("GET", "jobs/open").json()["items"]]

    callers = [owner, assignee, bidder, other, anonymous]
    seen: dict[str, tuple[int, ...]] = {}
    for method, template, body in _route_matrix():
        key = f"{method} {template}"
        statuses = []
        for caller in callers:
            path = template.format(job=job["id"], bid=lost.json()["id"])
            kwargs = {"json": body} if body is not None else {}
            if method == "DELETE" and caller is owner:
                statuses.append(-1)  # cancelling would change the job for later rows
                continue
            statuses.append(caller.call(method, path, **kwargs).status_code)
        seen[key] = tuple(statuses)
    expected = {k: tuple(-1 if (k.startswith("DELETE") and i == 0) else v
                         for i, v in enumerate(codes)) for k, codes in MATRIX.items()}  # fmt: skip
    assert seen == expected
    assert owner.call("DELETE", f"jobs/{job['id']}").status_code == 200


def test_open_jobs_are_others_pending_unassigned_ones(host: LocalHost) -> None:
    poster, worker = Client(host), Client(host)
    mine = worker.create(scheduled_time=iso(datetime.now(UTC) + timedelta(hours=1)))
    theirs = poster.create(scheduled_time=iso(datetime.now(UTC) + timedelta(hours=1)))
    listed = [
        j["id"] for j in worker.call("GET", "jobs/open", params={"limit": 100}).json()["items"]
    ]
    assert theirs["id"] in listed
    assert mine["id"] not in listed
    assert worker.job(theirs["id"])["id"] == theirs["id"]  # anyone may read an open job


# -- with a stand-in of Azure AI Language (SENTIMENT_PROVIDER=azure) -----------------------


@pytest.fixture
def language() -> Any:
    from tests.support.language_standin import LanguageStandIn

    with LanguageStandIn() as stand_in:
        yield stand_in


def language_settings(stand_in: Any) -> dict[str, str]:
    from tests.support.language_standin import DEFAULT_KEY

    return {
        "SENTIMENT_PROVIDER": "azure",
        "TEXT_ANALYTICS_ENDPOINT": stand_in.endpoint,
        "TEXT_ANALYTICS_KEY": DEFAULT_KEY,
        "JOB_RETRY_BASE_SECONDS": "1",
        "JOB_TIMEOUT_SECONDS": "10",
    }


def sentiment_job(owner: Client) -> dict[str, Any]:
    return owner.create(kind="text.sentiment", name="score",
                        params={"texts": ["great and reliable", "late and bad"]})  # fmt: skip


def test_a_failed_attempt_is_retried_then_succeeds(
    language: Any,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    # An Azurite of its own: comments other tests left queued must not reach this
    # stand-in (they would be scored here, and counted).
    host = local_host_factory(storage=azurite_factory(), **language_settings(language))
    language.fail_with(500, times=3)  # the SDK's own retries included: one attempt fails
    owner = Client(host)
    job = sentiment_job(owner)
    done = owner.wait_status(job["id"], "completed", "failed", timeout=30)
    assert done["status"] == "completed"
    assert done["attempts"] == 2
    assert done["last_error"] is None
    output = owner.call("GET", f"jobs/{job['id']}/result").json()["output"]
    assert [r["sentiment"]["label"] for r in output["results"]] == ["positive", "negative"]
    assert output["results"][0]["sentiment"]["source"] == "azure-language"


def test_retries_exhausted_fail_the_job(
    language: Any, local_host_factory: Callable[..., LocalHost]
) -> None:
    host = local_host_factory(**language_settings(language), JOB_MAX_ATTEMPTS="2")
    language.fail_with(503, times=1000)
    owner = Client(host)
    job = sentiment_job(owner)
    done = owner.wait_status(job["id"], "failed", timeout=30)
    assert done["attempts"] == 2
    assert "UpstreamUnavailable" in done["last_error"]
    result = owner.call("GET", f"jobs/{job['id']}/result").json()
    assert result["output"] is None
    assert result["error_message"] == done["last_error"]


def test_a_host_killed_mid_job_is_replaced_and_the_job_completes_once(
    language: Any,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    storage = azurite_factory()
    settings = dict(language_settings(language), JOB_TIMEOUT_SECONDS="4",
                    LOCALHOST_QUEUE_MESSAGE_LEASE="2")  # fmt: skip
    first = local_host_factory(storage=storage, **settings)
    owner = Client(first)
    language.slow_down(30)
    job = sentiment_job(owner)
    owner.wait_status(job["id"], "in-progress")
    # "job started" is logged just after the row that GET reads: wait for the line before
    # the kill, or a busy machine can kill the host between the two (a run that counts 1).
    wait_for(lambda: [r for r in handler_runs(first) if r.get("job_id") == job["id"]])
    first.kill()  # SIGKILL mid-job: no cleanup, the message is not deleted
    language.slow_down(0)
    second = local_host_factory(storage=storage, **settings)
    owner.host = second
    done = owner.wait_status(job["id"], "completed", "failed", timeout=40)
    assert done["status"] == "completed"
    assert done["attempts"] == 2  # the killed attempt counted
    runs = [r for r in handler_runs(first, second) if r.get("job_id") == job["id"]]
    assert len(runs) == 2  # started twice, completed once

    def completions() -> list[dict[str, Any]]:
        return [
            r for r in second.log_records()
            if r.get("message") == "job completed" and r.get("job_id") == job["id"]
        ]  # fmt: skip

    # The line is written just after the row that GET reads: wait for it, not on luck.
    wait_for(completions, timeout=10)
    assert len(completions()) == 1


def test_bid_comments_are_scored_in_batches_of_at_most_10(
    language: Any,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    # An Azurite of its own: comments other tests left queued must not reach this
    # stand-in (they would be scored here, and counted).
    host = local_host_factory(storage=azurite_factory(), **language_settings(language))
    owner = Client(host)
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(hours=1)))
    deadline = str(date.today() + timedelta(days=5))
    comments = [f"Reliable and great work, offer {i}" if i % 2 else f"Late and bad, sorry {i}"
                for i in range(12)]  # fmt: skip

    def bid(comment: str) -> requests.Response:
        return Client(host).call("POST", f"jobs/{job['id']}/bids", json={
            "comment": comment, "proposed_deadline": deadline,
            "fee": {"amount": "99.90", "currency": "eur"}})  # fmt: skip

    with ThreadPoolExecutor(max_workers=6) as pool:
        placed = list(pool.map(bid, comments))
    assert [r.status_code for r in placed] == [201] * 12
    assert all(r.json()["sentiment"] is None for r in placed)  # never scored in the request
    assert placed[0].json()["fee"] == {"amount": 99.9, "currency": "EUR"}
    deadline_at = time.monotonic() + 30
    bids: list[dict[str, Any]] = []
    while time.monotonic() < deadline_at:
        bids = owner.call("GET", f"jobs/{job['id']}/bids", params={"limit": 100}).json()["items"]
        if all(b["sentiment"] for b in bids):
            break
        time.sleep(0.2)
    assert len(bids) == 12
    assert all(b["sentiment"] for b in bids), bids
    for b in bids:
        expected = "positive" if "Reliable" in b["comment"] else "negative"
        assert b["sentiment"]["label"] == expected
        assert b["sentiment"]["source"] == "azure-language"
    counts = [c for c in language.document_counts() if c is not None]
    # Each comment is scored once, ten at most per request (the service bills documents).
    assert sum(counts) <= 14, counts
    assert len(counts) <= 4, counts
    assert max(counts) <= 10
    assert sum(counts) >= 12
    # The bids, paged: every bid exactly once, in the order placed.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = owner.call("GET", f"jobs/{job['id']}/bids", params=params).json()
        assert len(page["items"]) <= 5
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == seen and sorted(seen) == sorted(b["id"] for b in bids)
    assert len(set(seen)) == 12
    assert owner.call("GET", f"jobs/{job['id']}/bids", params={"limit": 0}).status_code == 400
    assert owner.call("GET", f"jobs/{job['id']}/bids", params={"limit": 101}).status_code == 400


def test_a_comment_whose_scoring_run_failed_is_scored_by_the_queue_retry_within_seconds(
    language: Any,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    """The language service fails one scoring run (its request and the SDK's retries):
    the message fails and reappears after visibilityTimeout (1 s here), and that retry
    scores the comment, as a user expects ("within seconds"), rather than finding it
    claimed for SENTIMENT_CLAIM (60 s) and leaving it to the timer (never, in tests)."""
    host = local_host_factory(storage=azurite_factory(), **language_settings(language))
    owner = Client(host)
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(hours=1)))
    language.fail_with(503, times=3)
    placed = Client(host).call("POST", f"jobs/{job['id']}/bids", json={
        "comment": "Reliable and great work", "fee": {"amount": 10, "currency": "EUR"},
        "proposed_deadline": str(date.today() + timedelta(days=5))})  # fmt: skip
    assert placed.status_code == 201, placed.text

    def sentiment() -> Any:
        bids = owner.call("GET", f"jobs/{job['id']}/bids").json()["items"]
        return bids[0]["sentiment"]

    scored = wait_for(sentiment, timeout=20, interval=0.2)
    assert scored["label"] == "positive" and scored["source"] == "azure-language"

    def runs() -> list[str]:  # the host logs an invocation once it has returned
        found = [
            str(r.get("outcome"))
            for r in host.log_records()
            if r.get("event") == "invocation" and r.get("function") == "score_bid_sentiment"
        ]
        return found if len(found) >= 2 else []

    found = wait_for(runs, timeout=10)
    assert found[:2] == ["Failed", "Succeeded"], found


def test_ten_long_cyrillic_texts_complete_and_the_result_reads_back(host: LocalHost) -> None:
    owner = Client(host)
    text = ("Съешь же ещё этих мягких французских булок, да выпей чаю. " * 11)[:600]
    job = owner.create(kind="text.sentiment", params={"texts": [text] * 10})
    done = owner.wait_status(job["id"], "completed", "failed")
    assert (done["status"], done["attempts"], done["last_error"]) == ("completed", 1, None)
    output = owner.call("GET", f"jobs/{job['id']}/result").json()["output"]
    assert [r["text"] for r in output["results"]] == [text] * 10  # read back from its blob


def test_a_job_whose_message_was_lost_runs_after_the_sweep(
    azurite_factory: Callable[[], Azurite], local_host_factory: Callable[..., LocalHost]
) -> None:
    from azure.data.tables import TableServiceClient

    storage = azurite_factory()
    # Created while no host runs: the message is then deleted, as if it had been lost.
    creator = local_host_factory(storage=storage)
    owner = Client(creator)
    job = owner.create(scheduled_time=iso(datetime.now(UTC) + timedelta(seconds=8)))
    creator.close()
    QueueClient.from_connection_string(storage.connection_string, "jobs").clear_messages()
    # Its watch row says when it should have started: make that the past (the sweep's
    # grace is two minutes; the test cannot wait that long).
    watch = TableServiceClient.from_connection_string(storage.connection_string).get_table_client(
        "jobdispatch"
    )
    (row,) = [r for r in watch.list_entities() if r["job_id"] == job["id"]]
    watch.delete_entity("watch", row["RowKey"])
    past = "2000-01-01T00:00:00.000000Z"
    row_key = "|".join([past, *row["RowKey"].split("|")[1:]])
    watch.create_entity({**row, "RowKey": row_key, "next_check": past})
    host = local_host_factory(storage=storage)
    owner.host = host
    assert owner.job(job["id"])["status"] == "pending"
    assert host.run_function("enqueue_due_jobs").status_code == 202
    done = owner.wait_status(job["id"], "completed", "failed", timeout=30)
    assert (done["status"], done["attempts"]) == ("completed", 1)
    runs = [r for r in handler_runs(host) if r.get("job_id") == job["id"]]
    assert len(runs) == 1
