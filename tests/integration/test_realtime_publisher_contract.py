"""The RealtimePublisher contract: the in-memory fake and the Web PubSub adapter on the
emulator (devtools/webpubsub.py) pass the same tests.

A client is connected with the URL ``client_url`` gives (the real one over a WebSocket of
the ``json.webpubsub.azure.v1`` subprotocol). "Never receives" is proven without sleeping:
a marker is sent to the same user afterwards, and everything that connection got before the
marker is compared (a connection gets its messages in order).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import aiohttp
import jwt
import pytest
from azure.core.exceptions import AzureError

from devtools.webpubsub import JSON_PROTOCOL, WebPubSubEmulator
from shared.adapters.memory_realtime import MemoryConnection, MemoryRealtimePublisher
from shared.adapters.realtime_webpubsub import WebPubSubPublisher
from shared.ports import RealtimePublisher

TIMEOUT = 15.0


class Conn(Protocol):
    async def until(self, marker: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages (their data) received before ``marker``, which is consumed."""
        ...


class MemoryConn:
    def __init__(self, conn: MemoryConnection) -> None:
        self.conn = conn

    async def until(self, marker: dict[str, Any]) -> list[dict[str, Any]]:
        index = self.conn.messages.index(marker)
        before = self.conn.messages[:index]
        del self.conn.messages[: index + 1]
        return before


class SocketConn:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.ws.receive()
                assert frame.type == aiohttp.WSMsgType.TEXT, f"ended: {frame.type}"
                message = json.loads(frame.data)
                if message.get("type") in ("message", "ack"):
                    return dict(message)

    async def until(self, marker: dict[str, Any]) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        while True:
            message = await self.next()
            assert message["type"] == "message" and message["dataType"] == "json", message
            if message["data"] == marker:
                return seen
            seen.append(message["data"])


class Harness:
    """A publisher and a way to connect a client with one of its URLs."""

    def __init__(
        self,
        publisher: RealtimePublisher,
        connect: Callable[[aiohttp.ClientSession, str], Awaitable[Conn]],
    ) -> None:
        self.publisher = publisher
        self._connect = connect

    async def connect(self, session: aiohttp.ClientSession, user: str, groups: list[str]) -> Conn:
        url = await asyncio.to_thread(self.publisher.client_url, user, groups, 5)
        return await self._connect(session, url)

    async def call(self, name: str, *args: Any) -> None:
        await asyncio.to_thread(getattr(self.publisher, name), *args)


@pytest.fixture(scope="module")
def emulator() -> Iterator[WebPubSubEmulator]:
    with WebPubSubEmulator() as running:
        yield running


def _memory() -> Harness:
    publisher = MemoryRealtimePublisher()

    async def connect(session: aiohttp.ClientSession, url: str) -> Conn:
        return MemoryConn(publisher.connect(url))

    return Harness(publisher, connect)


def _webpubsub(emulator: WebPubSubEmulator) -> Harness:
    publisher = WebPubSubPublisher.from_connection_string(emulator.connection_string, "weather")

    async def connect(session: aiohttp.ClientSession, url: str) -> Conn:
        ws = await session.ws_connect(url, protocols=(JSON_PROTOCOL,))
        connected = json.loads((await ws.receive()).data)
        assert connected["event"] == "connected"
        return SocketConn(ws)

    return Harness(publisher, connect)


@pytest.fixture(params=["memory", "webpubsub"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return _memory()
    return _webpubsub(request.getfixturevalue("emulator"))


def run(scenario: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await scenario(session)

    asyncio.run(main())


def _ids() -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"ann-{tag}", f"bob-{tag}", f"city.a{tag}", f"city.b{tag}"


def test_a_url_names_its_user_and_groups_and_no_other(harness: Harness) -> None:
    ann, bob, city_a, city_b = _ids()
    marker = {"marker": 1}

    async def scenario(session: aiohttp.ClientSession) -> None:
        a = await harness.connect(session, ann, [city_a])
        b = await harness.connect(session, bob, [city_b])
        await harness.call("send_to_group", city_a, {"event": "weather.updated", "city": "a"})
        await harness.call("send_to_group", city_b, {"event": "weather.updated", "city": "b"})
        await harness.call("send_to_user", ann, {"event": "job.updated", "n": 1.5, "x": None})
        for user in (ann, bob):
            await harness.call("send_to_user", user, marker)
        assert await a.until(marker) == [
            {"event": "weather.updated", "city": "a"},
            {"event": "job.updated", "n": 1.5, "x": None},
        ]
        assert await b.until(marker) == [{"event": "weather.updated", "city": "b"}]

    run(scenario)


def test_group_changes_of_a_user_apply_to_its_open_connection(harness: Harness) -> None:
    ann, bob, city_a, city_b = _ids()
    marker = {"marker": 2}

    async def scenario(session: aiohttp.ClientSession) -> None:
        a = await harness.connect(session, ann, [city_a])
        await harness.call("add_user_to_group", city_b, ann)
        await harness.call("send_to_group", city_b, {"b": 1})
        await harness.call("remove_user_from_group", city_a, ann)
        await harness.call("send_to_group", city_a, {"a": 1})
        await harness.call("remove_user_from_group", city_a, bob)  # not in it: no error
        await harness.call("send_to_user", ann, marker)
        assert await a.until(marker) == [{"b": 1}]

    run(scenario)


def test_a_url_without_groups_gets_only_its_users_messages(harness: Harness) -> None:
    ann, bob, city_a, _ = _ids()
    marker = {"marker": 3}

    async def scenario(session: aiohttp.ClientSession) -> None:
        a = await harness.connect(session, ann, [])
        await harness.call("send_to_group", city_a, {"a": 1})
        await harness.call("send_to_user", bob, {"bob": 1})
        await harness.call("send_to_user", ann, {"ann": 1})
        await harness.call("send_to_user", ann, marker)
        assert await a.until(marker) == [{"ann": 1}]

    run(scenario)


def test_sending_to_nobody_is_no_error(harness: Harness) -> None:
    _, _, city_a, _ = _ids()

    async def scenario(session: aiohttp.ClientSession) -> None:
        await harness.call("send_to_group", city_a, {"a": 1})
        await harness.call("send_to_user", "nobody-" + city_a, {"a": 1})

    run(scenario)


# -- the Web PubSub adapter only -------------------------------------------------------------


def test_client_urls_carry_no_roles_and_the_service_refuses_joins_and_sends(
    emulator: WebPubSubEmulator,
) -> None:
    harness = _webpubsub(emulator)
    ann, bob, city_a, city_b = _ids()
    url = harness.publisher.client_url(ann, [city_a], 7)
    token = url.split("access_token=", 1)[1]
    claims = jwt.decode(token, emulator.access_key, algorithms=["HS256"],
                        audience=f"{emulator.endpoint}/client/hubs/weather")  # fmt: skip
    assert claims["sub"] == ann and claims["webpubsub.group"] == [city_a]
    assert "role" not in claims
    assert 7 * 60 - 5 <= claims["exp"] - claims["iat"] <= 7 * 60
    marker = {"marker": 4}

    async def scenario(session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(url, protocols=(JSON_PROTOCOL,))
        await ws.receive()  # connected
        conn = SocketConn(ws)
        b = await harness.connect(session, bob, [city_b])
        for ack_id, kind in enumerate(("joinGroup", "sendToGroup", "leaveGroup"), 1):
            await ws.send_str(json.dumps({"type": kind, "group": city_b, "ackId": ack_id,
                                          "dataType": "json", "data": {"forged": 1}}))  # fmt: skip
            ack = await conn.next()
            assert ack["type"] == "ack" and ack["ackId"] == ack_id
            assert ack["success"] is False and ack["error"]["name"] == "Forbidden"
        await harness.call("send_to_group", city_b, {"b": 1})
        for user in (ann, bob):
            await harness.call("send_to_user", user, marker)
        assert await conn.until(marker) == []
        assert await b.until(marker) == [{"b": 1}]  # and not the forged send

    run(scenario)


def test_an_unreachable_service_raises(emulator: WebPubSubEmulator) -> None:
    from devtools.azurite import free_port

    key = emulator.access_key
    gone = WebPubSubPublisher.from_connection_string(
        f"Endpoint=http://127.0.0.1:{free_port()};AccessKey={key};Version=1.0;", "weather"
    )
    for call in (
        lambda: gone.send_to_group("g", {"a": 1}),
        lambda: gone.send_to_user("u", {"a": 1}),
        lambda: gone.add_user_to_group("g", "u"),
        lambda: gone.remove_user_from_group("g", "u"),
    ):
        with pytest.raises(AzureError):  # the callers catch and log it
            call()
