"""The one HTTP session per process, and what every provider adapter does with answers.

Retries live in the transport (urllib3 ``Retry``) so every adapter gets the same policy:
a couple of quick retries on connection errors and 5xx for idempotent GETs, never on 429
(a rate limit is a decision the caller must honour, not a glitch to hammer through).

Provider keys travel in query strings (OpenWeatherMap accepts no other way), and urllib3
logs request URLs (retry warnings, debug lines). ``build_session`` therefore installs a
filter on the HTTP libraries' loggers that redacts secret query parameters, so a key never
reaches a log line even when another module turns on debug logging.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from shared import telemetry
from shared.domain.weather import RawResponse

if TYPE_CHECKING:
    import requests

TIMEOUT: tuple[float, float] = (3.05, 10)
"""(connect, read) seconds: connect just above a TCP retransmit window, read generous."""

RETRY_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})

SECRET_QUERY_PARAMETERS: tuple[str, ...] = ("appid", "api_key", "apikey", "key", "token")

_HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests")


def _secret_pattern(names: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(name) for name in names)
    # A parameter starts the query or follows "&"; its value runs to the next delimiter.
    return re.compile(rf"(?i)(?<![A-Za-z0-9_])({alternatives})=[^&#\s'\"]*")


_SECRET_PATTERN = _secret_pattern(SECRET_QUERY_PARAMETERS)


def redact_secrets(text: str, *secrets: str) -> str:
    """``text`` with secret query parameter values replaced by ``***``, and any literal
    ``secrets`` given removed wherever they appear (error messages echo URLs)."""
    redacted = _SECRET_PATTERN.sub(r"\1=***", text)
    for secret in secrets:
        if secret:
            redacted = redacted.replace(secret, "***")
    return redacted


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message with secret query parameters redacted.

    Attached to a logger (not a handler), so it runs before the record propagates to any
    handler, including pytest's caplog and the Functions host's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the formatter
            return True
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to the HTTP libraries' loggers (idempotent)."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
            logger.addFilter(SecretRedactingFilter())


def build_session(
    user_agent: str, *, retries: int = 2, backoff_factor: float = 0.3
) -> requests.Session:
    """A ``requests.Session`` for the whole process (connection pooling across calls).

    Retries ``retries`` times on connection errors, read errors and 500/502/503/504 for
    GET only, with exponential backoff; the last 5xx is returned, not raised
    (``raise_on_status=False``), so adapters map it like any other answer. A server's
    Retry-After on 503 is not slept on here: a function invocation must not stall; the
    adapter passes it on to the caller instead.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    install_log_redaction()
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=3,
        backoff_factor=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    return session


def retry_after_seconds(value: str | None, now: datetime, default: int) -> int:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), ``default`` when
    absent or unreadable; at least 1 so that callers never retry in a tight loop."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return max(1, int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        return default
    return max(1, int((when - now).total_seconds() + 0.999))


def report_response(
    on_response: Callable[[RawResponse], None] | None,
    raw: RawResponse,
    logger: logging.Logger,
) -> None:
    """Hand ``raw`` to the archive callback; a failing archive must not fail the lookup
    (the weather is still good), so its error is logged and swallowed here."""
    if on_response is None:
        return
    try:
        on_response(raw)
    except Exception:
        logger.exception(
            "archiving a raw %s response failed (status %s, %s)", raw.provider, raw.status, raw.url
        )


def get_json(
    session: Any,
    url: str,
    *,
    provider: str,
    display_name: str,
    clock: Any,
    timeout: Any,
    on_response: Callable[[RawResponse], None] | None,
    city_ids: tuple[str, ...],
    log: logging.Logger,
    reason: Callable[[Any], str],
    secrets: tuple[str, ...] = (),
    refusals: dict[int, tuple[str, int]] | None = None,
    default_retry_after: int = 30,
    rate_limit_retry_after: int = 60,
) -> Any:
    """GET ``url``; report the raw answer; map every failure to UpstreamUnavailable.

    Shared by the weather providers: the archive sees the answer before it is judged, and
    neither the URL nor any message carries one of ``secrets``. ``refusals`` maps a status
    to the message and Retry-After a provider wants for it (OpenWeatherMap's 401).
    """
    import requests

    from shared.domain.errors import UpstreamRateLimited, UpstreamUnavailable

    public_url = redact_secrets(url, *secrets)
    requested_at = clock.now()
    telemetry.count("upstream.requests", provider=provider)
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        log.warning("%s request failed: %s: %s", provider, type(exc).__name__,
                    redact_secrets(str(exc), *secrets))  # fmt: skip
        raise UpstreamUnavailable(
            f"{display_name} could not be reached ({type(exc).__name__})",
            retry_after=default_retry_after,
        ) from None
    report_response(
        on_response,
        RawResponse(
            provider=provider,
            url=public_url,
            status=response.status_code,
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            requested_at=requested_at,
            city_ids=city_ids,
        ),
        log,
    )
    status = response.status_code
    if refusals and status in refusals:
        message, retry_after = refusals[status]
        log.error("%s refused the request (%s): %s", provider, status, message)
        raise UpstreamUnavailable(message, retry_after=retry_after)
    if status == 429:
        telemetry.count("upstream.throttled", provider=provider)
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After"), clock.now(), rate_limit_retry_after
        )
        log.warning("%s rate limit hit; retry after %ss", provider, retry_after)
        raise UpstreamRateLimited(f"{display_name} rate limit reached", retry_after=retry_after)
    if status >= 400:
        why = redact_secrets(reason(response), *secrets)
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After"), clock.now(), default_retry_after
        )
        log.warning("%s answered %s: %s", provider, status, why)
        raise UpstreamUnavailable(
            f"{display_name} answered {status}: {why}", retry_after=retry_after
        )
    try:
        return response.json()
    except ValueError:
        raise malformed(
            provider, display_name, "the answer is not JSON", log, default_retry_after
        ) from None


def error_field(field: str) -> Callable[[Any], str]:
    """A ``reason`` for get_json: the provider's JSON error ``field``, else the HTTP reason
    phrase (proxies and load balancers answer in HTML)."""

    def reason(response: Any) -> str:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get(field), str):
            return str(payload[field])[:300]
        return str(response.reason or "error")

    return reason


def malformed(
    provider: str, display_name: str, detail: str, log: logging.Logger, retry_after: int
) -> Exception:
    """The UpstreamUnavailable for an answer whose shape we cannot use (logged once)."""
    from shared.domain.errors import UpstreamUnavailable

    log.warning("%s answer unusable: %s", provider, detail)
    return UpstreamUnavailable(
        f"{display_name} answered in an unexpected shape: {detail}", retry_after=retry_after
    )
