"""Realtime delivery through the local Web PubSub emulator, beside a bare WebSocket echo.

With ``connections`` WebSocket clients open on loopback (``json.webpubsub.azure.v1``, each
in one of ``groups`` groups through its token's ``webpubsub.group`` claim), a publisher
calls the Python server SDK's ``send_to_group`` ``publishes`` times, one after another,
each to the next group; the latency is from just before the SDK call to each member's
receipt of the message (so one publish gives ``connections / groups`` samples). Beside it:
the round trip of a bare aiohttp WebSocket echo server on the same machine, with as many
idle connections open, over one connection, as many samples.

The emulator and the echo server each run in a process of their own (as a service would);
the clients and the publisher share the bench process (the SDK call in a worker thread, the
receipts on the event loop, one clock). Everything is bounded: fixed counts, and the whole
section stops after ``deadline`` seconds.

    python -m bench --only realtime
    python -m bench.realtime echo --port 7090     # the echo server alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import summary as _summary

ROOT = Path(__file__).resolve().parent.parent
HUB = "bench"


@contextmanager
def _process(args: list[str]) -> Iterator[dict[str, Any]]:
    """A child that prints one JSON line when it listens; stopped (terminate, then kill)."""
    child = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"{args} exited before listening")
        yield json.loads(line)
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def _free_port() -> int:
    from devtools.azurite import free_port

    return free_port()


async def _open(
    session: Any, urls: list[str], protocol: str | None, parallel: int = 50
) -> list[Any]:
    gate = asyncio.Semaphore(parallel)

    async def one(url: str) -> Any:
        async with gate:
            ws = await session.ws_connect(url, protocols=(protocol,) if protocol else (),
                                          autoping=True, max_msg_size=0)  # fmt: skip
            if protocol:
                await ws.receive()  # the "connected" system message
            return ws

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def _delivery(
    connection_string: str, connections: int, groups: int, publishes: int
) -> dict[str, Any]:
    import aiohttp
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    sdk = WebPubSubServiceClient.from_connection_string(connection_string, hub=HUB)
    urls = [
        sdk.get_client_access_token(user_id=f"u{i}", groups=[f"city.{i % groups}"])["url"]
        for i in range(connections)
    ]
    per_group = connections // groups
    samples: list[float] = []
    sdk_calls: list[float] = []
    pending: dict[int, list[Any]] = {}  # publish index -> [remaining receipts, Event]

    async def reader(ws: Any) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            message = json.loads(frame.data)
            data = message.get("data")
            if isinstance(data, dict) and "t" in data:
                samples.append((now - data["t"]) * 1000)
                waiting = pending.get(data["i"])
                if waiting is not None:
                    waiting[0] -= 1
                    if waiting[0] == 0:
                        waiting[1].set()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        sockets = await _open(session, urls, "json.webpubsub.azure.v1")
        opened_s = time.perf_counter() - started
        readers = [asyncio.create_task(reader(ws)) for ws in sockets]

        def publish(index: int) -> float:
            begun = time.perf_counter()
            sdk.send_to_group(f"city.{index % groups}", {"t": begun, "i": index})
            return (time.perf_counter() - begun) * 1000

        for index in range(-20, publishes):  # 20 warm-up publishes, not counted
            done = asyncio.Event()
            pending[index] = [per_group, done]
            sdk_calls.append(await asyncio.to_thread(publish, index))
            await done.wait()
            del pending[index]
            if index == -1:
                samples.clear()
                sdk_calls.clear()
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    return {
        "connections": connections,
        "groups": groups,
        "publishes": publishes,
        "connect_all_s": round(opened_s, 2),
        "publish_to_receipt": _summary(samples),
        "sdk_send_to_group_call": _summary(sdk_calls),
    }


async def _echo(url: str, connections: int, count: int) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = await _open(session, [url] * connections, None)
        ws = sockets[0]
        samples: list[float] = []
        for index in range(-20, count):
            begun = time.perf_counter()
            await ws.send_str(str(index))
            frame = await ws.receive()
            assert frame.data == str(index), frame  # the echo of this send, nothing else
            if index >= 0:
                samples.append((time.perf_counter() - begun) * 1000)
        for each in sockets:
            await each.close()
    return {"connections_open": connections, "round_trip": _summary(samples)}


def bench_realtime(
    connections: int = 1000, groups: int = 100, publishes: int = 300, deadline: float = 120.0
) -> dict[str, Any]:
    """The section: delivery through the emulator, then the bare echo, each bounded."""
    key = "bench-realtime-key-0123456789abcdef0123456789"
    port = _free_port()
    results: dict[str, Any] = {}
    args = ["-m", "devtools.webpubsub", "--port", str(port), "--access-key", key, "--hub", HUB]
    with _process(args) as started:
        results["emulator_delivery"] = asyncio.run(
            asyncio.wait_for(
                _delivery(started["connection_string"], connections, groups, publishes), deadline
            )
        )
    echo_port = _free_port()
    with _process(["-m", "bench.realtime", "echo", "--port", str(echo_port)]):
        samples = publishes * (connections // groups)
        results["bare_websocket_echo"] = asyncio.run(
            asyncio.wait_for(_echo(f"ws://127.0.0.1:{echo_port}/", connections, samples), deadline)
        )
    emulator_p50 = results["emulator_delivery"]["publish_to_receipt"]["p50_ms"]
    echo_p50 = results["bare_websocket_echo"]["round_trip"]["p50_ms"]
    results["p50_ratio_to_echo"] = round(emulator_p50 / echo_p50, 1) if echo_p50 else None
    return results


def _serve_echo(port: int) -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                await ws.send_str(frame.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
        print(json.dumps({"listening": port}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["echo", "run"])
    parser.add_argument("--port", type=int, default=7090)
    parsed = parser.parse_args()
    if parsed.mode == "echo":
        _serve_echo(parsed.port)
    else:
        print(json.dumps(bench_realtime(), indent=2))
