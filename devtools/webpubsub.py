"""A local Azure Web PubSub emulator: the client WebSocket endpoint and the REST data plane.

It speaks what the service speaks, so that the official SDKs run against it unchanged:

- ``/client/hubs/{hub}`` (and ``/client/?hub={hub}``), a WebSocket with the access token in
  ``access_token`` or ``Authorization: Bearer``. The token is a JWT signed HS256 with the
  access key, as ``get_token_by_key`` in azure-messaging-webpubsubservice
  (``_operations/_patch.py``) makes it: ``aud`` = ``<http(s) endpoint>/client/hubs/<hub>``
  (the endpoint lower-cased, the http scheme, not ws), ``exp``, ``sub`` = the user id,
  ``role`` (list) and ``webpubsub.group`` (list: groups joined at connect). Claims per
  learn.microsoft.com "WebSocket client protocols for Azure Web PubSub"
  (concept-client-protocols, "Supported claims"). No valid token: 401 at the upgrade.
- Subprotocols ``json.webpubsub.azure.v1`` (reference-json-webpubsub-subprotocol) and
  ``json.reliable.webpubsub.azure.v1`` (reference-json-reliable-webpubsub-subprotocol,
  howto-develop-reliable-clients): the ``connected`` system message, ``joinGroup``,
  ``leaveGroup``, ``sendToGroup`` (``noEcho``), ``event``, ``ackId`` acks with the error names
  ``Forbidden`` / ``Duplicate`` / ``InternalServerError`` (concept-client-protocols, "AckId and
  Ack Response"), ``sequenceId`` / ``sequenceAck`` and reconnection with
  ``awps_connection_id`` + ``awps_reconnection_token`` for the reliable one, a 1008 close when
  the session is gone (the client stops recovering then), ``ping`` / ``pong`` (what
  @azure/web-pubsub-client 1.0.4 sends for keep-alive, ``protocols/jsonProtocolBase.js``).
  A connection without a subprotocol is a "simple WebSocket client": it receives raw frames.
- The REST data plane under ``/api/hubs/{hub}/...`` exactly as the Python server SDK calls it
  (azure-messaging-webpubsubservice 1.3.0, api-version 2024-12-01, ``_operations.py``:
  paths, methods and the status codes the SDK accepts). Each request carries a JWT signed
  with the access key whose ``aud`` is the full request URL, query included
  (``JwtCredentialPolicy._encode`` in ``_patch.py``); anything else is 401.

Choices where the docs are silent (not established against the real service):
``event`` requests are acked with success and dropped (no event handler can be configured
here); adding a user to a group adds the user's current connections (the API has no
``ttl``, unlike SignalR's, and a later connection gets its groups from its token); a reliable
session ends when the client closes normally (1000, 1001, or a close frame without a
status: what @azure/web-pubsub-client's ``stop()`` sends) and waits
``reconnect_grace_seconds`` (60) after a drop; a malformed client message ends the
connection with a ``disconnected`` message and 1008.

What it does not do (the service does): event handlers / upstream webhooks, the
``connect`` / ``connected`` / ``disconnected`` CloudEvents, protobuf and MQTT / Socket.IO
clients, the ``webpubsub_mode=sendToGroup`` simple client, OData ``filter`` on sends (400
here, so nothing is delivered wider than asked), ``messageTtlSeconds``, api-version checks,
Entra ID (AAD) auth, TLS, persistence across restarts, limits and scale; it never answers
``InternalServerError``.

    python -m devtools.webpubsub --port 7080 --hub weather --access-key <key>
    python -m devtools.webpubsub --connection-string "Endpoint=http://127.0.0.1:7080;AccessKey=...;Version=1.0;"

From tests: ``with WebPubSubEmulator() as wps: wps.connection_string`` (a thread, a free
loopback port).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from aiohttp import WSCloseCode, WSMsgType, web

from devtools import jsonlog

log = logging.getLogger("devtools.webpubsub")

JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
SUBPROTOCOLS = (JSON_PROTOCOL, RELIABLE_PROTOCOL)
API_VERSION = "2024-12-01"  # what azure-messaging-webpubsubservice 1.3.0 sends
ROLE_JOIN_LEAVE = "webpubsub.joinLeaveGroup"
ROLE_SEND = "webpubsub.sendToGroup"
# howto-develop-reliable-clients: the client retries reconnecting for about a minute.
DEFAULT_RECONNECT_GRACE_SECONDS = 60.0
# "The service holds messages that are not acked with limit; past it the service closes the
# connection and removes the session" (howto-develop-reliable-clients, Subscriber).
MAX_UNACKED = 10_000


class EmulatorError(Exception):
    """A REST call the service would refuse: status and the service's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(eq=False)
class Connection:
    id: str
    hub: str
    user_id: str | None
    roles: set[str]
    protocol: str | None
    reconnection_token: str
    groups: set[str] = field(default_factory=set)
    ws: web.WebSocketResponse | None = None
    processed_ack_ids: set[int] = field(default_factory=set)
    next_sequence_id: int = 1
    unacked: OrderedDict[int, str] = field(default_factory=OrderedDict)
    expiry: asyncio.TimerHandle | None = None
    closed: bool = False

    @property
    def reliable(self) -> bool:
        return self.protocol == RELIABLE_PROTOCOL

    def may(self, role: str, group: str) -> bool:
        """concept-client-protocols, Permissions: the role for any group or for ``group``."""
        return role in self.roles or f"{role}.{group}" in self.roles


@dataclass
class Hub:
    connections: dict[str, Connection] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)

    def users(self, user_id: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.user_id == user_id]

    def join(self, conn: Connection, group: str) -> None:
        conn.groups.add(group)
        self.groups.setdefault(group, set()).add(conn.id)

    def leave(self, conn: Connection, group: str) -> None:
        conn.groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.discard(conn.id)
            if not members:
                del self.groups[group]

    def members(self, group: str) -> list[Connection]:
        return [self.connections[i] for i in self.groups.get(group, ()) if i in self.connections]


def _payload(body: bytes, content_type: str) -> tuple[str, Any]:
    """(dataType, data) of a REST body: application/json, text/plain, application/octet-stream
    (reference-json-webpubsub-subprotocol, "Message response", cases 1-3)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return "json", json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise EmulatorError(400, "InvalidRequest", f"Invalid JSON body: {error}") from error
    if kind == "text/plain":
        return "text", body.decode("utf-8", errors="replace")
    if kind == "application/octet-stream":
        return "binary", base64.b64encode(body).decode("ascii")
    raise EmulatorError(415, "UnsupportedMediaType", f"Unsupported Content-Type '{kind}'")


def _strings(claim: Any) -> list[str]:
    """A claim that may be given once (a string) or several times (a list)."""
    if claim is None:
        return []
    return [str(item) for item in claim] if isinstance(claim, list) else [str(claim)]


def _normalised(url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return (f"{parts.scheme}://{parts.netloc}".lower(), unquote(parts.path), query)


class WebPubSubService:
    """The service state and its aiohttp application (one event loop; no locks needed)."""

    def __init__(
        self,
        access_key: str,
        *,
        reconnect_grace_seconds: float = DEFAULT_RECONNECT_GRACE_SECONDS,
    ) -> None:
        self.access_key = access_key
        self.reconnect_grace_seconds = reconnect_grace_seconds
        self.hubs: dict[str, Hub] = {}
        self._closing: set[asyncio.Future[None]] = set()
        self.app = web.Application()
        self.app.router.add_get("/client/hubs/{hub}", self.client)
        self.app.router.add_get("/client/", self.client)
        self.app.router.add_get("/client", self.client)
        self.app.router.add_route("*", "/api/hubs/{hub}/{tail:.*}", self.rest)
        self.app.router.add_route("*", "/api/health", self.health)
        self.app.on_shutdown.append(self._going_away)

    def hub(self, name: str) -> Hub:
        return self.hubs.setdefault(name, Hub())

    async def _going_away(self, _app: web.Application) -> None:
        """On stop, close every open WebSocket with 1001 Going Away (aiohttp's documented
        graceful shutdown): the runner's cleanup otherwise waits for each handler, and a
        handler ends only when its client leaves; a page left open held a stop for 30 s."""
        sockets = [c.ws for hub in self.hubs.values() for c in hub.connections.values() if c.ws]
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"Service stopping") for ws in sockets),
            return_exceptions=True,
        )

    # -- tokens ---------------------------------------------------------------------------

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            self.access_key,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_aud": False},
        )
        aud = claims.get("aud")
        if not isinstance(aud, str) or aud.rstrip("/").lower() != audience.lower():
            raise jwt.InvalidAudienceError(f"aud {aud!r} is not {audience!r}")
        return claims

    def issue_client_token(
        self,
        endpoint: str,
        hub: str,
        user_id: str | None,
        roles: Iterable[str],
        groups: Iterable[str],
        minutes: int,
    ) -> str:
        """The token ``:generateToken`` answers: the claims ``get_token_by_key`` puts in."""
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "aud": f"{endpoint.rstrip('/').lower()}/client/hubs/{hub}",
            "iat": now,
            "exp": now + timedelta(minutes=minutes),
        }
        if user_id:
            payload["sub"] = user_id
        if roles := list(roles):
            payload["role"] = roles
        if groups := list(groups):
            payload["webpubsub.group"] = groups
        return jwt.encode(payload, self.access_key, algorithm="HS256")

    # -- client endpoint ------------------------------------------------------------------

    async def client(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info.get("hub") or request.query.get("hub")
        if not hub_name:
            return web.json_response(
                {"code": "BadRequest", "message": "hub is required"}, status=400
            )
        resume_id = request.query.get("awps_connection_id")
        if resume_id is not None:
            return await self._resume(request, self.hubs.get(hub_name, Hub()), resume_id)
        token = request.query.get("access_token")
        header = request.headers.get("Authorization", "")
        if token is None and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            return web.Response(status=401, text="Unauthorized: no access token")
        audience = f"http://{request.host}/client/hubs/{hub_name}"
        if request.secure:
            audience = "https" + audience[4:]
        try:
            claims = self._decode(token, audience)
        except jwt.PyJWTError as error:
            log.info("client refused", extra={"hub": hub_name, "reason": str(error)})
            return web.Response(status=401, text=f"Unauthorized: {error}")
        hub = self.hub(hub_name)
        roles, groups = _strings(claims.get("role")), _strings(claims.get("webpubsub.group"))
        sub = claims.get("sub")
        ws = web.WebSocketResponse(protocols=SUBPROTOCOLS, autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = Connection(
            id=uuid.uuid4().hex,
            hub=hub_name,
            user_id=str(sub) if sub is not None else None,
            roles=set(roles),
            protocol=ws.ws_protocol,
            reconnection_token=secrets.token_urlsafe(24),
            ws=ws,
        )
        hub.connections[conn.id] = conn
        extra = {"hub": hub_name, "connection_id": conn.id, "user_id": conn.user_id}
        log.info("client connected", extra={**extra, "protocol": conn.protocol})
        for group in groups:
            hub.join(conn, group)
        await self._send_connected(conn)
        return await self._serve(conn, ws)

    async def _resume(
        self, request: web.Request, hub: Hub, connection_id: str
    ) -> web.StreamResponse:
        """howto-develop-reliable-clients, Connection recovery: the same session, groups and
        the messages not yet sequence-acked; 1008 when the session is gone."""
        conn = hub.connections.get(connection_id)
        token = request.query.get("awps_reconnection_token", "")
        ws = web.WebSocketResponse(protocols=SUBPROTOCOLS, autoping=True, heartbeat=None)
        await ws.prepare(request)
        valid = (
            conn is not None
            and conn.reliable
            and ws.ws_protocol == conn.protocol
            and secrets.compare_digest(conn.reconnection_token, token)
        )
        if conn is None or not valid:
            await self._send_raw(ws, {"type": "system", "event": "disconnected",
                                      "message": "The connection is not recoverable."})  # fmt: skip
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Invalid reconnection")
            return ws
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        previous, conn.ws = conn.ws, ws
        if previous is not None and not previous.closed:
            await previous.close(code=WSCloseCode.GOING_AWAY, message=b"Reconnected elsewhere")
        await self._send_connected(conn)
        for payload in list(conn.unacked.values()):
            await self._write(ws, payload)
        return await self._serve(conn, ws)

    async def _send_connected(self, conn: Connection) -> None:
        message: dict[str, Any] = {"type": "system", "event": "connected", "connectionId": conn.id}
        if conn.user_id is not None:
            message["userId"] = conn.user_id
        if conn.reliable:
            message["reconnectionToken"] = conn.reconnection_token
        if conn.protocol is not None and conn.ws is not None:
            await self._send_raw(conn.ws, message)

    async def _serve(self, conn: Connection, ws: web.WebSocketResponse) -> web.WebSocketResponse:
        try:
            async for frame in ws:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if conn.protocol is None:
                    continue  # a simple client's frames are "message" events: no upstream here
                raw = frame.data if isinstance(frame.data, str) else frame.data.decode("utf-8")
                try:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        raise ValueError("not an object")
                    await self._handle(conn, message)
                except (ValueError, KeyError, TypeError, binascii.Error) as error:
                    # reference-json-requests: "Service declines the client if the message does
                    # not match the described format."
                    await self._close(
                        conn, f"Invalid message: {error}", WSCloseCode.POLICY_VIOLATION, wait=True
                    )
                    break
        finally:
            self._dropped(conn, ws)
        return ws

    def _dropped(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        if conn.ws is not ws:
            return  # replaced by a reconnection
        conn.ws = None
        # A close frame from the client that is normal (1000), going away (1001) or has no
        # status (aiohttp reports 0; what @azure/web-pubsub-client's stop() sends) ends the
        # session; a drop (no close frame: 1006) or another code leaves a reliable session to
        # be resumed within the grace period.
        client_closed = ws.close_code in (0, 1005, WSCloseCode.OK, WSCloseCode.GOING_AWAY)
        if conn.closed or not conn.reliable or client_closed:
            self._remove(conn)
            return
        loop = asyncio.get_running_loop()
        conn.expiry = loop.call_later(self.reconnect_grace_seconds, self._remove, conn)

    def _remove(self, conn: Connection) -> None:
        if not conn.closed:
            log.info("connection closed", extra={"hub": conn.hub, "connection_id": conn.id})
        conn.closed = True
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        hub = self.hub(conn.hub)
        for group in list(conn.groups):
            hub.leave(conn, group)
        hub.connections.pop(conn.id, None)

    async def _handle(self, conn: Connection, message: dict[str, Any]) -> None:
        kind = message.get("type")
        ack_id = message.get("ackId")
        if ack_id is not None and (not isinstance(ack_id, int) or isinstance(ack_id, bool)):
            raise ValueError("ackId must be an integer")
        hub = self.hub(conn.hub)
        if kind == "sequenceAck":
            sequence_id = message["sequenceId"]
            if not isinstance(sequence_id, int):
                raise ValueError("sequenceId must be an integer")
            while conn.unacked and next(iter(conn.unacked)) <= sequence_id:
                conn.unacked.popitem(last=False)
            return
        if kind == "ping":
            await self._send_raw(conn.ws, {"type": "pong"})
            return
        if kind not in ("joinGroup", "leaveGroup", "sendToGroup", "event"):
            raise ValueError(f"unknown type {kind!r}")
        if ack_id is not None and ack_id in conn.processed_ack_ids:
            await self._ack(
                conn, ack_id, "Duplicate", f"Message with ack-id: {ack_id} has been processed"
            )
            return
        if kind == "event":
            if not isinstance(message["event"], str):
                raise ValueError("event must be a string")
            self._data(message)  # validated; no event handler is configured: acked, dropped
        else:
            group = message["group"]
            if not isinstance(group, str) or not group:
                raise ValueError("group must be a non-empty string")
            role = ROLE_SEND if kind == "sendToGroup" else ROLE_JOIN_LEAVE
            if not conn.may(role, group):
                await self._ack(
                    conn,
                    ack_id,
                    "Forbidden",
                    f"The connection has no permission to {kind} '{group}'.",
                )
                return
            if kind == "joinGroup":
                hub.join(conn, group)
            elif kind == "leaveGroup":
                hub.leave(conn, group)
            else:
                data_type, data = self._data(message)
                out: dict[str, Any] = {"type": "message", "from": "group", "group": group,
                                       "dataType": data_type, "data": data}  # fmt: skip
                if conn.user_id is not None:
                    out["fromUserId"] = conn.user_id
                skip = {conn.id} if message.get("noEcho") is True else set()
                await self.deliver(hub.members(group), out, skip)
        if ack_id is not None:
            conn.processed_ack_ids.add(ack_id)
            await self._ack(conn, ack_id)

    @staticmethod
    def _data(message: dict[str, Any]) -> tuple[str, Any]:
        data_type = message.get("dataType") or "json"
        data = message.get("data")
        if data_type == "json":
            return data_type, data
        if data_type == "text" and isinstance(data, str):
            return data_type, data
        if data_type == "binary" and isinstance(data, str):
            base64.b64decode(data, validate=True)
            return data_type, data
        raise ValueError(f"data does not match dataType {data_type!r}")

    async def _ack(
        self, conn: Connection, ack_id: int | None, error: str | None = None, detail: str = ""
    ) -> None:
        if ack_id is None:
            return
        message: dict[str, Any] = {"type": "ack", "ackId": ack_id, "success": error is None}
        if error is not None:
            message["error"] = {"name": error, "message": detail}
        await self._send_raw(conn.ws, message)

    # -- delivery -------------------------------------------------------------------------

    async def deliver(
        self, targets: Iterable[Connection], message: dict[str, Any], skip: set[str] | None = None
    ) -> None:
        raw_text: str | None = None
        for conn in targets:
            if conn.closed or (skip and conn.id in skip):
                continue
            if conn.protocol is None:
                if conn.ws is None:
                    continue
                if raw_text is None:
                    raw_text = self._simple_frame(message)
                if message["dataType"] == "binary":
                    await self._send_bytes(conn.ws, base64.b64decode(message["data"]))
                else:
                    await self._write(conn.ws, raw_text)
                continue
            if conn.reliable:
                body = dict(message, sequenceId=conn.next_sequence_id)
                payload = json.dumps(body, separators=(",", ":"))
                conn.unacked[conn.next_sequence_id] = payload
                conn.next_sequence_id += 1
                if len(conn.unacked) > MAX_UNACKED:
                    await self._close(
                        conn, "Too many unacknowledged messages.", WSCloseCode.POLICY_VIOLATION
                    )
                    continue
                if conn.ws is not None:
                    await self._write(conn.ws, payload)
            elif conn.ws is not None:
                await self._write(conn.ws, json.dumps(message, separators=(",", ":")))

    @staticmethod
    def _simple_frame(message: dict[str, Any]) -> str:
        """A simple client gets the data itself: text as is, JSON serialised."""
        return message["data"] if message["dataType"] == "text" else json.dumps(message["data"])

    async def _send_raw(self, ws: web.WebSocketResponse | None, message: dict[str, Any]) -> None:
        if ws is not None:
            await self._write(ws, json.dumps(message, separators=(",", ":")))

    @staticmethod
    async def _write(ws: web.WebSocketResponse, payload: str) -> None:
        if ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(payload)

    @staticmethod
    async def _send_bytes(ws: web.WebSocketResponse, payload: bytes) -> None:
        if ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(payload)

    async def _close(
        self, conn: Connection, reason: str, code: int = WSCloseCode.OK, *, wait: bool = False
    ) -> None:
        """Server-side close: a ``disconnected`` system message, then the close frame; the
        session is removed, so a reliable client's recovery then gets 1008."""
        ws = conn.ws
        self._remove(conn)
        if ws is not None and not ws.closed:
            if conn.protocol is not None:
                await self._send_raw(
                    ws, {"type": "system", "event": "disconnected", "message": reason}
                )
            if wait:  # from the connection's own handler, which ends next
                await self._close_ws(ws, code, reason)
                return
            # Not awaited: a client slow to answer the close frame must not hold a REST call.
            task = asyncio.ensure_future(self._close_ws(ws, code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_ws(ws: web.WebSocketResponse, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=code, message=reason.encode("utf-8")[:120])

    # -- REST data plane ------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise EmulatorError(401, "Unauthorized", "A bearer token is required.")
        scheme = "https" if request.secure else "http"
        url = f"{scheme}://{request.host}{request.raw_path}"
        try:
            claims = jwt.decode(
                header[7:].strip(),
                self.access_key,
                algorithms=["HS256"],
                options={"require": ["exp", "aud"], "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise EmulatorError(401, "Unauthorized", str(error)) from error
        if not isinstance(claims["aud"], str) or _normalised(claims["aud"]) != _normalised(url):
            raise EmulatorError(
                401, "Unauthorized", "The token's audience is not this request URL."
            )

    async def rest(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
            try:
                return await self._route(request)
            except ValueError as error:  # a malformed number in the query
                raise EmulatorError(400, "InvalidRequest", str(error)) from error
        except EmulatorError as error:
            body = {"code": error.code, "message": str(error)}
            if request.method == "HEAD":
                return web.Response(status=error.status)
            return web.json_response(body, status=error.status)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info["hub"]
        hub = self.hub(hub_name)
        parts = [unquote(p) for p in request.match_info["tail"].split("/") if p]
        method = request.method
        query = request.query
        if "filter" in query:
            raise EmulatorError(
                400, "NotSupported", "The emulator does not evaluate OData filters."
            )
        excluded = set(query.getall("excluded", []))
        reason = query.get("reason") or "Closed by the server."
        accepted = web.Response(status=202)
        no_content = web.Response(status=204)

        match (method, parts):
            case ("POST", [":send"]):
                await self._send_rest(request, hub.connections.values(), excluded)
                return accepted
            case ("POST", [":generateToken"]):
                minutes = int(query.get("minutesToExpire", "60"))
                endpoint = f"{'https' if request.secure else 'http'}://{request.host}"
                token = self.issue_client_token(endpoint, hub_name, query.get("userId"),
                                                query.getall("role", []), query.getall("group", []),
                                                minutes)  # fmt: skip
                return web.json_response({"token": token})
            case ("POST", [":closeConnections"]):
                await self._close_all(hub.connections.values(), excluded, reason)
                return no_content
            case ("POST", ["groups", group, ":send"]):
                await self._send_rest(request, hub.members(group), excluded, group=group)
                return accepted
            case ("POST", ["groups", group, ":closeConnections"]):
                await self._close_all(hub.members(group), excluded, reason)
                return no_content
            case ("HEAD", ["groups", group]):
                return web.Response(status=200 if hub.members(group) else 404)
            case ("GET", ["groups", group, "connections"]):
                members = hub.members(group)
                if "top" in query:
                    members = members[: int(query["top"])]
                value = [{"connectionId": c.id, "userId": c.user_id} for c in members]
                return web.json_response({"value": value})
            case ("PUT", ["groups", group, "connections", connection_id]):
                hub.join(self._connection(hub, connection_id), group)
                return web.Response(status=200)
            case ("DELETE", ["groups", group, "connections", connection_id]):
                if (conn := hub.connections.get(connection_id)) is not None:
                    hub.leave(conn, group)
                return no_content
            case ("POST", ["connections", connection_id, ":send"]):
                await self._send_rest(request, [self._connection(hub, connection_id)], set())
                return accepted
            case ("HEAD", ["connections", connection_id]):
                return web.Response(status=200 if connection_id in hub.connections else 404)
            case ("DELETE", ["connections", connection_id]):
                if (conn := hub.connections.get(connection_id)) is not None:
                    await self._close(conn, reason)
                return no_content
            case ("DELETE", ["connections", connection_id, "groups"]):
                if (conn := hub.connections.get(connection_id)) is not None:
                    for group in list(conn.groups):
                        hub.leave(conn, group)
                return no_content
            case ("POST", ["users", user_id, ":send"]):
                await self._send_rest(request, hub.users(user_id), set())
                return accepted
            case ("POST", ["users", user_id, ":closeConnections"]):
                await self._close_all(hub.users(user_id), excluded, reason)
                return no_content
            case ("HEAD", ["users", user_id]):
                return web.Response(status=200 if hub.users(user_id) else 404)
            case ("PUT", ["users", user_id, "groups", group]):
                # The user's connections now; a later connection of the user gets its groups
                # from its token (the emulator keeps no user-group table).
                for conn in hub.users(user_id):
                    hub.join(conn, group)
                return web.Response(status=200)
            case ("DELETE", ["users", user_id, "groups", group]):
                for conn in hub.users(user_id):
                    hub.leave(conn, group)
                return no_content
            case ("DELETE", ["users", user_id, "groups"]):
                for conn in hub.users(user_id):
                    for group in list(conn.groups):
                        hub.leave(conn, group)
                return no_content
            case (_, ["permissions", permission, "connections", connection_id]):
                return self._permission(
                    hub, method, permission, connection_id, query.get("targetName")
                )
        raise EmulatorError(404, "NotFound", f"No such operation: {method} /{'/'.join(parts)}")

    def _permission(
        self, hub: Hub, method: str, permission: str, connection_id: str, target: str | None
    ) -> web.Response:
        roles = {"sendToGroup": ROLE_SEND, "joinLeaveGroup": ROLE_JOIN_LEAVE}
        if permission not in roles:
            raise EmulatorError(400, "InvalidRequest", f"Unknown permission '{permission}'")
        role = roles[permission] + (f".{target}" if target else "")
        conn = hub.connections.get(connection_id)
        if method == "HEAD":
            return web.Response(status=200 if conn is not None and role in conn.roles else 404)
        if method == "PUT":
            self._connection(hub, connection_id).roles.add(role)
            return web.Response(status=200)
        if method == "DELETE":
            if conn is not None:
                conn.roles.discard(role)
            return web.Response(status=204)
        raise EmulatorError(405, "MethodNotAllowed", method)

    @staticmethod
    def _connection(hub: Hub, connection_id: str) -> Connection:
        conn = hub.connections.get(connection_id)
        if conn is None:
            raise EmulatorError(404, "NotFound", f"Connection '{connection_id}' does not exist.")
        return conn

    async def _send_rest(
        self,
        request: web.Request,
        targets: Iterable[Connection],
        excluded: set[str],
        group: str | None = None,
    ) -> None:
        data_type, data = _payload(await request.read(), request.content_type)
        message: dict[str, Any] = {
            "type": "message",
            "from": "server",
            "dataType": data_type,
            "data": data,
        }
        if group is not None:
            message = {
                "type": "message",
                "from": "group",
                "group": group,
                "dataType": data_type,
                "data": data,
            }
        await self.deliver(list(targets), message, excluded)

    async def _close_all(
        self, targets: Iterable[Connection], excluded: set[str], reason: str
    ) -> None:
        for conn in list(targets):
            if conn.id not in excluded:
                await self._close(conn, reason)


# -- running it -----------------------------------------------------------------------------


def parse_connection_string(value: str) -> dict[str, str]:
    """``Endpoint=...;AccessKey=...;Version=1.0;`` as the SDK's ``_parse_connection_string``."""
    fields: dict[str, str] = {}
    for segment in value.split(";"):
        if "=" in segment:
            key, _, item = segment.partition("=")
            fields[key.strip().lower()] = item.strip()
    if "endpoint" not in fields or "accesskey" not in fields:
        raise ValueError("a Web PubSub connection string needs Endpoint and AccessKey")
    return fields


class WebPubSubEmulator:
    """The emulator on a loopback port, in a thread of its own (for tests and tools).

    ``with WebPubSubEmulator() as wps:`` then ``wps.connection_string`` for
    ``WebPubSubServiceClient.from_connection_string(wps.connection_string, hub=...)``."""

    def __init__(
        self,
        access_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reconnect_grace_seconds: float = DEFAULT_RECONNECT_GRACE_SECONDS,
    ) -> None:
        # A fresh random key per instance unless given: base64 as the service's keys are.
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.host = host
        self.port = port
        self.reconnect_grace_seconds = reconnect_grace_seconds
        self.service: WebPubSubService | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version=1.0;"

    async def _serve(self) -> None:
        self.service = WebPubSubService(
            self.access_key, reconnect_grace_seconds=self.reconnect_grace_seconds
        )
        self._runner = web.AppRunner(self.service.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except (OSError, RuntimeError) as error:  # reported to start()
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def start(self) -> WebPubSubEmulator:
        self._thread = threading.Thread(target=self._run, name="webpubsub-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"the Web PubSub emulator did not start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._loop = None
        self._thread = None

    def __enter__(self) -> WebPubSubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local Azure Web PubSub emulator.")
    parser.add_argument("--connection-string", help="Endpoint (its port) and AccessKey to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7080)
    parser.add_argument("--hub", default="weather", help="the hub named in the printed client URL")
    parser.add_argument("--access-key", help="the key tokens are signed with (random if omitted)")
    parser.add_argument(
        "--reconnect-grace-seconds", type=float, default=DEFAULT_RECONNECT_GRACE_SECONDS
    )
    args = parser.parse_args(argv)
    jsonlog.configure(stream=sys.stderr)
    key, port = args.access_key, args.port
    if args.connection_string:
        fields = parse_connection_string(args.connection_string)
        key = fields["accesskey"]
        port = urlsplit(fields["endpoint"]).port or port
    emulator = WebPubSubEmulator(key, host=args.host, port=port,
                                 reconnect_grace_seconds=args.reconnect_grace_seconds)  # fmt: skip
    emulator.start()
    print(json.dumps({"time": datetime.now(UTC).isoformat(), "level": "INFO",
                      "logger": "devtools.webpubsub", "message": "Web PubSub emulator listening",
                      "connection_string": emulator.connection_string,
                      "client_url": f"ws://{emulator.host}:{emulator.port}/client/hubs/{args.hub}"}),
          flush=True)  # fmt: skip
    try:
        while emulator._thread is not None and emulator._thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
