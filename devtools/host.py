"""A local Azure Functions host for the Python v2 programming model.

    python -m devtools.host [--port 7071] [--app function_app] [--settings local.settings.json]

It loads the unchanged ``function_app.py`` and serves it the way ``func start`` does, from
the metadata ``app.get_functions()`` gives:

- settings from ``local.settings.json`` "Values" (the environment wins); exit code 2 with a
  clear message when the file is missing or invalid;
- HTTP triggers under the host.json route prefix, with ASP.NET route templates chosen by
  the real host's rules, not ASP.NET precedence: functions in name order, first match wins;
  ``admin``/``runtime`` templates and duplicate routes refused at load (see ``routing``);
  a method or path no route takes is a 404 with an empty body, as the host answers it;
- ``Host.CORS`` / ``Host.CORSCredentials`` (or ``--cors`` / ``--cors-credentials``) as
  ``func start`` applies them (see ``cors``);
- ``extensions.http.maxConcurrentRequests`` / ``maxOutstandingRequests`` of host.json as
  the host's throttle applies them (beyond the first, requests wait; beyond the second,
  429), and a listen backlog of 512 so that bursts of connections queue, never reset;
- functions run on a thread pool (``PYTHON_THREADPOOL_THREAD_COUNT``);
- queue triggers polled from Storage, timer triggers on NCRONTAB (see ``triggers``);
- ``POST /admin/functions/{name}`` running a non-HTTP function now (202);
- ``GET /admin/metrics``: the app's counters in Prometheus text format (see ``metrics``);
  both admin routes answer loopback callers only;
- JSON log lines: one per invocation, and the app's own records;
- SIGINT/SIGTERM: stop taking work, give what runs a grace period (10 s, the real host's
  drain limit), stop what it started, exit 0; what still runs after the grace is abandoned
  (exit 1), and a second signal ends the process at once (exit 128 + signal).

It exists because Core Tools cannot be installed here; where they can, ``func start`` runs
the same app.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage

from devtools import jsonlog, metrics
from devtools.cors import CorsConfigError, CorsPolicy
from devtools.functions import FunctionSpec, IndexingError, Invoker, index_functions
from devtools.hostconfig import (
    ConfigError,
    HostConfig,
    apply_settings,
    load_host_config,
    load_local_settings,
)
from devtools.ncrontab import ScheduleError, parse_schedule
from devtools.routing import RouteTable, RouteTemplateError, order_key
from devtools.triggers import QueueListener, TimerRunner

log = logging.getLogger("host")

DEFAULT_PORT = 7071
EXIT_CONFIG = 2
EXIT_ABANDONED = 1  # invocations still ran when the grace period ended
# How long a stop waits for running invocations: the Functions host drains its language
# worker for at most WorkerProcessCountOptions.ProcessShutdownTimeout (10 s) and then
# shuts the worker down (azure-functions-host, src/WebJobs.Script/Workers/Rpc/
# FunctionRegistration/RpcFunctionInvocationDispatcher.cs, ShutdownAsync). Bounded also by
# host.json functionTimeout.
SHUTDOWN_GRACE_SECONDS = 10.0
MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's request size limit
# Kestrel keeps accepting under a burst (its backlog is the OS's, 512 by default in .NET);
# Python's default listen backlog of 5 resets connections beyond it.
LISTEN_BACKLOG = 512
# An HTTP method is an RFC 9110 token; Kestrel answers 400 to anything else.
_METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
EMPTY: tuple[int, dict[str, str], bytes] = (404, {}, b"")


def _problem(status: int, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(
        {
            "type": f"/problems/{'not-found' if status == 404 else 'host-error'}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    return status, {"Content-Type": "application/problem+json"}, body


class FunctionsHost:
    def __init__(
        self,
        app: Any,
        config: HostConfig,
        settings: Mapping[str, str],
        cors: CorsPolicy | None = None,
        shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        self.shutdown_grace = shutdown_grace
        self.config = config
        self.settings = settings
        self.cors = cors
        self.specs = {spec.name.lower(): spec for spec in index_functions(app)}
        self.routes: RouteTable[FunctionSpec] = RouteTable(prefix=config.route_prefix)
        # Validated in name order, as the host does, so that a conflict names the function
        # that keeps the route. The host would load the others and leave this one in error
        # (its route then answers 404); this host refuses to start, so that CI sees it.
        for spec in sorted(self.specs.values(), key=lambda s: order_key(s.name)):
            if spec.trigger != "http":
                continue
            try:
                self.routes.add(
                    spec.name, spec.binding.get("route"), spec.binding.get("methods"), spec
                )
            except RouteTemplateError as exc:
                raise IndexingError(f"The '{spec.name}' function is in error: {exc}") from exc
        limits = config.http
        self._http_slots = (
            threading.BoundedSemaphore(limits.max_concurrent_requests)
            if limits.max_concurrent_requests > 0
            else None
        )
        self._outstanding = 0
        self._outstanding_lock = threading.Lock()
        threads = settings.get("PYTHON_THREADPOOL_THREAD_COUNT")
        self.invoker = Invoker(
            max_workers=int(threads) if threads else None, timeout=config.function_timeout
        )
        host_id = settings.get("AzureFunctionsWebHost__hostid") or "local-" + (
            os.uname().nodename.lower()[:20] or "host"
        )
        self.timers: dict[str, TimerRunner] = {}
        self.listeners: dict[str, QueueListener] = {}
        for spec in self.specs.values():
            if spec.trigger == "timer":
                try:
                    schedule = parse_schedule(spec.binding["schedule"], settings)
                except ScheduleError as exc:
                    raise IndexingError(f"function {spec.name!r}: {exc}") from exc
                self.timers[spec.name] = TimerRunner(
                    spec, schedule, self.invoker, settings, host_id
                )
            elif spec.trigger == "queue":
                try:
                    self.listeners[spec.name] = QueueListener(
                        spec, settings, config.queues, self.invoker, config.function_timeout
                    )
                except (ValueError, ScheduleError) as exc:
                    raise IndexingError(f"function {spec.name!r}: {exc}") from exc
        self.server: ThreadingHTTPServer | None = None
        self.bound_address = "127.0.0.1"
        self._in_flight = 0
        self._in_flight_lock = threading.Condition()
        self.stopping = threading.Event()

    # -- HTTP ----------------------------------------------------------------------------

    def handle_http(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        remote: str = "127.0.0.1",
    ) -> tuple[int, dict[str, str], bytes]:
        if self.cors is None:
            return self._route(method, target, headers, body, base_url, remote)
        preflight, cors_headers = self.cors.headers(method, headers)
        if preflight:  # answered by the CORS middleware, before routing, on any path
            return 204, cors_headers, b""
        status, response_headers, payload = self._route(
            method, target, headers, body, base_url, remote
        )
        return status, {**response_headers, **cors_headers}, payload

    def _route(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        remote: str,
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        path = split.path
        if path.rstrip("/").lower().startswith("/admin/functions/") and method == "POST":
            if not ipaddress.ip_address(remote).is_loopback:
                return _problem(404, "Not Found", "the admin API answers loopback callers only")
            return self._admin_invoke(path.rstrip("/").split("/")[-1], body)
        if path.rstrip("/").lower() == "/admin/metrics" and method in ("GET", "HEAD"):
            if not ipaddress.ip_address(remote).is_loopback:
                return _problem(404, "Not Found", "the admin API answers loopback callers only")
            return 200, {"Content-Type": metrics.CONTENT_TYPE}, metrics.prometheus_text()
        match, path_matched = self.routes.resolve(path, method)
        if match is None:
            # The host's routing answers 404 with an empty body both for a path no template
            # matches and for a method no matching route accepts (not 405; see routing).
            log.info(
                "No function for %s %s",
                method,
                path,
                extra={"event": "http.no_route", "method": method, "path": path,
                       "path_matched": path_matched},
            )  # fmt: skip
            return EMPTY
        spec = match.route.target
        params: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            # ASP.NET joins repeated query keys with a comma.
            params[key] = f"{params[key]},{value}" if key in params else value
        # As the Azure front end does: the peer address appended to X-Forwarded-For.
        headers = {k: v for k, v in headers.items() if k.lower() != "x-forwarded-for"} | {
            "X-Forwarded-For": ", ".join(
                [v for k, v in headers.items() if k.lower() == "x-forwarded-for"] + [remote]
            )
        }
        request = func.HttpRequest(
            method=method,
            url=base_url + target,
            headers=dict(headers),
            params=params,
            route_params=match.params,
            body=body,
        )
        if not self._enter_throttle():
            return 429, {}, b""  # HttpThrottleMiddleware.RejectRequest: 429, no body
        try:
            outcome = self.invoker.invoke(spec, request, {"method": method, "path": path})
        finally:
            self._leave_throttle()
        if not outcome.succeeded:
            return 500, {"Content-Length": "0"}, b""
        return self._http_response(spec, outcome.value)

    def _enter_throttle(self) -> bool:
        """Take a place in the queue of function requests and wait for a running slot."""
        limit = self.config.http.max_outstanding_requests
        with self._outstanding_lock:
            if 0 < limit <= self._outstanding:
                return False
            self._outstanding += 1
        if self._http_slots is not None:
            self._http_slots.acquire()
        return True

    def _leave_throttle(self) -> None:
        if self._http_slots is not None:
            self._http_slots.release()
        with self._outstanding_lock:
            self._outstanding -= 1

    @staticmethod
    def _http_response(spec: FunctionSpec, value: Any) -> tuple[int, dict[str, str], bytes]:
        if value is None:
            return 204, {}, b""
        if isinstance(value, (str, bytes)):
            value = func.HttpResponse(value)
        if not isinstance(value, func.HttpResponse):
            log.error(
                "Function '%s' returned %s, not an HttpResponse", spec.name, type(value).__name__
            )
            return 500, {}, b""
        headers = {k: v for k, v in value.headers.items()}
        if not any(k.lower() == "content-type" for k in headers):
            mimetype = value.mimetype or "text/plain"
            charset = value.charset or "utf-8"
            headers["Content-Type"] = f"{mimetype}; charset={charset}"
        return value.status_code, headers, value.get_body() or b""

    def _admin_invoke(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        spec = self.specs.get(name.lower())
        if spec is None:
            return _problem(404, "Not Found", f"no function named {name!r}")
        if spec.trigger == "http":
            return _problem(400, "Bad Request", f"{name!r} is an HTTP function; call its route")
        try:
            payload = json.loads(body or b"{}")
            value = payload.get("input", "") if isinstance(payload, dict) else None
        except ValueError:
            value = None
        if not isinstance(value, (str, type(None))):
            value = json.dumps(value)
        if value is None:
            return _problem(400, "Bad Request", 'the body must be {"input": "..."}')

        def run() -> None:
            if spec.trigger == "timer":
                self.timers[spec.name].invoke(past_due=False, source="admin")
            else:
                message = QueueMessage(
                    id=str(uuid.uuid4()),
                    body=value.encode("utf-8"),
                    dequeue_count=1,
                    insertion_time=None,
                    pop_receipt=None,
                )
                self.invoker.invoke(spec, message, {"reason": "admin"})

        threading.Thread(target=run, name=f"admin-{spec.name}", daemon=True).start()
        return 202, {"Content-Length": "0"}, b""

    # -- lifecycle -----------------------------------------------------------------------

    def serve(self, host: str, port: int) -> None:
        """Bind, start triggers, block until a stop signal, then shut down gracefully."""
        handler = _make_handler(self)
        self.server = _Server((host, port), handler)
        self.bound_address = f"{host}:{port}"
        for listener in self.listeners.values():
            listener.start()
        for timer in self.timers.values():
            timer.start()
        self._print_banner(host, port)
        server_thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="http"
        )
        server_thread.start()
        log.info("Host started", extra={"event": "host.started", "port": port})
        while not self.stopping.wait(0.5):
            pass
        drained = self.shutdown()
        server_thread.join(timeout=5)
        if not drained:
            # Threads still inside an invocation (a storage call retrying against a dead
            # endpoint, a function that never returns) would keep the interpreter from
            # exiting: the thread pool's exit hook joins them. Abandon them, as the real host
            # shuts its worker down after the grace.
            _exit_now(EXIT_ABANDONED)

    def request_stop(self, signum: int = signal.SIGTERM, *_: Any) -> None:
        """The signal handler: the first signal starts a graceful stop, a second one (Ctrl-C
        again, or SIGTERM) ends the process at once."""
        if self.stopping.is_set():
            log.warning("Host stopping now: second signal, running invocations abandoned",
                        extra={"event": "host.killed", "signal": int(signum)})  # fmt: skip
            _exit_now(128 + int(signum))
        self.stopping.set()

    def shutdown(self) -> bool:
        """Stop taking work and wait up to the grace period for what runs; True when
        everything finished in time."""
        grace = min(self.shutdown_grace, float(self.config.function_timeout))
        log.info("Host stopping: no new work; waiting up to %ss for running invocations",
                 f"{grace:g}", extra={"event": "host.stopping"})  # fmt: skip
        deadline = time.monotonic() + grace
        if self.server is not None:
            self.server.shutdown()
        for listener in self.listeners.values():
            listener.stop()
        for timer in self.timers.values():
            timer.stop()
        with self._in_flight_lock:
            while self._in_flight and time.monotonic() < deadline:
                self._in_flight_lock.wait(0.2)
            running = self._in_flight
        for listener in self.listeners.values():
            listener.join(max(0.0, deadline - time.monotonic()))
        drained = self.invoker.wait_idle(max(0.0, deadline - time.monotonic()))
        drained = drained and not running
        drained = drained and not any(t.is_alive() for t in self.listeners.values())
        self.invoker.close(0.0)
        flusher = threading.Thread(target=_flush_telemetry, name="telemetry-flush", daemon=True)
        flusher.start()  # spans and metrics still held by the app's exporter, bounded
        flusher.join(max(2.0, deadline - time.monotonic()))
        if self.server is not None:
            self.server.server_close()
        if drained:
            log.info("Host stopped", extra={"event": "host.stopped"})
        else:
            log.warning("Host stopped after the %ss grace period: running work abandoned",
                        f"{grace:g}", extra={"event": "host.abandoned"})  # fmt: skip
        return drained

    def enter_request(self) -> bool:
        with self._in_flight_lock:
            if self.stopping.is_set():
                return False
            self._in_flight += 1
            return True

    def leave_request(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
            self._in_flight_lock.notify_all()

    def _print_banner(self, host: str, port: int) -> None:
        shown = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host
        lines = ["", "Functions:", ""]
        for spec in sorted(self.specs.values(), key=lambda s: s.name):
            if spec.trigger == "http":
                methods = ",".join(spec.binding.get("methods") or ["ALL"])
                prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
                route = spec.binding.get("route") or spec.name
                lines.append(f"  {spec.name}: [{methods}] http://{shown}:{port}{prefix}/{route}")
            else:
                lines.append(f"  {spec.name}: {spec.trigger}Trigger")
        lines.append("")
        print("\n".join(lines), flush=True)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def _make_handler(host: FunctionsHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LocalFunctionsHost"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle's algorithm
            # and the client's delayed ACK add ~40 ms to every keep-alive response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _read_body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                size = 0
                while True:
                    line = self.rfile.readline()
                    length = int(line.split(b";")[0].strip() or b"0", 16)
                    if length == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    size += length
                    if size > MAX_BODY_BYTES:
                        return None
                    chunks.append(self.rfile.read(length))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return None
            return self.rfile.read(length) if length else b""

        def _dispatch(self) -> None:
            if not _METHOD_TOKEN.fullmatch(self.command):
                self._send(400, {}, b"", close=True)
                return
            if not host.enter_request():
                self._send(503, {"Retry-After": "1"}, b"", close=True)
                return
            try:
                try:
                    body = self._read_body()
                except ValueError:
                    self._send(400, {}, b"", close=True)
                    return
                if body is None:
                    self._send(413, {}, b"", close=True)
                    return
                headers: dict[str, str] = {}
                for key, value in self.headers.items():
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
                base = f"http://{self.headers.get('Host') or host.bound_address}"
                try:
                    status, response_headers, payload = host.handle_http(
                        self.command, self.path, headers, body, base, self.client_address[0]
                    )
                except Exception:  # noqa: BLE001 - the host must answer even if it has a bug
                    log.error("Host error\n%s", traceback.format_exc())
                    status, response_headers, payload = 500, {}, b""
                if self.command == "HEAD":
                    payload = b""
                self._send(status, response_headers, payload, close=host.stopping.is_set())
            finally:
                host.leave_request()

        def _send(
            self, status: int, headers: Mapping[str, str], payload: bytes, close: bool = False
        ) -> None:
            try:
                self.send_response_only(status, HTTPStatus(status).phrase)
            except ValueError:
                self.send_response_only(status)
            self.send_header("Date", self.date_time_string())
            for key, value in headers.items():
                if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, PROPFIND, ...) goes through routing like the rest,
            # as with Kestrel; BaseHTTPRequestHandler would answer 501 with an HTML page.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # A request the server cannot parse (bad request line, headers too long...):
            # Kestrel answers the status with an empty body and closes; no HTML page.
            self.close_connection = True
            # An unparsed request line leaves HTTP/0.9, which would suppress the status line.
            self.request_version = "HTTP/1.1"
            with contextlib.suppress(OSError):
                self._send(code, {}, b"", close=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one log line per invocation is written by the invoker

    return Handler


def _load_app(module_name: str) -> Any:
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, func.FunctionApp):
        candidates = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
        if len(candidates) != 1:
            raise IndexingError(f"{module_name} must define one azure.functions.FunctionApp")
        app = candidates[0]
    return app


def _flush_telemetry() -> None:
    try:
        metrics.flush()
    except Exception:
        log.warning("telemetry not flushed", exc_info=True)


def _exit_now(code: int) -> None:
    """End the process without waiting for any thread (logs flushed first)."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.host", description="Run a Python v2 Functions app locally."
    )
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default 7071)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--app", default="function_app", help="module defining the FunctionApp")
    parser.add_argument("--settings", default="local.settings.json", type=Path)
    parser.add_argument("--script-root", default=".", type=Path, help="folder with host.json")
    parser.add_argument(
        "--cors", default=None, help="comma-separated CORS origins (default: Host.CORS)"
    )
    parser.add_argument(
        "--cors-credentials",
        default=None,
        choices=["true", "false"],
        help="allow credentials on CORS requests (default: Host.CORSCredentials)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=SHUTDOWN_GRACE_SECONDS,
        help="seconds a stop waits for running invocations (default 10, as the real host)",
    )
    args = parser.parse_args(argv)

    jsonlog.configure()
    try:
        document = load_local_settings(args.settings)
        apply_settings(document.get("Values", {}), os.environ)
        config = load_host_config(args.script_root / "host.json")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    host_section = document.get("Host", {})
    port = args.port or int(host_section.get("LocalHttpPort") or DEFAULT_PORT)
    try:
        cors = CorsPolicy.from_setting(
            args.cors if args.cors is not None else host_section.get("CORS"),
            args.cors_credentials
            if args.cors_credentials is not None
            else host_section.get("CORSCredentials", False),
        )
    except CorsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG

    sys.path.insert(0, str(args.script_root.resolve()))
    try:
        app = _load_app(args.app)
        host = FunctionsHost(app, config, dict(os.environ), cors, args.shutdown_grace)
    except IndexingError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - the app failed to import: say why, as func start does
        traceback.print_exc()
        print(f"error: the app could not be loaded: {exc}", file=sys.stderr, flush=True)
        return 1

    signal.signal(signal.SIGINT, host.request_stop)
    signal.signal(signal.SIGTERM, host.request_stop)
    try:
        host.serve(args.bind, port)
    except OSError as exc:
        print(f"error: cannot listen on {args.bind}:{port}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
