"""Observations: what the refreshes recorded for a city, for the people who follow it.

GET /api/cities/{city_id}/observations?hours=N answers the last N hours (1..168), oldest
first, in pages of ``PAGE_SIZE`` (enough for 24 hours of the default 10-minute refresh in
one page). The caller must follow the city (one partition query of their own list, at most
``PLAN_PREMIUM_CITY_LIMIT`` rows); anyone else gets 404, as for a city that does not
exist. A timer purges what is older than ``RETENTION``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.errors import NotFound
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.auth import Principal
    from shared.ports import Clock, ObservationLog, SubscriptionRepository

log = get_logger("app.observations")

PAGE_SIZE = 200
RETENTION = timedelta(days=7)


class ObservationService:
    def __init__(
        self, subscriptions: SubscriptionRepository, observations: ObservationLog, clock: Clock
    ) -> None:
        self.subscriptions = subscriptions
        self.observations = observations
        self.clock = clock

    def page(
        self, principal: Principal, city_id: str, hours: int, cursor: str | None
    ) -> dict[str, Any]:
        followed, _ = self.subscriptions.list_for_user(principal.user_id)
        if not any(subscription.city.id == city_id for subscription in followed):
            raise NotFound("You do not follow this city")
        since = self.clock.now() - timedelta(hours=hours)
        items, next_cursor = self.observations.page(city_id, since, cursor, PAGE_SIZE)
        return {"items": items, "next_cursor": next_cursor}

    def purge(self) -> int:
        before = self.clock.now() - RETENTION
        deleted = self.observations.purge(before)
        log.info("observations purged", extra={"deleted": deleted, "before": before.isoformat()})
        return deleted
