"""Ports: the Protocols the services need. Adapters implement them; fakes stand in for tests.

Each area adds its own ports here (repositories, queue, archive, weather, mailer,
sentiment, publisher). Services depend on these, never on an SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from shared.domain.accounts import OtpRecord, User, UserSummary

T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A stored value with the ETag that guards the next write of it."""

    value: T
    etag: str


@dataclass(frozen=True)
class LoginLookup:
    """What a login reads: the account (None when unknown) with its ETag, and the GCRA
    state of the address's wrong passwords (None when there were none) with its ETag."""

    user: Versioned[User] | None
    failures_tat: float | None = None
    failures_etag: str | None = None


class Clock(Protocol):
    """Time is injected: services ask the clock, tests move it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class MessageQueue(Protocol):
    """A Storage queue as the services see it (messages are base64-encoded on the wire)."""

    def send(self, body: str, *, visibility_timeout: int | None = None) -> None:
        """Enqueue ``body``; with ``visibility_timeout`` it stays invisible that many seconds."""
        ...


# -- accounts ----------------------------------------------------------------------------


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """Insert-if-absent on the e-mail key; EmailTaken when the address has an account."""
        ...

    def get(self, user_id: str) -> Versioned[User] | None:
        """One point read."""
        ...

    def find_by_email(self, email: str) -> Versioned[User] | None:
        """At most two point reads (the e-mail index, then the user)."""
        ...

    def update(self, user: User, etag: str) -> str:
        """Replace if unchanged since read (ConcurrencyConflict otherwise); the new ETag."""
        ...

    def list_page(self, limit: int, cursor: str | None) -> tuple[list[UserSummary], str | None]:
        """Users newest first (ties by id), ``limit`` at most, from an opaque cursor (a
        ValidationFailed for one that is not ours); one partition query, no scan."""
        ...

    def find_for_login(self, email: str) -> LoginLookup:
        """``find_by_email`` and the address's login-failure state in the same calls (the
        state is kept beside the e-mail index entry, for known and unknown addresses)."""
        ...

    def save_login_failures(self, email: str, tat: float, etag: str | None) -> None:
        """Store the failure TAT: insert-if-absent when ``etag`` is None, else
        replace-if-unchanged (ConcurrencyConflict otherwise). No-op for an address that
        cannot be stored (it never has an account)."""
        ...

    def purge_login_failures(self, now: datetime) -> int:
        """Delete the failure states whose TAT is before ``now`` (the same as none)."""
        ...


class OtpRepository(Protocol):
    def get(self, user_id: str) -> Versioned[OtpRecord] | None: ...

    def put(self, record: OtpRecord, etag: str | None) -> str:
        """Insert-if-absent when ``etag`` is None, else replace-if-unchanged; raises
        ConcurrencyConflict when another writer got there first. Returns the new ETag."""
        ...


# -- abuse limits ------------------------------------------------------------------------

if TYPE_CHECKING:
    from shared.domain.ratelimits import Rate


class RateLimiter(Protocol):
    """Counts requests per (rate, key) across every instance (GCRA, shared/domain/ratelimits).

    Keys are whatever identifies the caller (a case-folded e-mail, a client address, a user
    id); implementations hash them, so any string is fine and none is stored in clear.
    """

    def hit(self, rate: Rate, key: str) -> float:
        """Count one request if it is allowed and answer 0.0; when it is not, count
        nothing and answer the seconds until one would be."""
        ...

    def peek(self, rate: Rate, key: str) -> float:
        """What ``hit`` would answer, counting nothing."""
        ...

    def purge_expired(self) -> int:
        """Forget every key whose state has run out (the same as never seen); how many."""
        ...


class Mailer(Protocol):
    name: str

    def send(self, message: EmailMessage) -> None:
        """Deliver or raise (MailDeliveryError); never half-succeed silently."""
        ...


# -- social sign-in -----------------------------------------------------------------------

if TYPE_CHECKING:
    from shared.domain.social import LoginGrant, PendingSignIn, ProviderIdentity
    from shared.settings import OAuthProvider


class IdentityProvider(Protocol):
    """An OpenID Connect provider as the sign-in service sees it (authorization code flow
    with PKCE S256; shared/adapters/oidc_authlib.py)."""

    def authorization_url(
        self, provider: OAuthProvider, *, redirect_uri: str, state: str, nonce: str,
        code_verifier: str,
    ) -> str:  # fmt: skip
        """Where to send the browser (the S256 challenge of ``code_verifier`` in it)."""
        ...

    def identify(
        self, provider: OAuthProvider, *, code: str, redirect_uri: str, code_verifier: str,
        nonce: str, now: datetime,
    ) -> ProviderIdentity:  # fmt: skip
        """Exchange ``code`` (with the client secret and ``code_verifier``) and check the
        ID token (signature by the provider's JWKS, iss, aud, exp, nonce); the e-mail
        claims from it, or from userinfo when it has none. SignInFailed (provider-error)
        for anything that fails or does not check out."""
        ...


class PendingSignInRepository(Protocol):
    """Sign-ins started and not yet finished, by state (single use)."""

    def add(self, pending: PendingSignIn) -> None:
        """Insert-if-absent (ConcurrencyConflict if the state exists)."""
        ...

    def take(self, state: str) -> PendingSignIn | None:
        """The pending sign-in of ``state``, deleted as it is read (guarded by its ETag):
        of two takers one gets it, the other None; None when there is none."""
        ...

    def purge_expired(self, now: datetime) -> int:
        """Delete the sign-ins that expired before ``now`` (abandoned); how many."""
        ...


class SocialLinkRepository(Protocol):
    """Which account a provider identity (issuer, subject) signs in to."""

    def find_user(self, issuer: str, subject: str) -> str | None:
        """The user id linked to this identity, or None."""
        ...

    def link(self, user_id: str, issuer: str, subject: str) -> None:
        """Link the identity to the account (idempotent); IdentityLinkedElsewhere when the
        account has another subject of this issuer (one identity per issuer per account)."""
        ...


class LoginCodeRepository(Protocol):
    """One-time login codes of finished sign-ins, by the code's hash (single use)."""

    def add(self, grant: LoginGrant) -> None:
        """Insert-if-absent (ConcurrencyConflict if the hash exists)."""
        ...

    def take(self, code_hash: str) -> LoginGrant | None:
        """As ``PendingSignInRepository.take``: read and deleted once."""
        ...

    def purge_expired(self, now: datetime) -> int:
        """Delete the codes that expired before ``now`` (never exchanged); how many."""
        ...


# -- weather -----------------------------------------------------------------------------

if TYPE_CHECKING:
    from shared.domain.weather import CachedObservation, City, Observation, Units


class WeatherProvider(Protocol):
    """A source of current weather (Open-Meteo, OpenWeatherMap, or the offline simulation).

    ``max_batch`` says how many cities one upstream request may carry, so that the refresh
    timer can batch where the provider allows it and count requests against the rate limit;
    ``requests_per_batch`` how many upstream requests one batch costs (OpenWeatherMap asks
    twice per city: current weather and its separate forecast).
    Observations carry the hourly ``forecast`` the provider gave (None when none).
    """

    name: str  # "open-meteo" | "openweather" | "simulated"
    max_batch: int
    requests_per_batch: int

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        """Current conditions keyed by ``City.id``; raises UpstreamUnavailable (with
        ``retry_after``) when the provider cannot answer, never returns a partial guess."""
        ...

    def geocode(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Places the provider knows by that name (most populous first where it says);
        an empty list when none; raises UpstreamUnavailable when it cannot answer."""
        ...


class CityDirectory(Protocol):
    """Resolves typed place names without a network call (the bundled GeoNames index)."""

    def search(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Cities of that name (normalized), optionally in one country, most populous first."""
        ...

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Names close to a name that matched nothing, for the 404's hint."""
        ...


class ObservationCache(Protocol):
    """The last observation per (provider, units, city), shared by every instance."""

    def get(self, provider: str, units: str, city_id: str) -> CachedObservation | None: ...

    def put(self, provider: str, units: str, entry: CachedObservation) -> None: ...


class GeocodeCache(Protocol):
    """The provider's geocoding answers (and misses) by normalized name and country."""

    def get(self, provider: str, key: str, now: datetime) -> tuple[bool, City | None]:
        """(known, city): known is False when nothing fresh is cached for ``key``."""
        ...

    def put(self, provider: str, key: str, city: City | None, now: datetime) -> None: ...


class HistoryRecorder(Protocol):
    """Where a signed-in caller's lookups are remembered."""

    def add(self, user_id: str, city_name: str, country: str, city_id: str, when: datetime) -> str:
        """Record one lookup; the entry's id."""
        ...


# -- sentiment ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from shared.domain.sentiment import SentimentResult


class SentimentAnalyzer(Protocol):
    """Scores the sentiment of short texts (bid comments, ``text.sentiment`` jobs).

    Implemented by the Azure AI Language adapter and by the offline VADER analyzer.
    ``max_batch`` is how many documents one upstream request carries; ``analyze`` takes
    any number and splits them, so callers only use it to size their own work.
    """

    name: str  # "azure-language" | "local-vader"
    max_batch: int

    def analyze(self, documents: Sequence[tuple[str, str]]) -> list[SentimentResult]:
        """One result per ``(id, text)`` pair, in input order (ids must be unique).

        A document the analyzer cannot score (empty text, say) is a result with ``error``
        set, never an exception; a failure of the whole request (network, auth, 5xx,
        throttling) raises UpstreamUnavailable, whose message never carries a secret."""
        ...


# -- jobs --------------------------------------------------------------------------------

if TYPE_CHECKING:
    from shared.auth import Principal
    from shared.domain.jobs import Bid, Job, PendingComment


class JobRepository(Protocol):
    """Jobs, their list copies, the due index and the dispatch watch (Table Storage)."""

    def create(self, job: Job) -> str:
        """Insert the new job (and its list copies); its ETag."""
        ...

    def save(self, job: Job, previous: Versioned[Job]) -> str:
        """Replace if the stored version is still ``previous`` (ConcurrencyConflict)."""
        ...

    def get(self, owner_id: str, job_id: str) -> Versioned[Job] | None: ...

    def find(self, job_id: str) -> Versioned[Job] | None:
        """By id alone (the id names the owner): one point read, None for a foreign id."""
        ...

    def snapshot(self, found: Versioned[Job]) -> dict[str, str] | None:
        """The stored row and version, small enough to travel in a queue message, or None."""
        ...

    def restore(self, snapshot: Any) -> Versioned[Job] | None: ...

    def status_counts(self, owner_id: str) -> dict[str, int]: ...

    def add_due(self, job: Job) -> None:
        """Index a job further ahead than a queue message can wait."""
        ...

    def due_before(self, moment: datetime, limit: int = 500) -> list[dict[str, Any]]: ...

    def remove_due(self, row_key: str) -> None: ...

    def watch(self, job: Job) -> None:
        """Record that ``job``'s current dispatch must have started by its time plus
        ``DISPATCH_GRACE`` (written before the job, so no pending job goes unwatched); the
        same row is the job's entry in the open list."""
        ...

    def unwatch(self, job: Job) -> None:
        """Delete the dispatch row of ``job``'s current dispatch (its write failed)."""
        ...

    def overdue(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """Watches past their time and not looked at since (``owner_id``, ``job_id``,
        ``dispatch_id``, ``RowKey``), oldest first: one range query of one partition."""
        ...

    def recheck_later(self, row_key: str, when: datetime) -> None: ...

    def drop_watch(self, row_key: str) -> None: ...

    def drop_watches(self, row_keys: list[str]) -> None:
        """Delete dispatch rows, many to a storage call."""
        ...

    def still_pending(self, owner_id: str, entries: list[dict[str, Any]]) -> set[str]:
        """The RowKeys of ``entries`` (dispatch rows of one owner) whose job is still
        pending with that dispatch."""
        ...


class BidRepository(Protocol):
    def add(self, bid: Bid, queued_at: datetime) -> None:
        """The bid, and its comment queued for a sentiment score; BidExists when its
        bidder has a bid on the job, TooManyBids at MAX_OPEN_BIDS_PER_JOB (atomically)."""
        ...

    def get(self, job_id: str, bid_id: str) -> Bid | None: ...

    def page_for_job(
        self, job_id: str, bidder_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Bid], str | None]:
        """Bids in the order placed (all, or one bidder's), one page from a cursor."""
        ...

    def accept(self, job_id: str, bid_id: str) -> None:
        """Mark one bid accepted; the job's other bids are read as rejected once the job
        has an assignee (``Bid.settled_by``): nothing else is rewritten."""
        ...

    def claimable_comments(self, now: datetime, limit: int) -> list[Versioned[PendingComment]]:
        """Queued comments nobody holds a claim on, oldest first."""
        ...

    def claim_comments(
        self, items: list[Versioned[PendingComment]], until: datetime
    ) -> list[Versioned[PendingComment]]:
        """Claim all of ``items`` at once (one ETag-guarded transaction), or none: the
        claimed items with the ETags of their claims, empty when another run claimed any
        of them first."""
        ...

    def release_comments(self, claimed: list[Versioned[PendingComment]]) -> None:
        """Give back the claims a failed run holds (each guarded by its claim's ETag: a
        comment claimed again since, or scored, is left alone)."""
        ...

    def set_sentiments(self, scores: list[tuple[str, str, dict[str, Any]]]) -> None:
        """``(job_id, bid_id, sentiment)`` written to the bids."""
        ...

    def clear_comments(self, keys: list[tuple[str, str]]) -> None: ...


class JobOutputStore(Protocol):
    """Blobs that jobs write (exports, reports, large results)."""

    def put(self, name: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``name`` (overwriting); the reference to give back."""
        ...

    def get(self, reference: str) -> bytes:
        """The bytes of a reference ``put`` returned; NotFound when there is none."""
        ...


class HistoryReader(Protocol):
    def export(self, user_id: str) -> list[dict[str, Any]]:
        """Every history entry of the user, newest first."""
        ...


class WeatherLookup(Protocol):
    def lookup(
        self, city: str, country: str | None, units: Units, principal: Principal | None
    ) -> dict[str, Any]: ...


# -- subscriptions and real time ---------------------------------------------------------

if TYPE_CHECKING:
    from shared.domain.subscriptions import SubscribedCity, Subscription


class SubscriptionRepository(Protocol):
    """Who follows which city (user side), and the set of cities anyone follows (city side).

    The user side is one partition per user with a version row, so that a quota check and
    the insert it allows are one guarded write. The city side answers the refresh without
    reading any user: every city with at least one subscriber, exactly.
    """

    def list_for_user(self, user_id: str) -> tuple[list[Subscription], str | None]:
        """The user's subscriptions (oldest first) and the version that guards the next
        change (None when the user never subscribed); one partition query."""
        ...

    def add_for_user(self, user_id: str, subscription: Subscription, version: str | None) -> None:
        """Insert the subscription if the user's list is still at ``version``: one
        transaction; ConcurrencyConflict when the list changed or the city is there."""
        ...

    def remove_for_user(self, user_id: str, city_id: str, version: str) -> None:
        """Delete the subscription if the user's list is still at ``version``
        (ConcurrencyConflict otherwise); one transaction."""
        ...

    def join_city(self, city: City, user_id: str) -> None:
        """Count ``user_id`` among the city's subscribers and keep the city in the
        subscribed set (idempotent)."""
        ...

    def leave_city(self, city_id: str, user_id: str) -> None:
        """Forget ``user_id`` among the city's subscribers; the city leaves the subscribed
        set when nobody is left, never while someone is (idempotent)."""
        ...

    def subscribed_cities(self) -> list[SubscribedCity]:
        """Every city with at least one subscriber: one partition query."""
        ...

    def subscribed_city(self, city_id: str) -> SubscribedCity | None:
        """One city of the set (a point read), None when nobody follows it."""
        ...

    def mark_refreshed(self, city_id: str, refreshed_at: datetime, published: str | None) -> None:
        """Record a refresh of a city still in the set (and, when not None, the
        fingerprint of what was published); a city that left the set stays out."""
        ...


class ObservationLog(Protocol):
    """What the refresh observed per city, kept for a time-range query (oldest first)."""

    def record(self, city_id: str, observation: Observation, *, first_of_day: bool) -> None:
        """Keep ``observation`` (keyed by its measurement time: recording it again changes
        nothing); ``first_of_day``: the city's first record of the UTC day, which also
        lists the city for the purge."""
        ...

    def page(
        self, city_id: str, since: datetime, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Items measured at or after ``since``, oldest first, from ``cursor``; one range
        query. ValidationFailed for a cursor that is not one of this list's."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete what was measured before ``before`` (range queries per listed city, never
        a scan); the count deleted."""
        ...


class CityWeather(Protocol):
    """What subscriptions need of the weather service: the same resolver as /api/weather
    (index, then the provider's geocoder; 404 ``city-not-found`` with suggestions) and a
    city's current weather body."""

    def resolve(self, name: str, country: str | None) -> City: ...

    def current(self, city: City, units: Units) -> dict[str, Any]: ...


class RequestBudget(Protocol):
    """Upstream requests per sliding window, shared by every instance (Table Storage).

    A claim is taken before each provider request; nothing else is counted, so the
    provider sees at most the budget's limit in any window of its length.
    """

    def claim(self, key: str) -> float:
        """Take one request now and answer 0.0, or take nothing and answer the seconds
        until one could be taken (the window is full, or the key is blocked)."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """Refuse every claim on ``key`` for ``seconds`` (a provider's 429 Retry-After)."""
        ...


class RealtimePublisher(Protocol):
    """Pushes events to connected clients (Azure Web PubSub). Failures raise; callers that
    must not fail on them (refresh, job transitions) catch and log."""

    def send_to_group(self, group: str, message: dict[str, Any]) -> None: ...

    def send_to_user(self, user_id: str, message: dict[str, Any]) -> None: ...

    def add_user_to_group(self, group: str, user_id: str) -> None: ...

    def remove_user_from_group(self, group: str, user_id: str) -> None: ...

    def client_url(self, user_id: str, groups: Sequence[str], minutes: int) -> str: ...
