"""The function index: what the host learns from ``app.get_functions()`` and how it calls a
function, the way the Python worker does (trigger argument by binding name, an optional
``context`` argument, sync functions on a thread pool, async ones on one event loop).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, RpcException, TraceContext

from devtools import jsonlog

log = __import__("logging").getLogger("host")

SUPPORTED_TRIGGERS = {"httpTrigger": "http", "queueTrigger": "queue", "timerTrigger": "timer"}


class IndexingError(Exception):
    """The app declares something this host cannot run; the message names the function."""


@dataclass
class FunctionSpec:
    name: str
    trigger: str  # "http" | "queue" | "timer"
    binding: dict[str, Any]
    user_function: Callable[..., Any]
    trigger_arg: str
    wants_context: bool
    is_async: bool
    script_dir: str = field(default_factory=os.getcwd)


def index_functions(app: Any) -> list[FunctionSpec]:
    """Read the app's function metadata; refuse bindings this host does not implement."""
    specs: list[FunctionSpec] = []
    seen: set[str] = set()
    for function in app.get_functions():
        name = function.get_function_name()
        if name.lower() in seen:
            raise IndexingError(f"two functions are named {name!r}")
        seen.add(name.lower())
        metadata = json.loads(function.get_function_json())
        bindings = metadata.get("bindings", [])
        triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise IndexingError(f"function {name!r} must have exactly one trigger")
        trigger = triggers[0]
        kind = SUPPORTED_TRIGGERS.get(trigger["type"])
        if kind is None:
            raise IndexingError(
                f"function {name!r}: trigger {trigger['type']!r} is not supported by the local "
                "host (http, queue and timer are); run it with Azure Functions Core Tools"
            )
        others = [
            b for b in bindings if b is not trigger and not (kind == "http" and b["type"] == "http")
        ]
        if others:
            kinds = ", ".join(sorted({b["type"] for b in others}))
            raise IndexingError(
                f"function {name!r}: bindings of type {kinds} are not supported by the local "
                "host; use the SDK clients from shared/container.py instead"
            )
        user_function = function.get_user_function()
        parameters = inspect.signature(user_function).parameters
        trigger_arg = trigger["name"]
        allowed = {trigger_arg, "context"}
        unknown = [p for p in parameters if p not in allowed]
        if trigger_arg not in parameters or unknown:
            raise IndexingError(
                f"function {name!r}: parameters {list(parameters)} do not match its bindings "
                f"(expected {trigger_arg!r} and optionally 'context')"
            )
        target = inspect.unwrap(user_function)
        specs.append(
            FunctionSpec(
                name=name,
                trigger=kind,
                binding=trigger,
                user_function=user_function,
                trigger_arg=trigger_arg,
                wants_context="context" in parameters,
                is_async=inspect.iscoroutinefunction(user_function)
                or inspect.iscoroutinefunction(target),
            )
        )
    return specs


class _TraceContext(TraceContext):
    def __init__(self) -> None:
        self._traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._traceparent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    def __init__(self, retry_count: int = 0) -> None:
        self._retry_count = retry_count

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:  # pragma: no cover - never retried by policy
        raise AttributeError("no retry policy")


class InvocationContext(func.Context):
    """What the worker passes as ``context``."""

    _local = threading.local()

    def __init__(self, spec: FunctionSpec, invocation_id: str) -> None:
        self._spec = spec
        self._invocation_id = invocation_id
        self._trace = _TraceContext()
        self._retry = _RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._spec.name

    @property
    def function_directory(self) -> str:
        return self._spec.script_dir

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return self._retry


@dataclass
class Outcome:
    invocation_id: str
    succeeded: bool
    value: Any = None
    error: BaseException | None = None
    duration_ms: float = 0.0


class Invoker:
    """Runs functions: sync ones on a bounded thread pool (the worker's
    PYTHON_THREADPOOL_THREAD_COUNT), async ones on a single event loop thread."""

    def __init__(self, max_workers: int | None = None, timeout: float = 300.0) -> None:
        self.timeout = timeout
        workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self.loop.run_forever, name="worker-loop", daemon=True
        )
        self._loop_thread.start()
        self._running = 0
        self._idle = threading.Condition()

    @property
    def running(self) -> int:
        return self._running

    def invoke(
        self, spec: FunctionSpec, argument: Any, extra_log: Mapping[str, Any] | None = None
    ) -> Outcome:
        """Call the function and wait for it; log one line with the outcome."""
        return self.submit(spec, argument, extra_log).result()

    def submit(
        self, spec: FunctionSpec, argument: Any, extra_log: Mapping[str, Any] | None = None
    ) -> Future[Outcome]:
        invocation_id = str(uuid.uuid4())
        with self._idle:
            self._running += 1
        context = copy_context()
        future: Future[Outcome] = Future()

        def finish(outcome: Outcome) -> None:
            self._log(spec, outcome, extra_log)
            with self._idle:
                self._running -= 1
                self._idle.notify_all()
            future.set_result(outcome)

        def run() -> None:
            context.run(self._call, spec, argument, invocation_id, finish)

        self.pool.submit(run)
        return future

    def _call(
        self,
        spec: FunctionSpec,
        argument: Any,
        invocation_id: str,
        finish: Callable[[Outcome], None],
    ) -> None:
        jsonlog.current_function.set(spec.name)
        jsonlog.current_invocation.set(invocation_id)
        kwargs = {spec.trigger_arg: argument}
        if spec.wants_context:
            kwargs["context"] = InvocationContext(spec, invocation_id)
        started = time.perf_counter()
        outcome = Outcome(invocation_id=invocation_id, succeeded=False)
        try:
            if spec.is_async:
                coroutine = spec.user_function(**kwargs)
                concurrent = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
                outcome.value = concurrent.result(timeout=self.timeout)
            else:
                outcome.value = spec.user_function(**kwargs)
            outcome.succeeded = True
        except BaseException as exc:  # the host records every failure, whatever its type
            outcome.error = exc
            log.error(
                "Function '%s' raised %s",
                spec.name,
                type(exc).__name__,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        outcome.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        finish(outcome)

    def _log(self, spec: FunctionSpec, outcome: Outcome, extra: Mapping[str, Any] | None) -> None:
        status = "Succeeded" if outcome.succeeded else "Failed"
        log.info(
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%sms)",
            spec.name,
            status,
            outcome.invocation_id,
            round(outcome.duration_ms),
            extra={
                "event": "invocation",
                "function": spec.name,
                "invocation_id": outcome.invocation_id,
                "trigger": spec.trigger,
                "outcome": status,
                "duration_ms": outcome.duration_ms,
                **(extra or {}),
            },
        )

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float) -> None:
        self.wait_idle(timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(timeout=5)
