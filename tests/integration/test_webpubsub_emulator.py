"""The local Web PubSub emulator (devtools/webpubsub.py) against the official SDKs and against
hostile raw WebSocket clients.

The Python server SDK (azure-messaging-webpubsubservice) makes every REST call and every
client token; raw clients (aiohttp) speak the JSON subprotocols by hand, and one test drives
the official JavaScript client (@azure/web-pubsub-client) from Node.

"Never receives" is proven without sleeping: the emulator writes to one connection in
order, so after a forbidden or removed group's message a marker sent to the same
connection is awaited; had the group message been delivered, it would have come first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.messaging.webpubsubservice._operations._operations import (
    WebPubSubServiceClientOperationsMixin as GeneratedOperations,
)

from devtools.webpubsub import JSON_PROTOCOL, RELIABLE_PROTOCOL, WebPubSubEmulator
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
HUB = "weather"
TIMEOUT = 15.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[WebPubSubEmulator]:
    with WebPubSubEmulator() as running:
        yield running


@pytest.fixture
def sdk(emulator: WebPubSubEmulator) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB)


class Client:
    """A raw WebSocket client of the JSON subprotocols."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.connected: dict[str, Any] = {}

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def next(
        self, match: Callable[[dict[str, Any]], bool] = lambda m: True
    ) -> dict[str, Any]:
        """The next message matching ``match``; messages before it are returned to nobody."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.ws.receive()
                if frame.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"connection ended: {frame.type} {frame.data!r}")
                message = json.loads(frame.data)
                if match(message):
                    return message

    async def until(self, marker: str) -> list[dict[str, Any]]:
        """Every message up to the server message whose data is ``marker`` (excluded)."""
        seen: list[dict[str, Any]] = []
        while True:
            message = await self.next()
            if message.get("type") == "message" and message.get("data") == marker:
                return seen
            seen.append(message)

    async def ack(self, ack_id: int) -> dict[str, Any]:
        return await self.next(lambda m: m.get("type") == "ack" and m.get("ackId") == ack_id)


def client_url(sdk: WebPubSubServiceClient, **claims: Any) -> str:
    return str(sdk.get_client_access_token(**claims)["url"])


async def connect(
    session: aiohttp.ClientSession, url: str, protocol: str | None = JSON_PROTOCOL
) -> Client:
    ws = await session.ws_connect(url, protocols=(protocol,) if protocol else ())
    client = Client(ws)
    if protocol:
        client.connected = await client.next()
    return client


def run(scenario: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await scenario(session)

    asyncio.run(main())


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    """A blocking SDK call off the event loop the raw clients read on."""
    return asyncio.to_thread(fn, *args, **kwargs)


# -- tokens and the client endpoint ---------------------------------------------------------


def test_sdk_token_connects_with_its_user_and_groups(sdk: WebPubSubServiceClient) -> None:
    token = sdk.get_client_access_token(user_id="alice", groups=["city.1"], minutes_to_expire=5)
    claims = jwt.decode(token["token"], options={"verify_signature": False})
    assert claims["aud"] == f"{sdk._config.endpoint}/client/hubs/{HUB}"

    async def scenario(session: aiohttp.ClientSession) -> None:
        client = await connect(session, token["url"])
        assert client.ws.protocol == JSON_PROTOCOL
        connected = client.connected
        assert connected["type"] == "system" and connected["event"] == "connected"
        assert connected["userId"] == "alice" and connected["connectionId"]
        assert "reconnectionToken" not in connected  # only the reliable protocol has one
        connection_id = connected["connectionId"]
        assert await call(sdk.connection_exists, connection_id)
        assert await call(sdk.user_exists, "alice")
        assert await call(sdk.group_exists, "city.1")
        await call(sdk.send_to_group, "city.1", {"event": "weather.updated", "city_id": "1"})
        message = await client.next()
        assert message == {"type": "message", "from": "group", "group": "city.1",
                           "dataType": "json",
                           "data": {"event": "weather.updated", "city_id": "1"}}  # fmt: skip
        await client.ws.close()
        assert await _eventually(lambda: call(sdk.connection_exists, connection_id), False)

    run(scenario)


async def _eventually(probe: Callable[[], Awaitable[Any]], expected: Any) -> bool:
    async with asyncio.timeout(TIMEOUT):
        while await probe() != expected:
            await asyncio.sleep(0.02)
    return True


def _forge(emulator: WebPubSubEmulator, **overrides: Any) -> str:
    claims = {
        "aud": f"{emulator.endpoint}/client/hubs/{HUB}",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "sub": "mallory",
        "role": ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
    }
    key = overrides.pop("key", emulator.access_key)
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="HS256")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda e: None, id="no-token"),
        pytest.param(lambda e: "not-a-jwt", id="garbage"),
        pytest.param(
            lambda e: _forge(e, key="another-key-0123456789abcdef0123456789"), id="forged"
        ),
        pytest.param(
            lambda e: _forge(e, exp=datetime.now(UTC) - timedelta(seconds=5)), id="expired"
        ),
        pytest.param(lambda e: _forge(e, exp=None), id="no-exp"),
        pytest.param(lambda e: _forge(e, aud=f"{e.endpoint}/client/hubs/otherhub"), id="other-hub"),
        pytest.param(
            lambda e: _forge(e, aud="http://example.invalid/client/hubs/weather"), id="other-host"
        ),
        pytest.param(lambda e: _forge(e, aud=None), id="no-aud"),
        pytest.param(
            lambda e: jwt.encode(
                {
                    "aud": f"{e.endpoint}/client/hubs/{HUB}",
                    "sub": "x",
                    "exp": datetime.now(UTC) + timedelta(minutes=5),
                },
                None,
                algorithm="none",
            ),
            id="alg-none",
        ),
    ],
)
def test_connection_without_a_valid_token_is_refused(
    emulator: WebPubSubEmulator, token: Callable[[WebPubSubEmulator], str | None]
) -> None:
    value = token(emulator)
    url = f"ws://127.0.0.1:{emulator.port}/client/hubs/{HUB}"
    if value is not None:
        url += f"?access_token={value}"

    async def scenario(session: aiohttp.ClientSession) -> None:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, protocols=(JSON_PROTOCOL,))
        assert refused.value.status == 401

    run(scenario)


def test_token_in_authorization_header_and_query_hub_form(
    emulator: WebPubSubEmulator, sdk: WebPubSubServiceClient
) -> None:
    token = sdk.get_client_access_token(user_id="header-user")["token"]

    async def scenario(session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(
            f"ws://127.0.0.1:{emulator.port}/client/?hub={HUB}",
            protocols=(JSON_PROTOCOL,),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (await Client(ws).next())["userId"] == "header-user"
        await ws.close()

    run(scenario)


# -- permissions ----------------------------------------------------------------------------


def test_client_without_roles_is_forbidden_and_never_gets_the_group(
    sdk: WebPubSubServiceClient,
) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        plain = await connect(session, client_url(sdk, user_id="plain"))
        member = await connect(session, client_url(sdk, user_id="member", groups=["secret"]))

        await plain.send(type="joinGroup", group="secret", ackId=1)
        ack = await plain.ack(1)
        assert ack["success"] is False and ack["error"]["name"] == "Forbidden"
        await plain.send(type="sendToGroup", group="secret", ackId=2, dataType="text", data="x")
        assert (await plain.ack(2))["error"]["name"] == "Forbidden"
        # The forbidden retry is not "processed": the same ackId is refused again, not Duplicate.
        await plain.send(type="joinGroup", group="secret", ackId=1)
        assert (await plain.ack(1))["error"]["name"] == "Forbidden"

        await call(sdk.send_to_group, "secret", "for members", content_type="text/plain")
        await call(sdk.send_to_all, "marker", content_type="text/plain")
        assert await plain.until("marker") == []  # nothing from "secret", nor the forged send
        before = await member.until("marker")
        assert [m["data"] for m in before] == ["for members"]

    run(scenario)


def test_group_scoped_roles_allow_that_group_only(sdk: WebPubSubServiceClient) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        roles = ["webpubsub.joinLeaveGroup.room1", "webpubsub.sendToGroup.room1"]
        client = await connect(session, client_url(sdk, user_id="scoped", roles=roles))
        listener = await connect(session, client_url(sdk, user_id="listener",
                                                     groups=["room1", "room2"]))  # fmt: skip
        await client.send(type="joinGroup", group="room1", ackId=1)
        assert (await client.ack(1))["success"] is True
        await client.send(type="joinGroup", group="room2", ackId=2)
        assert (await client.ack(2))["error"]["name"] == "Forbidden"
        await client.send(type="sendToGroup", group="room2", ackId=3, data={"no": 1})
        assert (await client.ack(3))["error"]["name"] == "Forbidden"
        await client.send(type="sendToGroup", group="room1", ackId=4, data={"yes": 1}, noEcho=True)
        assert (await client.ack(4))["success"] is True
        got = await listener.next()
        assert got == {"type": "message", "from": "group", "group": "room1", "dataType": "json",
                       "data": {"yes": 1}, "fromUserId": "scoped"}  # fmt: skip
        # The same ackId again is a duplicate, not a second publish.
        await client.send(type="sendToGroup", group="room1", ackId=4, data={"yes": 1})
        assert (await client.ack(4))["error"]["name"] == "Duplicate"
        await call(sdk.send_to_all, "marker", content_type="text/plain")
        assert await listener.until("marker") == []
        assert await client.until("marker") == []  # noEcho: its own publish did not come back
        # Events with no event handler: acked and dropped.
        await client.send(type="event", event="hello", ackId=5, dataType="text", data="hi")
        assert (await client.ack(5))["success"] is True
        # Permissions granted at run time through the SDK.
        connection_id = client.connected["connectionId"]
        assert not await call(sdk.has_permission, "joinLeaveGroup", connection_id,
                              target_name="room2")  # fmt: skip
        await call(sdk.grant_permission, "joinLeaveGroup", connection_id, target_name="room2")
        assert await call(sdk.has_permission, "joinLeaveGroup", connection_id, target_name="room2")
        await client.send(type="joinGroup", group="room2", ackId=6)
        assert (await client.ack(6))["success"] is True
        await call(sdk.revoke_permission, "joinLeaveGroup", connection_id, target_name="room2")
        await client.send(type="leaveGroup", group="room2", ackId=7)
        assert (await client.ack(7))["error"]["name"] == "Forbidden"

    run(scenario)


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[]",
        '{"type": "nonsense"}',
        '{"type": "joinGroup", "group": 5, "ackId": 1}',
        '{"type": "joinGroup", "group": "", "ackId": 1}',
        '{"type": "joinGroup", "group": "g", "ackId": "1"}',
        '{"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "%%%"}',
        '{"type": "sendToGroup", "group": "g", "dataType": "text", "data": {"x": 1}}',
        '{"type": "event", "dataType": "json", "data": 1}',
        '{"type": "sequenceAck"}',
    ],
)
def test_malformed_message_closes_the_connection(sdk: WebPubSubServiceClient, frame: str) -> None:
    roles = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]

    async def scenario(session: aiohttp.ClientSession) -> None:
        client = await connect(session, client_url(sdk, user_id="sloppy", roles=roles))
        await client.ws.send_str(frame)
        disconnected = await client.next()
        assert disconnected["type"] == "system" and disconnected["event"] == "disconnected"
        closing = await client.ws.receive()
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert client.ws.close_code == 1008
        # The emulator is still there for everyone else.
        assert not await call(sdk.connection_exists, client.connected["connectionId"])

    run(scenario)


# -- users, groups and the REST data plane --------------------------------------------------


def test_two_users_receive_only_their_groups_and_their_own_messages(
    sdk: WebPubSubServiceClient,
) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        ann = await connect(session, client_url(sdk, user_id="ann", groups=["city.10"]))
        bob = await connect(session, client_url(sdk, user_id="bob", groups=["city.20"]))
        bob2 = await connect(session, client_url(sdk, user_id="bob"))  # a second tab of bob
        await call(sdk.send_to_group, "city.10", {"to": "city.10"})
        await call(sdk.send_to_group, "city.20", {"to": "city.20"})
        await call(sdk.send_to_user, "ann", {"to": "ann"})
        await call(sdk.send_to_user, "bob", {"to": "bob"})
        await call(sdk.send_to_all, "marker", content_type="text/plain")
        assert [m["data"] for m in await ann.until("marker")] == [{"to": "city.10"}, {"to": "ann"}]
        bob_got = await bob.until("marker")
        assert [m["data"] for m in bob_got] == [{"to": "city.20"}, {"to": "bob"}]
        assert [m["from"] for m in bob_got] == ["group", "server"]
        assert [m["data"] for m in await bob2.until("marker")] == [{"to": "bob"}]

    run(scenario)


def test_removing_a_user_from_a_group_stops_its_messages(sdk: WebPubSubServiceClient) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        carol = await connect(session, client_url(sdk, user_id="carol", groups=["city.30"]))
        await call(sdk.send_to_group, "city.30", "before", content_type="text/plain")
        assert (await carol.next())["data"] == "before"
        await call(sdk.remove_user_from_group, "city.30", "carol")
        await call(sdk.send_to_group, "city.30", "after", content_type="text/plain")
        await call(sdk.send_to_user, "carol", "marker", content_type="text/plain")
        assert await carol.until("marker") == []
        assert not await call(sdk.group_exists, "city.30")
        # Adding the user back: the user's current connections join at once.
        await call(sdk.add_user_to_group, "city.31", "carol")
        await call(sdk.add_user_to_group, "city.32", "carol")
        await call(sdk.send_to_group, "city.31", "again", content_type="text/plain")
        assert (await carol.next())["data"] == "again"
        await call(sdk.remove_user_from_all_groups, "carol")
        await call(sdk.send_to_group, "city.31", "no", content_type="text/plain")
        await call(sdk.send_to_group, "city.32", "no", content_type="text/plain")
        await call(sdk.send_to_user, "carol", "marker", content_type="text/plain")
        assert await carol.until("marker") == []

    run(scenario)


def test_rest_connection_calls(sdk: WebPubSubServiceClient) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        dan = await connect(session, client_url(sdk, user_id="dan"))
        eve = await connect(session, client_url(sdk, user_id="eve"))
        simple = await connect(session, client_url(sdk, user_id="raw", groups=["g"]), None)
        dan_id, eve_id = dan.connected["connectionId"], eve.connected["connectionId"]

        await call(sdk.add_connection_to_group, "g", dan_id)
        await call(sdk.add_connection_to_group, "g", eve_id)
        members = await call(
            lambda: sorted(m.connection_id for m in sdk.list_connections(group="g"))
        )
        assert dan_id in members and eve_id in members and len(members) == 3
        with pytest.raises(HttpResponseError) as missing:
            await call(sdk.add_connection_to_group, "g", "no-such-connection")
        assert missing.value.status_code == 404

        # excluded is honoured; the three payload kinds map to dataType json / text / binary.
        await call(sdk.send_to_group, "g", {"n": 1}, excluded=[eve_id])
        await call(sdk.send_to_group, "g", "text", content_type="text/plain")
        await call(sdk.send_to_group, "g", b"\x00\x01", content_type="application/octet-stream")
        got = [await dan.next() for _ in range(3)]
        assert [(m["dataType"], m["data"]) for m in got] == [
            ("json", {"n": 1}), ("text", "text"), ("binary", base64.b64encode(b"\x00\x01").decode())
        ]  # fmt: skip
        assert [(await eve.next())["dataType"] for _ in range(2)] == ["text", "binary"]
        # A simple client (no subprotocol) gets the data itself.
        assert json.loads((await simple.ws.receive()).data) == {"n": 1}
        assert (await simple.ws.receive()).data == "text"
        assert (await simple.ws.receive()).data == b"\x00\x01"

        await call(sdk.send_to_connection, eve_id, {"only": "eve"})
        assert (await eve.next())["data"] == {"only": "eve"}
        await call(sdk.remove_connection_from_group, "g", eve_id)
        await call(sdk.remove_connection_from_all_groups, dan_id)
        await call(sdk.send_to_group, "g", "gone", content_type="text/plain")
        await call(sdk.send_to_all, "marker", content_type="text/plain")
        assert await eve.until("marker") == [] and await dan.until("marker") == []

        await call(sdk.close_connection, eve_id, reason="bye eve")
        disconnected = await eve.next()
        assert disconnected == {"type": "system", "event": "disconnected", "message": "bye eve"}
        assert not await call(sdk.connection_exists, eve_id)
        assert not await call(sdk.user_exists, "eve")
        await call(sdk.close_user_connections, "dan")
        assert (await dan.next())["event"] == "disconnected"
        assert not await call(sdk.connection_exists, dan_id)

    run(scenario)


def test_rest_close_group_and_all_with_excluded(sdk: WebPubSubServiceClient) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        one = await connect(session, client_url(sdk, user_id="c1", groups=["closing"]))
        two = await connect(session, client_url(sdk, user_id="c2", groups=["closing"]))
        three = await connect(session, client_url(sdk, user_id="c3"))
        await call(sdk.close_group_connections, "closing",
                   excluded=[two.connected["connectionId"]])  # fmt: skip
        assert (await one.next())["event"] == "disconnected"
        assert await call(sdk.user_exists, "c2")
        await call(sdk.close_all_connections, excluded=[three.connected["connectionId"]])
        assert (await two.next())["event"] == "disconnected"
        assert await call(sdk.connection_exists, three.connected["connectionId"])

    run(scenario)


def test_generate_token_rest_call(sdk: WebPubSubServiceClient) -> None:
    """``:generateToken`` is what the SDK calls with an Entra ID credential; called here with
    the key credential through the generated operation."""
    answer = GeneratedOperations.get_client_access_token(
        sdk, user_id="via-rest", roles=["webpubsub.joinLeaveGroup.lobby"], groups=["lobby"],
        minutes_to_expire=2,
    )  # fmt: skip
    base = sdk.get_client_access_token()["baseUrl"]

    async def scenario(session: aiohttp.ClientSession) -> None:
        client = await connect(session, f"{base}?access_token={answer['token']}")
        assert client.connected["userId"] == "via-rest"
        await call(sdk.send_to_group, "lobby", "hi", content_type="text/plain")
        assert (await client.next())["data"] == "hi"
        await client.send(type="leaveGroup", group="lobby", ackId=1)
        assert (await client.ack(1))["success"] is True

    run(scenario)


def test_rest_calls_need_a_token_for_that_url(
    emulator: WebPubSubEmulator, sdk: WebPubSubServiceClient
) -> None:
    wrong = WebPubSubServiceClient.from_connection_string(
        f"Endpoint={emulator.endpoint};AccessKey=not-the-key-0123456789abcdef012345;Version=1.0;",
        hub=HUB,
    )
    with pytest.raises(ClientAuthenticationError):
        wrong.send_to_all({"x": 1})
    with pytest.raises(ClientAuthenticationError):
        wrong.user_exists("anyone")  # HEAD too

    url = f"{emulator.endpoint}/api/hubs/{HUB}/:send?api-version=2024-12-01"
    other = f"{emulator.endpoint}/api/hubs/{HUB}/users/x/:send?api-version=2024-12-01"

    def bearer(aud: str | None, key: str = emulator.access_key) -> dict[str, str]:
        claims: dict[str, Any] = {"exp": datetime.now(UTC) + timedelta(seconds=60)}
        if aud is not None:
            claims["aud"] = aud
        return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="HS256")}

    async def scenario(session: aiohttp.ClientSession) -> None:
        for headers in ({}, bearer(None), bearer(other), bearer(url.split("?")[0]),
                        bearer(url, key="another-key-0123456789abcdef0123456789")):  # fmt: skip
            async with session.post(url, json={"x": 1}, headers=headers) as response:
                assert response.status == 401, headers
        async with session.post(url, json={"x": 1}, headers=bearer(url)) as response:
            assert response.status == 202
        filtered = url + "&filter=userId%20eq%20'x'"
        async with session.post(filtered, json={}, headers=bearer(filtered)) as response:
            assert response.status == 400  # OData filters are refused, not ignored
        bad_top = f"{emulator.endpoint}/api/hubs/{HUB}/groups/g/connections?top=x&api-version=1"
        async with session.get(bad_top, headers=bearer(bad_top)) as response:
            assert response.status == 400

    run(scenario)


# -- the reliable protocol ------------------------------------------------------------------


def _drop(client: Client) -> None:
    """The network goes: the TCP connection ends with no close frame."""
    connection = client.ws._conn
    assert connection is not None and connection.transport is not None
    connection.transport.abort()


def test_reliable_sequence_ids_acks_and_resume(
    emulator: WebPubSubEmulator, sdk: WebPubSubServiceClient
) -> None:
    base = f"ws://127.0.0.1:{emulator.port}/client/hubs/{HUB}"

    async def scenario(session: aiohttp.ClientSession) -> None:
        url = client_url(sdk, user_id="rel", roles=["webpubsub.sendToGroup"], groups=["rg"])
        client = await connect(session, url, RELIABLE_PROTOCOL)
        assert client.ws.protocol == RELIABLE_PROTOCOL
        connection_id = client.connected["connectionId"]
        token = client.connected["reconnectionToken"]
        assert token

        await call(sdk.send_to_group, "rg", "one", content_type="text/plain")
        await call(sdk.send_to_user, "rel", "two", content_type="text/plain")
        first, second = await client.next(), await client.next()
        assert (first["sequenceId"], first["data"]) == (1, "one")
        assert (second["sequenceId"], second["data"]) == (2, "two")
        await client.send(type="sequenceAck", sequenceId=1)  # 2 stays unacked
        await client.send(type="sendToGroup", group="rg", ackId=9, dataType="text", data="mine",
                          noEcho=True)  # fmt: skip
        assert (await client.ack(9))["success"] is True

        _drop(client)
        await call(sdk.send_to_group, "rg", "three", content_type="text/plain")  # while away
        assert await call(sdk.connection_exists, connection_id)  # the session waits

        # A wrong token cannot take the session over: 1008, as the service closes.
        bad = await session.ws_connect(
            f"{base}?awps_connection_id={connection_id}&awps_reconnection_token=wrong",
            protocols=(RELIABLE_PROTOCOL,),
        )
        assert (await Client(bad).next())["event"] == "disconnected"
        await bad.receive()
        assert bad.close_code == 1008

        resumed = await connect(
            session,
            f"{base}?awps_connection_id={connection_id}&awps_reconnection_token={token}",
            RELIABLE_PROTOCOL,
        )
        assert resumed.connected["connectionId"] == connection_id
        assert resumed.connected["userId"] == "rel"
        replay = [await resumed.next(), await resumed.next()]
        assert [(m["sequenceId"], m["data"]) for m in replay] == [(2, "two"), (3, "three")]
        # The same ackId after reconnecting: processed already (the client's retry case).
        await resumed.send(type="sendToGroup", group="rg", ackId=9, dataType="text", data="mine")
        assert (await resumed.ack(9))["error"]["name"] == "Duplicate"
        # Its groups survived; numbering goes on.
        await call(sdk.send_to_group, "rg", "four", content_type="text/plain")
        assert (await resumed.next())["sequenceId"] == 4
        await resumed.send(type="sequenceAck", sequenceId=4)
        await resumed.send(type="ping")
        assert (await resumed.next()) == {"type": "pong"}

        # A close by the server ends the session: recovery is then refused with 1008.
        await call(sdk.close_connection, connection_id, reason="done")
        assert (await resumed.next())["event"] == "disconnected"
        again = await session.ws_connect(
            f"{base}?awps_connection_id={connection_id}&awps_reconnection_token={token}",
            protocols=(RELIABLE_PROTOCOL,),
        )
        assert (await Client(again).next())["event"] == "disconnected"
        await again.receive()
        assert again.close_code == 1008

    run(scenario)


def test_reliable_session_expires_after_the_grace_period(sdk: WebPubSubServiceClient) -> None:
    with WebPubSubEmulator(reconnect_grace_seconds=0.2) as short:
        client_sdk = WebPubSubServiceClient.from_connection_string(short.connection_string, HUB)

        async def scenario(session: aiohttp.ClientSession) -> None:
            url = client_url(client_sdk, user_id="brief", groups=["bg"])
            client = await connect(session, url, RELIABLE_PROTOCOL)
            connection_id = client.connected["connectionId"]
            _drop(client)
            assert await _eventually(
                lambda: call(client_sdk.connection_exists, connection_id), False
            )
            assert not await call(client_sdk.group_exists, "bg")

        run(scenario)


# -- the official JavaScript client ---------------------------------------------------------


def test_official_javascript_client(sdk: WebPubSubServiceClient) -> None:
    node = shutil.which("node")
    assert node, "node is needed (the Makefile's install brings node_modules)"
    assert (ROOT / "node_modules" / "@azure" / "web-pubsub-client").is_dir(), "run npm ci"
    url = client_url(sdk, user_id="js-user", groups=["city.js"],
                     roles=["webpubsub.joinLeaveGroup.allowed"])  # fmt: skip
    script = ROOT / "tests" / "support" / "webpubsub_js_client.mjs"
    with subprocess.Popen(
        [node, str(script), url, "city.js", "allowed", "forbidden"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline() or "{}")
        assert ready.get("event") == "connected", process.stderr.read() if process.stderr else ""
        sdk.send_to_group("city.js", {"event": "weather.updated", "city_id": "js"})
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert ready["userId"] == "js-user" and ready["connectionId"]
    assert result["groupMessage"] == {
        "group": "city.js", "dataType": "json",
        "data": {"event": "weather.updated", "city_id": "js"},
    }  # fmt: skip
    assert result["sequenceId"] == 1  # the client speaks the reliable protocol by default
    assert result["allowedJoin"] == "ok"
    assert result["forbiddenJoin"]["name"] == "SendMessageError"
    assert result["forbiddenJoin"]["errorDetail"]["name"] == "Forbidden"
    # The client's stop() closed the connection: the session ended with it.
    wait_for(lambda: not sdk.user_exists("js-user"), timeout=TIMEOUT)


# -- the command line -----------------------------------------------------------------------


def test_command_line_serves_a_connection_string() -> None:
    from devtools.azurite import free_port

    connection_string = f"Endpoint=http://127.0.0.1:{free_port()};AccessKey=cli-key-0123456789abcdef0123456789abcdef;Version=1.0;"
    with subprocess.Popen(
        [sys.executable, "-m", "devtools.webpubsub", "--connection-string", connection_string],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            started = json.loads(process.stdout.readline())
            assert started["connection_string"] == connection_string
            sdk = WebPubSubServiceClient.from_connection_string(connection_string, hub=HUB)
            sdk.send_to_all({"hello": "cli"})
            assert not sdk.user_exists("nobody")
        finally:
            process.terminate()
            process.wait(10)


def test_a_stop_with_clients_still_connected_closes_them_going_away_at_once() -> None:
    """Stopping the emulator while a client is connected (a browser page left open) closes
    the connection with 1001 Going Away and returns within seconds. Before, aiohttp's
    runner cleanup waited for every WebSocket handler to end, and a handler ends only when
    its client leaves: each such stop took the 30 s of its thread join."""
    import time

    running = WebPubSubEmulator().start()
    sdk = WebPubSubServiceClient.from_connection_string(running.connection_string, hub=HUB)
    url = client_url(sdk, user_id="left-open", minutes_to_expire=5)

    async def scenario(session: aiohttp.ClientSession) -> None:
        client = await connect(session, url)
        reading = asyncio.ensure_future(client.ws.receive())  # as a page's socket reads
        started = time.monotonic()
        await asyncio.to_thread(running.stop)
        stopped_in = time.monotonic() - started
        frame = await asyncio.wait_for(reading, TIMEOUT)
        assert frame.type == aiohttp.WSMsgType.CLOSE, frame
        assert frame.data == aiohttp.WSCloseCode.GOING_AWAY, frame
        assert stopped_in < 5, f"the stop took {stopped_in:.1f} s"

    run(scenario)
