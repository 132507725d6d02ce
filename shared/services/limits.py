"""Abuse limits: which requests are counted, per what, and how many are allowed.

Every limit is a GCRA rate (shared/domain/ratelimits.py): ``limit`` requests in a burst,
then one more every ``period / limit``. A refused request answers 429 ``rate-limited``
with ``Retry-After`` (the seconds until one more is allowed) and is not counted. The
counts live in Table Storage (``ratelimits``), so they hold across instances.
``RATE_LIMITS_ENABLED=false`` (load tests and benches only) wires a limiter that allows
everything.

Keys: an account is its case-folded e-mail address, whether or not an account exists
(a limit that only known accounts hit would tell which addresses have one); a client is
its address as the front end saw it (shared.http.client_address; an IPv6 client by its
/64); a user is the token's subject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.domain.errors import RateLimited
from shared.domain.ratelimits import Rate
from shared.logging import get_logger
from shared.ports import RateLimiter

log = get_logger("app.limits")

MINUTE, HOUR = 60, 3600

# Wrong passwords (and unknown addresses) per account: the 6th quick failure is refused,
# then one more try every 3 minutes. While refused, even the right password gets 429:
# otherwise a 200 would still tell the guesser when a guess was right. Kept beside the
# e-mail index entry (shared/adapters/table_accounts.py), which a login reads anyway, so
# it costs a right password no storage call; the AccountService applies it.
LOGIN_FAILURES_PER_ACCOUNT = Rate("login-account", 5, 15 * MINUTE)
LOGIN_PER_CLIENT = Rate("login-client", 30, 5 * MINUTE)  # every attempt; shared NATs too
REGISTER_PER_ACCOUNT = Rate("register-account", 5, HOUR)  # each one e-mails the address
REGISTER_PER_CLIENT = Rate("register-client", 10, HOUR)
RESEND_PER_ACCOUNT = Rate("resend-account", 5, HOUR)  # besides one e-mail per 60 s
RESEND_PER_CLIENT = Rate("resend-client", 10, HOUR)
SOCIAL_SIGN_IN_PER_CLIENT = Rate("social-sign-in-client", 30, 5 * MINUTE)
JOBS_PER_USER = Rate("job-create", 30, 10 * MINUTE)
BIDS_PER_USER = Rate("bid-create", 30, 10 * MINUTE)
# Weather lookups that would reach the provider (a name the index does not know, a city
# not freshly cached), per client address or signed-in user; cached and indexed lookups
# are not counted. Besides, every upstream call claims from the provider's budget.
WEATHER_UPSTREAM_PER_CLIENT = Rate("weather-upstream", 30, 5 * MINUTE)


@dataclass
class AbuseLimits:
    """The limits as the services and functions use them; each method raises RateLimited."""

    limiter: RateLimiter
    enabled: bool = True  # False: RATE_LIMITS_ENABLED=false (the limiter allows all)

    def enforce(self, rate: Rate, key: str) -> None:
        """Count one request for ``key``; 429 when over ``rate``."""
        self._refuse_if_waiting(rate, self.limiter.hit(rate, key))

    # -- the hooks of each route ------------------------------------------------------------

    def login(self, client: str) -> None:
        """Per client; the per-account failures are the AccountService's (see above)."""
        self.enforce(LOGIN_PER_CLIENT, client)

    def register(self, client: str) -> None:
        self.enforce(REGISTER_PER_CLIENT, client)

    def register_again(self, account: str) -> None:
        """A registration that would replace a pending one of the same address (a new
        address needs no count of its own: nothing was registered for it yet)."""
        self.enforce(REGISTER_PER_ACCOUNT, account)

    def resend(self, account: str, client: str) -> None:
        self.enforce(RESEND_PER_CLIENT, client)
        self.enforce(RESEND_PER_ACCOUNT, account)

    def social_sign_in(self, client: str) -> None:
        """For the social sign-in routes (login and callback), when they are built."""
        self.enforce(SOCIAL_SIGN_IN_PER_CLIENT, client)

    def job_creation(self, user_id: str) -> None:
        self.enforce(JOBS_PER_USER, user_id)

    def bid_creation(self, user_id: str) -> None:
        self.enforce(BIDS_PER_USER, user_id)

    def weather_upstream(self, client: str) -> None:
        """``client``: ``user:<id>`` when signed in, else the client address."""
        self.enforce(WEATHER_UPSTREAM_PER_CLIENT, client)

    def purge_expired(self) -> int:
        """The hourly timer: forget the counts that have run out (bounded storage)."""
        purged = self.limiter.purge_expired()
        log.info("expired rate limit counts purged", extra={"count": purged})
        return purged

    @staticmethod
    def refuse_if_waiting(rate: Rate, wait: float) -> None:
        """429 with Retry-After when ``wait`` (seconds) is positive."""
        AbuseLimits._refuse_if_waiting(rate, wait)

    @staticmethod
    def _refuse_if_waiting(rate: Rate, wait: float) -> None:
        if wait <= 0:
            return
        log.info("rate limited", extra={"limit": rate.name, "retry_after": math.ceil(wait)})
        raise RateLimited(
            f"Too many requests; retry in {math.ceil(wait)} s", retry_after=math.ceil(wait)
        )
