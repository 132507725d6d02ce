"""The weather refresh: every subscribed city once per run, inside the provider's budget.

- The cities come from the subscribed set (one partition query; no user is read).
- Batches of ``provider.max_batch`` cities, one upstream request each (Open-Meteo: 50
  coordinates a request, the hourly forecast in the same request; OpenWeatherMap: one city
  a request, plus its forecast request: ``provider.requests_per_batch`` claims a batch).
- Before each request a claim on the shared budget (``RequestBudget``: at most
  ``WEATHER_RATE_LIMIT_PER_MINUTE`` claims in any window, in Table Storage, so across
  instances and overlapping runs). A provider's 429 blocks the budget for its Retry-After,
  for every instance.
- What cannot go now (the budget is spent, or blocked) is not dropped and not burst: the
  remaining cities go to the ``weather-refresh`` queue in messages of one window's worth,
  each invisible until its window (``refresh_weather_deferred`` takes them from there and
  does the same, deferring again what it cannot do).
- Each fresh observation goes into the cache /api/weather reads, and into the
  observations kept 7 days for the cards' trend (``ObservationLog``; a failure there is
  logged, never fails the city). A city is published
  (``{"event": "weather.updated", "city_id", "weather"}`` to group ``city.<city_id>``)
  only when what subscribers see changed (shared/domain/subscriptions.fingerprint) since
  the last push; the fingerprint of a push is recorded only once it was sent, so a failed
  push is tried again by the next run. Publishing never fails the refresh.
- Each city once per run: a city refreshed since the run began (by an overlapping run, or
  a message delivered twice) is skipped.
- Failures of a batch are logged and counted, never abort the run. One summary log line
  per run: cities, requests, 429s, published, failed, deferred, duration.
"""

from __future__ import annotations

import contextvars
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import telemetry
from shared.domain.errors import UpstreamRateLimited, UpstreamUnavailable
from shared.domain.subscriptions import SubscribedCity, city_group, fingerprint
from shared.domain.weather import FORECAST_HOURS, CachedObservation
from shared.logging import get_logger
from shared.queues import REFRESH_QUEUE as REFRESH_QUEUE  # re-exported
from shared.services.weather import render

if TYPE_CHECKING:
    from shared.domain.weather import Units
    from shared.ports import (
        Clock,
        MessageQueue,
        ObservationCache,
        ObservationLog,
        RealtimePublisher,
        RequestBudget,
        SubscriptionRepository,
        WeatherProvider,
    )

log = get_logger("app.refresh")

UNITS: Units = "metric"
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 60
MAX_IDS_PER_MESSAGE = 1500  # ~30 KB of JSON, under the 64 KB of a queue message in base64


@dataclass
class RefreshSummary:
    trigger: str
    cities: int = 0
    refreshed: int = 0
    skipped: int = 0
    requests: int = 0
    rate_limited: int = 0
    failed: int = 0
    published: int = 0
    publish_failures: int = 0
    deferred: int = 0
    messages: int = 0
    duration_ms: float = 0.0


@dataclass
class _Outcome:
    refreshed: int = 0
    failed: int = 0
    published: int = 0
    publish_failures: int = 0


class RefreshService:
    def __init__(
        self,
        provider: WeatherProvider,
        subscriptions: SubscriptionRepository,
        cache: ObservationCache,
        budget: RequestBudget,
        queue: MessageQueue,
        realtime: RealtimePublisher,
        clock: Clock,
        *,
        limit_per_window: int,
        window_seconds: float,
        max_run_seconds: float = 240.0,
        observations: ObservationLog | None = None,
    ) -> None:
        self.provider = provider
        self.subscriptions = subscriptions
        self.cache = cache
        self.budget = budget
        self.queue = queue
        self.realtime = realtime
        self.clock = clock
        self.limit = limit_per_window
        self.window = window_seconds
        self.max_run_seconds = max_run_seconds
        self.observations = observations
        self.budget_key = f"weather:{provider.name}"
        self.requests_per_batch = max(1, provider.requests_per_batch)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="refresh")

    # -- the two doors ------------------------------------------------------------------

    def run(self) -> RefreshSummary:
        """The timer: every subscribed city."""
        summary = RefreshSummary("timer")
        started, perf = self.clock.now(), time.perf_counter()
        cities = self.subscriptions.subscribed_cities()
        summary.cities = len(cities)
        todo = [c for c in cities if not _refreshed_since(c, started)]
        summary.skipped = len(cities) - len(todo)
        self._work(todo, started, summary)
        return self._finish(summary, perf)

    def run_deferred(self, body: str) -> RefreshSummary:
        """A ``weather-refresh`` message: ``{"run": iso time, "cities": [ids]}``."""
        summary = RefreshSummary("queue")
        perf = time.perf_counter()
        try:
            payload = json.loads(body)
            started = datetime.fromisoformat(payload["run"])
            ids = [str(i) for i in payload["cities"]]
        except (ValueError, KeyError, TypeError):
            log.error("weather-refresh message ignored: not ours", extra={"body": body[:200]})
            return summary
        summary.cities = len(ids)
        todo: list[SubscribedCity] = []
        for city_id in ids:
            known = self.subscriptions.subscribed_city(city_id)  # None: nobody follows it now
            if known is not None and not _refreshed_since(known, started):
                todo.append(known)
        summary.skipped = len(ids) - len(todo)
        self._work(todo, started, summary)
        return self._finish(summary, perf)

    # -- the work -------------------------------------------------------------------------

    def _work(self, todo: list[SubscribedCity], started: datetime, summary: RefreshSummary) -> None:
        size = max(1, self.provider.max_batch)
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        began = self.clock.now()
        for index, batch in enumerate(batches):
            if (self.clock.now() - began).total_seconds() > self.max_run_seconds:
                self._defer(batches[index:], 0.0, started, summary)
                return
            wait = self._claim()
            if wait > 0:
                self._defer(batches[index:], wait, started, summary)
                return
            summary.requests += self.requests_per_batch
            try:
                observations = self.provider.current([c.city for c in batch], UNITS)
            except UpstreamRateLimited as exc:
                summary.rate_limited += 1
                log.warning("provider rate limit: refresh paused",
                            extra={"provider": self.provider.name,
                                   "retry_after": exc.retry_after})  # fmt: skip
                try:
                    self.budget.block(self.budget_key, exc.retry_after)
                finally:
                    self._defer(batches[index:], exc.retry_after, started, summary)
                return
            except UpstreamUnavailable as exc:
                summary.failed += len(batch)
                log.warning("refresh batch failed", extra={"provider": self.provider.name,
                            "cities": len(batch), "error": str(exc)})  # fmt: skip
                continue
            # A batch's cities are stored and pushed on a few threads: each is a storage
            # write or two and maybe a push, independent of the others.
            # (Each task in a copy of this context: its log lines keep the invocation id.)
            outcomes = self._pool.map(
                lambda context, known, observation: context.run(
                    self._store_and_publish, known, observation
                ),
                [contextvars.copy_context() for _ in batch],
                batch,
                [observations.get(known.city.id) for known in batch],
            )
            for outcome in outcomes:
                summary.refreshed += outcome.refreshed
                summary.failed += outcome.failed
                summary.published += outcome.published
                summary.publish_failures += outcome.publish_failures

    def _claim(self) -> float:
        """Claim every request a batch costs (OpenWeatherMap: current weather and its
        forecast); a claim refused half way leaves the earlier one spent, which only ever
        errs on the safe side of the provider's limit."""
        for _ in range(self.requests_per_batch):
            wait = self.budget.claim(self.budget_key)
            if wait > 0:
                return wait
        return 0.0

    def _store_and_publish(self, known: SubscribedCity, observation: Any) -> _Outcome:
        city = known.city
        if observation is None:
            log.warning("provider answered without a city", extra={"city_id": city.id})
            return _Outcome(failed=1)
        now = self.clock.now()
        try:
            self.cache.put(self.provider.name, UNITS, CachedObservation(city, observation, now))
        except Exception:  # one city's storage failure must not end the run
            log.warning("caching a refreshed city failed", exc_info=True,
                        extra={"city_id": city.id})  # fmt: skip
            return _Outcome(failed=1)
        outcome = _Outcome(refreshed=1)
        if self.observations is not None:
            first_of_day = known.refreshed_at is None or known.refreshed_at.date() != now.date()
            try:
                self.observations.record(city.id, observation, first_of_day=first_of_day)
            except Exception:  # the trend misses a point; the refresh goes on
                log.warning("recording an observation failed", exc_info=True,
                            extra={"city_id": city.id})  # fmt: skip
        published: str | None = None
        seen = fingerprint(observation)
        if seen != known.published:
            message = weather_updated(
                city.id, render(city, observation, self.provider.name, cached=False, stale=False)
            )
            try:
                self.realtime.send_to_group(city_group(city.id), message)
                published = seen
                outcome.published = 1
            except Exception:  # a push failure never fails the refresh
                outcome.publish_failures = 1
                log.warning("publishing a refreshed city failed", exc_info=True,
                            extra={"city_id": city.id})  # fmt: skip
        try:
            self.subscriptions.mark_refreshed(city.id, now, published)
        except Exception:
            log.warning("recording a refresh failed", exc_info=True, extra={"city_id": city.id})
        return outcome

    def _defer(
        self,
        batches: list[list[SubscribedCity]],
        wait: float,
        started: datetime,
        summary: RefreshSummary,
    ) -> None:
        """The rest to the queue: one message per window's worth of requests, the first
        visible when the budget allows, the next one window later, and so on."""
        per_window = self.limit // self.requests_per_batch * max(1, self.provider.max_batch)
        per_message = max(1, min(per_window, MAX_IDS_PER_MESSAGE))
        ids = [known.city.id for batch in batches for known in batch]
        run = started.isoformat()
        for number, start in enumerate(range(0, len(ids), per_message)):
            chunk = ids[start : start + per_message]
            # A queue message can wait 7 days at most (a Retry-After beyond that is capped).
            delay = min(math.ceil(wait + number * self.window), MAX_VISIBILITY_SECONDS)
            self.queue.send(json.dumps({"run": run, "cities": chunk}),
                            visibility_timeout=delay or None)  # fmt: skip
            summary.messages += 1
        summary.deferred += len(ids)

    def _finish(self, summary: RefreshSummary, perf: float) -> RefreshSummary:
        summary.duration_ms = round((time.perf_counter() - perf) * 1000, 1)
        telemetry.count("refresh.runs", trigger=summary.trigger)
        telemetry.count("refresh.cities_refreshed", summary.refreshed)
        log.info("weather refresh", extra=asdict(summary))
        return summary


EVENT_MAX_BYTES = 8 * 1024  # API.md: a weather.updated message is at most 8 KiB


def weather_updated(city_id: str, weather: dict[str, Any]) -> dict[str, Any]:
    """The ``weather.updated`` message: what a card redraws from (the weather body: the
    numbers, and the forecast hours its chart shows, at most ``FORECAST_HOURS``), never
    over ``EVENT_MAX_BYTES`` of JSON: should a body still be larger (a provider answering
    absurdly long strings), the forecast's last hours are dropped, then the forecast."""
    forecast = weather.get("forecast")
    if forecast is not None:
        forecast = {"hours": forecast["hours"][:FORECAST_HOURS]}
    message = _jsonable({"event": "weather.updated", "city_id": city_id,
                         "weather": {**weather, "forecast": forecast}})  # fmt: skip
    hours = (message["weather"].get("forecast") or {}).get("hours")
    while _size(message) > EVENT_MAX_BYTES and hours:
        hours.pop()
    if _size(message) > EVENT_MAX_BYTES:
        message["weather"]["forecast"] = None
    return message


def _size(message: dict[str, Any]) -> int:
    # As the Web PubSub SDK serializes a dict (json.dumps defaults: spaces, \u escapes):
    # the largest of the ways it could travel.
    return len(json.dumps(message).encode())


def _refreshed_since(known: SubscribedCity, moment: datetime) -> bool:
    return known.refreshed_at is not None and known.refreshed_at >= moment


def _jsonable(message: dict[str, Any]) -> dict[str, Any]:
    """The message as JSON values (``observed_at`` as ISO 8601 with ``Z``)."""
    return dict(json.loads(json.dumps(message, default=_default)))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {type(value).__name__}")
