"""Telemetry: counters and one trace span per invocation, at no import cost.

The app records here and nowhere else::

    telemetry.count("weather.cache_hits")
    telemetry.count("upstream.requests", provider="open-meteo")
    with telemetry.invocation("queue", "process_job", job_id=job_id): ...
    telemetry.annotate(user_id=user.user_id)

Every count goes to an in-process registry (``snapshot()``; the local host serves it as
Prometheus text at ``GET /admin/metrics``). When ``APPLICATIONINSIGHTS_CONNECTION_STRING``
is set, the first record also configures OpenTelemetry through
``azure-monitor-opentelemetry`` (imported then, never before): counts become OpenTelemetry
counters (``customMetrics`` in Application Insights), invocations become spans
(``requests``) carrying the request id, job id and user id as attributes. Without the
setting no OpenTelemetry module is ever imported.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from shared.logging import get_logger
from shared.settings import telemetry_connection_string, telemetry_entra_client_id

# Every metric the app records, with what it counts (the local host's HELP text).
METRICS: dict[str, str] = {
    "weather.cache_hits": "Weather lookups answered from the cache (memo or table)",
    "weather.cache_misses": "Weather lookups that went to the provider",
    "upstream.requests": "Requests sent to a weather provider",
    "upstream.throttled": "Provider answers 429 Too Many Requests",
    "refresh.runs": "Weather refresh runs (timer and deferred queue messages)",
    "refresh.cities_refreshed": "Cities whose weather a refresh stored",
    "jobs.started": "Job attempts started",
    "jobs.completed": "Jobs completed",
    "jobs.failed": "Jobs failed for good (attempts exhausted or not retryable)",
    "jobs.retried": "Job attempts that failed and were scheduled again",
    "otp.emails_sent": "Verification-code e-mails sent",
    "otp.emails_failed": "Verification-code e-mails that failed (the queue retries them)",
    "realtime.messages_sent": "Messages published to Web PubSub (groups or users)",
}

Key = tuple[str, tuple[tuple[str, str], ...]]

# Query parameters whose values are secrets: OpenWeatherMap's key can only travel as
# ``appid`` in the URL, and the requests/urllib3 instrumentations that
# ``configure_azure_monitor`` turns on record full URLs (``http.url``/``url.full``) and
# exception messages that quote them ("Max retries exceeded with url: ...?appid=...").
# opentelemetry-util-http's own ``redact_url`` only knows a few cloud signature names.
SECRET_QUERY_PARAMETERS = (
    "appid", "api_key", "apikey", "key", "access_token", "token", "client_secret", "code",
    "sig", "signature", "password",
)  # fmt: skip
_SECRET_IN_QUERY = re.compile(
    r"(?i)([?&;](?:" + "|".join(SECRET_QUERY_PARAMETERS) + r")=)[^&#\s'\"]*"
)
REDACTED = "REDACTED"


def redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by REDACTED."""
    return _SECRET_IN_QUERY.sub(r"\g<1>" + REDACTED, text) if "=" in text else text


def _redacted_attributes(attributes: Any) -> dict[str, Any]:
    """The string attributes of a span, event or log record that ``redact`` changes."""
    changed: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, str):
            clean = redact(value)
            if clean != value:
                changed[name] = clean
    return changed


def _redacting_processors() -> tuple[Any, Any]:
    """A SpanProcessor and a LogRecordProcessor that take secrets out of what is exported
    (defined here so that OpenTelemetry is imported only with telemetry configured)."""
    from opentelemetry.sdk._logs import LogRecordProcessor
    from opentelemetry.sdk.trace import SpanProcessor

    class RedactingSpanProcessor(SpanProcessor):
        """URL attributes are set when a client span starts: rewritten here, before any
        exporter sees them. Exception events and the status are added later: rewritten
        as the span ends (``_on_ending``, called on the live span before ``on_end``
        hands a frozen copy to the exporting processor)."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            changed = _redacted_attributes(getattr(span, "attributes", None))
            if changed:
                span.set_attributes(changed)

        def _on_ending(self, span: Any) -> None:
            from opentelemetry.sdk.trace import Event
            from opentelemetry.trace import Status

            events = getattr(span, "_events", None)
            if events:
                for index, event in enumerate(list(events)):
                    changed = _redacted_attributes(event.attributes)
                    if changed:
                        events[index] = Event(
                            event.name, {**dict(event.attributes or {}), **changed},
                            event.timestamp,
                        )  # fmt: skip
            status = getattr(span, "_status", None)
            if status is not None and status.description:
                clean = redact(status.description)
                if clean != status.description:
                    span._status = Status(status.status_code, clean)
            attributes = getattr(span, "_attributes", None)
            changed = _redacted_attributes(attributes)
            if changed and attributes is not None:
                attributes._immutable = False
                attributes.update(changed)
                attributes._immutable = True

    class RedactingLogRecordProcessor(LogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            record = getattr(log_record, "log_record", log_record)
            if isinstance(record.body, str):
                record.body = redact(record.body)
            changed = _redacted_attributes(record.attributes)
            if changed:
                record.attributes = {**dict(record.attributes or {}), **changed}

        def emit(self, log_record: Any) -> None:  # the SDK's older name of on_emit
            self.on_emit(log_record)

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return RedactingSpanProcessor(), RedactingLogRecordProcessor()


_lock = threading.Lock()
_counts: dict[Key, float] = {}
_span_attributes: ContextVar[dict[str, str | int] | None] = ContextVar("span_attrs", default=None)


class _Otel:
    """OpenTelemetry once configured: a tracer, a meter and its counters."""

    def __init__(self, connection_string: str) -> None:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import metrics, trace

        # Logs already reach Application Insights through the Functions worker: only a
        # logger nothing writes to is exported (``disable_logging`` is read from the
        # environment alone). No live metrics or performance counters: the Functions host
        # has its own, and nothing is sent anywhere but the connection string's endpoint.
        options: dict[str, Any] = {}
        client_id = telemetry_entra_client_id()
        if client_id is not None:  # Application Insights with local auth off (infra/)
            from azure.identity import ManagedIdentityCredential

            options["credential"] = ManagedIdentityCredential(client_id=client_id or None)
        span_processor, log_processor = _redacting_processors()
        configure_azure_monitor(
            **options,
            connection_string=connection_string,
            span_processors=[span_processor],  # before the exporter's: secrets out first
            log_record_processors=[log_processor],
            logger_name="weather_jobs.telemetry",
            enable_live_metrics=False,
            enable_performance_counters=False,
            # Every span, none sampled: the distro's default (no OTEL_TRACES_SAMPLER) is a
            # rate limit of 5 traces a second, which in a burst drops spans at random, failed
            # invocations and their exceptions included. As host.json's excludedTypes.
            sampling_ratio=1.0,
        )
        self.trace = trace
        self.tracer = trace.get_tracer("weather-jobs")
        self.meter = metrics.get_meter("weather-jobs")
        self.counters: dict[str, Any] = {}

    def counter(self, name: str) -> Any:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.meter.create_counter(name, description=METRICS.get(name, ""))
            self.counters[name] = counter
        return counter

    def flush(self) -> None:
        from opentelemetry import metrics

        for provider in (self.trace.get_tracer_provider(), metrics.get_meter_provider()):
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush()


_otel: _Otel | None = None
_otel_checked = False


def _opentelemetry() -> _Otel | None:
    """OpenTelemetry, configured on first use when the connection string is set."""
    global _otel, _otel_checked
    if _otel_checked:
        return _otel
    with _lock:
        if not _otel_checked:
            connection_string = telemetry_connection_string()
            if connection_string:
                try:
                    _otel = _Otel(connection_string)
                except Exception:  # noqa: BLE001 - telemetry never fails an invocation
                    get_logger("app.telemetry").warning(
                        "telemetry export not configured", exc_info=True
                    )
            _otel_checked = True
    return _otel


def count(name: str, value: float = 1, **attributes: str) -> None:
    """Add ``value`` to the counter ``name`` (one of METRICS) with these attributes."""
    if value <= 0:
        return
    key: Key = (name, tuple(sorted((k, str(v)) for k, v in attributes.items())))
    with _lock:
        _counts[key] = _counts.get(key, 0) + value
    otel = _opentelemetry()
    if otel is not None:
        otel.counter(name).add(value, attributes)


def snapshot() -> dict[Key, float]:
    """Every counter of this process: {(name, ((attribute, value), ...)): total}."""
    with _lock:
        return dict(_counts)


@contextlib.contextmanager
def invocation(trigger: str, function: str, **attributes: str | int | None) -> Iterator[None]:
    """One span for one invocation (``trigger``: http, queue or timer); ``annotate`` adds
    attributes learnt on the way (the user, the job)."""
    attrs = {k: v for k, v in attributes.items() if v is not None and v != ""}
    token = _span_attributes.set(attrs)
    otel = _opentelemetry()
    try:
        if otel is None:
            yield
            return
        kind = otel.trace.SpanKind.SERVER if trigger == "http" else otel.trace.SpanKind.CONSUMER
        with otel.tracer.start_as_current_span(
            function, kind=kind, attributes={"faas.trigger": trigger, "faas.name": function}
        ) as span:
            span.set_attributes(attrs)
            yield
    finally:
        _span_attributes.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def traced(trigger: str) -> Callable[[F], F]:
    """A queue or timer function in one span (below the trigger decorator, so that the
    function's name and parameters, which the hosts read, stay the same)::

        @bp.queue_trigger(arg_name="msg", queue_name="jobs", connection="AzureWebJobsStorage")
        @telemetry.traced("queue")
        def process_job(msg: func.QueueMessage) -> None: ...
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            message = next(iter(args), None) if args else next(iter(kwargs.values()), None)
            attributes: dict[str, str | int | None] = {}
            if trigger == "queue" and message is not None:
                attributes["messaging.message.id"] = getattr(message, "id", None)
                attributes["messaging.delivery_count"] = getattr(message, "dequeue_count", None)
            with invocation(trigger, fn.__name__, **attributes):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def annotate(**attributes: str | int | None) -> None:
    """Add attributes (``user_id``, ``job_id``, ``http.status_code``...) to the current
    invocation's span."""
    current = _span_attributes.get()
    values = {k: v for k, v in attributes.items() if v is not None}
    if current is None or not values:
        return
    current.update(values)
    otel = _opentelemetry()
    if otel is not None:
        otel.trace.get_current_span().set_attributes(values)


def flush() -> None:
    """Export what is pending now (the local host calls this when it stops)."""
    if _otel is not None:
        _otel.flush()
