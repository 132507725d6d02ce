"""Real time end to end: the local host on Azurite publishing to the Web PubSub emulator,
clients connected with the URL of POST /api/realtime/negotiate (raw WebSockets of the
``json.webpubsub.azure.v1`` subprotocol, and once the official JavaScript client).

"Never receives" is proven without sleeping: once what should have been published was
(the refresh's summary line is written after its pushes; a job's events are sent before
its request answers or its next state is stored), the test sends a marker to each user
through the server SDK; a connection receives its messages in order, so anything
published to it before would have come before the marker.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
import requests
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from devtools.webpubsub import JSON_PROTOCOL, WebPubSubEmulator
from shared.adapters.clock import FakeClock
from shared.auth import TokenService
from tests.conftest import TEST_SIGNING_KEY
from tests.support.host import ROOT, LocalHost
from tests.support.waiting import wait_for
from tests.support.weather_standins import OpenMeteoStandIn

TOKENS = TokenService(TEST_SIGNING_KEY, 60)
BERLIN, PARIS = "2950159", "2988507"
TIMEOUT = 30.0


class User:
    """A signed-in user of one host (tokens minted directly, as in tests/e2e/test_jobs.py)."""

    def __init__(self, host: LocalHost) -> None:
        self.host = host
        self.id = f"user-{uuid.uuid4().hex[:10]}"
        token = TOKENS.issue(self.id, f"{self.id}@example.com", datetime.now(UTC))
        self.headers = {"Authorization": f"Bearer {token.access_token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.host.url}/api/{path}", headers=self.headers,
                                timeout=15, **kwargs)  # fmt: skip

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        answer = self.call(method, path, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def negotiate(self) -> str:
        body = self.ok("POST", "realtime/negotiate")
        assert body["expires_in"] == 3600
        return str(body["url"])


class Socket:
    """A raw client of the JSON subprotocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, connected: dict[str, Any]) -> None:
        self.ws = ws
        self.connected = connected

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.ws.receive()
                assert frame.type == aiohttp.WSMsgType.TEXT, f"ended: {frame.type}"
                message = json.loads(frame.data)
                if message.get("type") in ("message", "ack"):
                    return dict(message)

    async def events(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Message data, in order, until ``done`` holds for what was received."""
        seen: list[dict[str, Any]] = []
        while not done(seen):
            message = await self.next()
            assert message["type"] == "message", message
            seen.append(message["data"])
        return seen

    async def until(self, marker: dict[str, Any]) -> list[dict[str, Any]]:
        """Every message before ``marker`` (which is consumed)."""
        seen = await self.events(lambda s: bool(s) and s[-1] == marker)
        return seen[:-1]


async def connect(session: aiohttp.ClientSession, url: str) -> Socket:
    ws = await session.ws_connect(url, protocols=(JSON_PROTOCOL,))
    connected = json.loads((await ws.receive(timeout=TIMEOUT)).data)
    assert connected["event"] == "connected"
    return Socket(ws, connected)


def run(scenario: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await scenario(session)

    asyncio.run(main())


def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args, **kwargs)


class Markers:
    """Markers to users through the server SDK (as the app publishes)."""

    def __init__(self, emulator: WebPubSubEmulator) -> None:
        self.sdk = WebPubSubServiceClient.from_connection_string(
            emulator.connection_string, hub="weather"
        )

    async def send(self, *users: User) -> dict[str, Any]:
        marker = {"marker": uuid.uuid4().hex}
        for user in users:
            await blocking(self.sdk.send_to_user, user.id, marker, content_type="application/json")
        return marker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def meteo(clock: FakeClock) -> Iterator[OpenMeteoStandIn]:
    with OpenMeteoStandIn(clock) as stand_in:
        yield stand_in


@pytest.fixture
def host(
    meteo: OpenMeteoStandIn, azurite_factory: Callable[[], Any],
    local_host_factory: Callable[..., LocalHost],
) -> LocalHost:  # fmt: skip
    return local_host_factory(
        storage=azurite_factory(),  # a subscribed set of its own
        realtime=True,
        WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
        JOB_TIMEOUT_SECONDS="5",
    )


def refresh(host: LocalHost, runs: int) -> None:
    """Run refresh_weather through the admin endpoint; wait for its ``runs``-th summary."""
    answer = requests.post(f"{host.url}/admin/functions/refresh_weather", json={"input": ""},
                           timeout=10)  # fmt: skip
    assert answer.status_code == 202
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if sum(r.get("message") == "weather refresh" for r in host.log_records()) >= runs:
            return
        time.sleep(0.1)
    raise AssertionError("the refresh did not finish")


def updates(events: list[dict[str, Any]]) -> list[str]:
    assert all(e["event"] == "weather.updated" for e in events), events
    return [e["city_id"] for e in events]


def test_each_user_receives_only_their_own_cities_and_cannot_reach_others(
    host: LocalHost, meteo: OpenMeteoStandIn, clock: FakeClock, webpubsub: WebPubSubEmulator
) -> None:
    ann, bob, carol = User(host), User(host), User(host)
    berlin = ann.ok("POST", "subscriptions", 201, json={"city": "Berlin"})["city"]
    assert bob.ok("POST", "subscriptions", 201, json={"city": "Paris,FR"})["city"]["id"] == PARIS
    carol.ok("POST", "subscriptions", 201, json={"city": "Berlin"})
    url = ann.negotiate()
    claims = jwt.decode(url.split("access_token=")[1], options={"verify_signature": False})
    assert claims["sub"] == ann.id and claims["webpubsub.group"] == [f"city.{BERLIN}"]
    assert "role" not in claims
    markers = Markers(webpubsub)

    async def scenario(session: aiohttp.ClientSession) -> None:
        a = await connect(session, url)
        b = await connect(session, await blocking(bob.negotiate))
        c = await connect(session, await blocking(carol.negotiate))
        assert a.connected["userId"] == ann.id and b.connected["userId"] == bob.id
        # A hostile client: join, send to and leave Bob's city, each refused by the service.
        for ack_id, kind in enumerate(("joinGroup", "sendToGroup", "leaveGroup"), 1):
            forged = {"type": kind, "group": f"city.{PARIS}", "ackId": ack_id,
                      "data": {"event": "forged"}}  # fmt: skip
            await a.ws.send_str(json.dumps(forged))
            ack = await a.next()
            assert (ack["type"], ack["ackId"], ack["success"]) == ("ack", ack_id, False)
            assert ack["error"]["name"] == "Forbidden"

        clock.advance(minutes=15)  # the provider's next slot: new weather everywhere
        await blocking(refresh, host, 1)
        marker = await markers.send(ann, bob, carol)
        got_a, got_b, got_c = [await s.until(marker) for s in (a, b, c)]
        assert updates(got_a) == [BERLIN] and updates(got_c) == [BERLIN]
        assert updates(got_b) == [PARIS]  # neither Berlin nor Ann's forged message
        now = meteo.current_values(berlin["lat"], berlin["lon"], "celsius", "ms")
        assert got_a[0]["weather"]["temperature"] == pytest.approx(now["temperature_2m"])
        assert got_a[0]["weather"]["city"]["id"] == BERLIN
        assert got_a[0]["weather"]["observed_at"].endswith("Z")

        # While connected: Ann stops following Berlin and starts following Munich.
        await blocking(ann.ok, "DELETE", f"subscriptions/{BERLIN}", 204)
        munich = (await blocking(ann.ok, "POST", "subscriptions", 201,
                                 json={"city": "Munich"}))["city"]["id"]  # fmt: skip
        clock.advance(minutes=15)
        await blocking(refresh, host, 2)
        marker = await markers.send(ann, bob, carol)
        assert updates(await a.until(marker)) == [munich]  # on the same connection
        assert updates(await c.until(marker)) == [BERLIN]  # Berlin was published
        assert updates(await b.until(marker)) == [PARIS]

    run(scenario)


def test_a_connection_without_a_valid_token_is_refused(host: LocalHost) -> None:
    url = User(host).negotiate()
    base, token = url.split("?access_token=")
    other = jwt.encode({"aud": jwt.decode(token, options={"verify_signature": False})["aud"],
                        "sub": "mallory", "exp": datetime.now(UTC) + timedelta(minutes=5)},
                       "not-the-access-key-0123456789abcdef", algorithm="HS256")  # fmt: skip
    bad = [base, f"{base}?access_token=", f"{base}?access_token={token[:-4]}AAAA",
           f"{base}?access_token={other}"]  # fmt: skip

    async def scenario(session: aiohttp.ClientSession) -> None:
        for candidate in bad:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(candidate, protocols=(JSON_PROTOCOL,))
            assert refused.value.status == 401
        assert (await connect(session, url)).connected["event"] == "connected"

    run(scenario)
    unauthenticated = requests.post(f"{host.url}/api/realtime/negotiate", timeout=10)
    assert unauthenticated.status_code == 401


def test_the_official_javascript_client_gets_its_city_and_nothing_else(
    host: LocalHost, clock: FakeClock
) -> None:
    node = shutil.which("node")
    assert node, "node is needed (the Makefile's install brings node_modules)"
    ann, bob = User(host), User(host)
    ann.ok("POST", "subscriptions", 201, json={"city": "Berlin"})
    bob.ok("POST", "subscriptions", 201, json={"city": "Paris,FR"})
    script = ROOT / "tests" / "support" / "webpubsub_js_client.mjs"
    # Waits for its city's message, then tries to join its own city's group and Bob's.
    with subprocess.Popen(
        [node, str(script), ann.negotiate(), f"city.{BERLIN}", f"city.{BERLIN}", f"city.{PARIS}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline() or "{}")
        assert ready.get("event") == "connected", process.stderr.read() if process.stderr else ""
        assert ready["userId"] == ann.id
        clock.advance(minutes=15)
        refresh(host, 1)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    message = result["groupMessage"]
    assert (message["group"], message["dataType"]) == (f"city.{BERLIN}", "json")
    assert message["data"]["event"] == "weather.updated" and message["data"]["city_id"] == BERLIN
    for attempt in ("allowedJoin", "forbiddenJoin"):  # no roles: no group can be joined
        assert result[attempt]["errorDetail"]["name"] == "Forbidden", result


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def test_job_and_bid_events_reach_the_owner_assignee_and_bidders_only(
    host: LocalHost, webpubsub: WebPubSubEmulator
) -> None:
    owner, winner, loser, outsider = User(host), User(host), User(host), User(host)
    markers = Markers(webpubsub)
    deadline = (date.today() + timedelta(days=30)).isoformat()

    def bid(user: User, job_id: str, comment: str) -> dict[str, Any]:
        return dict(user.ok("POST", f"jobs/{job_id}/bids", 201, json={
            "comment": comment, "proposed_deadline": deadline,
            "fee": {"amount": 20, "currency": "EUR"}}))  # fmt: skip

    def scored(events: list[dict[str, Any]]) -> set[str]:
        return {e["bid"]["id"] for e in events
                if e["event"] == "bid.updated" and e["bid"]["sentiment"] is not None}  # fmt: skip

    async def scenario(session: aiohttp.ClientSession) -> None:
        sockets = [await connect(session, await blocking(u.negotiate))
                   for u in (owner, winner, loser, outsider)]  # fmt: skip
        o, w, lo, out = sockets
        job = await blocking(owner.ok, "POST", "jobs", 201, json={
            "name": "Moods", "kind": "text.sentiment", "params": {"texts": ["A great day"]},
            "scheduled_time": _iso(datetime.now(UTC) + timedelta(hours=1))})  # fmt: skip
        good = await blocking(bid, winner, job["id"], "Reliable and quick, happy to help")
        poor = await blocking(bid, loser, job["id"], "Terrible, awful, I hate this")
        # The owner hears of both bids, then of both scores (the bid-sentiment queue).
        seen = await o.events(lambda s: scored(s) == {good["id"], poor["id"]})
        assert seen[0] == {"event": "job.updated", "job": job}
        arrived = [e["bid"] for e in seen[1:3]]
        assert arrived == [good, poor] and all(b["sentiment"] is None for b in arrived)
        assert all(e["event"] == "bid.updated" and e["bid"]["status"] == "open" for e in seen[1:])

        await blocking(owner.ok, "POST", f"jobs/{job['id']}/bids/{good['id']}/accept")
        await blocking(
            owner.ok, "PATCH", f"jobs/{job['id']}", json={"scheduled_time": _iso(datetime.now(UTC))}
        )  # now: it runs
        completed = lambda s: any(  # noqa: E731
            e.get("event") == "job.updated" and e["job"]["status"] == "completed" for e in s
        )
        done = await o.events(completed)
        marker = await markers.send(owner, winner, loser, outsider)
        done += await o.until(marker)
        jobs_seen = [(e["job"]["status"], e["job"]["assignee_id"]) for e in done]
        assert all(e["event"] == "job.updated" and e["job"]["id"] == job["id"] for e in done)
        assert jobs_seen == [("pending", winner.id), ("in-progress", winner.id),
                             ("completed", winner.id)]  # fmt: skip

        # Each user's events are published one after another: the winner's "completed" may
        # follow the owner's and the marker (seen in a suite run), so wait for both and then
        # leave the marker out.
        def with_marker(finished: Callable[[list[dict[str, Any]]], bool]) -> Callable[..., bool]:
            return lambda s: marker in s and finished([e for e in s if e != marker])

        to_winner = [e for e in await w.events(with_marker(completed)) if e != marker]
        assert [(e["event"], (e.get("job") or e["bid"])["status"]) for e in to_winner] == [
            ("job.updated", "pending"), ("bid.updated", "accepted"),
            ("job.updated", "in-progress"), ("job.updated", "completed"),
        ]  # fmt: skip
        assert to_winner[1]["bid"]["id"] == good["id"]
        # The rejection goes out through the bidsentiment queue (not in the accept request).
        rejected = lambda s: any(e.get("event") == "bid.updated" for e in s)  # noqa: E731
        to_loser = [e for e in await lo.events(with_marker(rejected)) if e != marker]
        assert [(e["event"], e["bid"]["id"], e["bid"]["status"]) for e in to_loser] == [
            ("bid.updated", poor["id"], "rejected")]  # fmt: skip
        assert await out.until(marker) == []

    run(scenario)


def test_a_stopped_service_fails_no_refresh_job_or_request(
    local_host_factory: Callable[..., LocalHost], azurite_factory: Callable[[], Any],
    meteo: OpenMeteoStandIn, clock: FakeClock,
) -> None:  # fmt: skip
    emulator = WebPubSubEmulator().start()
    host = local_host_factory(
        storage=azurite_factory(), WEBPUBSUB_CONNECTION_STRING=emulator.connection_string,
        WEATHER_PROVIDER="open-meteo", OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
    )  # fmt: skip
    ann = User(host)
    ann.negotiate()
    emulator.stop()

    assert ann.call("POST", "subscriptions", json={"city": "Berlin"}).status_code == 201
    assert ann.call("DELETE", f"subscriptions/{BERLIN}").status_code == 204
    ann.ok("POST", "subscriptions", 201, json={"city": "Berlin"})
    clock.advance(minutes=15)
    refresh(host, 1)
    summary = next(r for r in host.log_records() if r.get("message") == "weather refresh")
    assert (summary["refreshed"], summary["published"], summary["publish_failures"]) == (1, 0, 1)
    listed = ann.ok("GET", "subscriptions")["items"]
    now = meteo.current_values(listed[0]["city"]["lat"], listed[0]["city"]["lon"], "celsius", "ms")
    assert listed[0]["weather"]["temperature"] == pytest.approx(now["temperature_2m"])

    job = ann.ok("POST", "jobs", 201, json={"name": "n", "kind": "text.sentiment",
                                            "params": {"texts": ["fine"]}})  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while ann.ok("GET", f"jobs/{job['id']}")["status"] != "completed":
        assert time.monotonic() < deadline, "the job never completed"
        time.sleep(0.1)
    # created, in-progress, completed: each logged, none fatal. The completed event's
    # warning comes after the stored completion the loop above saw: wait for it.
    wait_for(
        lambda: len([r for r in host.log_records()
                     if r.get("message") == "real-time event not sent"]) >= 3,
        timeout=TIMEOUT,
    )  # fmt: skip
