"""The composition root: settings -> clients and adapters, built lazily, once per process.

Functions call ``container()`` and hand it to a service. Nothing here is built at import
time (cold start): each SDK is imported and each client constructed on first use, then
reused by every invocation of this worker process. Tables, queues and blob containers are
created if missing the first time this process touches them, never per request: what
exists is learnt from one listing per storage service and process (the health probe's, when
it came first), so a new instance's first requests make no create calls for what is there.
One managed-identity credential serves every client of the process (storage, Web PubSub,
ACS e-mail, Text Analytics): one token cache, one token request per audience.

Each area adds its adapters as cached properties below, importing their SDKs inside the
property so that an unused area costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.adapters.clock import SystemClock
from shared.ports import Clock
from shared.settings import get_settings, storage_client_options

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

    from shared.adapters.blob_archive import RawResponseArchive
    from shared.adapters.blob_outputs import BlobJobOutputs
    from shared.adapters.city_index import CityIndex
    from shared.adapters.storage_queue import StorageMessageQueue
    from shared.adapters.table_budget import TableRequestBudget
    from shared.adapters.table_history import TableHistoryRepository
    from shared.adapters.table_jobs import TableBidRepository, TableJobRepository
    from shared.adapters.table_observations import TableObservationLog
    from shared.adapters.table_subscriptions import TableSubscriptionRepository
    from shared.auth import TokenService
    from shared.domain.weather import RawResponse
    from shared.passwords import PasswordHasher
    from shared.ports import Mailer, RealtimePublisher, SentimentAnalyzer, WeatherProvider
    from shared.services.accounts import AccountService
    from shared.services.jobs import JobService
    from shared.services.kinds import KindPorts
    from shared.services.limits import AbuseLimits
    from shared.services.observations import ObservationService
    from shared.services.refresh import RefreshService
    from shared.services.social import SocialSignInService
    from shared.services.subscriptions import SubscriptionService
    from shared.services.weather import WeatherService
    from shared.settings import Settings

# Built from data/cities15000.json.gz (shared/adapters/city_index_build.py; make city-index).
CITY_INDEX_PATH = Path(__file__).resolve().parent.parent / "data" / "cities.sqlite3"

# Short network timeouts: a request path should fail fast rather than hang on storage.
_CONNECTION_TIMEOUT = 5
_READ_TIMEOUT = 20


class Container:
    """Everything the services need, built on first use and kept for the process."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or get_settings()
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._blob_containers: dict[str, ContainerClient] = {}
        # Names that exist, per service ("table", "queue", "blob"), lower-case: learnt
        # from one listing (see _exists); absent until then.
        self._existing: dict[str, frozenset[str]] = {}

    # -- storage accounts -------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return storage_client_options(
            connection_timeout=_CONNECTION_TIMEOUT, read_timeout=_READ_TIMEOUT
        )

    @cached_property
    def credential(self) -> TokenCredential:
        """Managed identity in Azure, developer credentials locally (identity-based storage)."""
        from azure.identity import DefaultAzureCredential

        client_id = self.settings.storage_client_id
        if client_id:
            return DefaultAzureCredential(managed_identity_client_id=client_id)
        return DefaultAzureCredential()

    def _service_uri(self, service: str) -> str:
        explicit = {
            "table": self.settings.storage_table_uri,
            "queue": self.settings.storage_queue_uri,
            "blob": self.settings.storage_blob_uri,
        }[service]
        if explicit:
            return explicit
        if not self.settings.storage_account_name:
            raise RuntimeError(
                f"AzureWebJobsStorage__{service}ServiceUri or __accountName must be set"
            )
        return f"https://{self.settings.storage_account_name}.{service}.core.windows.net"

    @property
    def _connection_string(self) -> str:
        value = self.settings.storage_connection_string
        if value.strip().lower() == "usedevelopmentstorage=true":
            return DEVELOPMENT_STORAGE_CONNECTION_STRING
        return value

    @cached_property
    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        if self.settings.uses_identity_storage:
            return TableServiceClient(
                endpoint=self._service_uri("table"),
                credential=self.credential,
                **self._client_kwargs(),
            )
        return TableServiceClient.from_connection_string(
            self._connection_string, **self._client_kwargs()
        )

    @cached_property
    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        if self.settings.uses_identity_storage:
            return QueueServiceClient(
                account_url=self._service_uri("queue"),
                credential=self.credential,
                **self._client_kwargs(),
            )
        return QueueServiceClient.from_connection_string(
            self._connection_string, **self._client_kwargs()
        )

    @cached_property
    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        if self.settings.uses_identity_storage:
            return BlobServiceClient(
                account_url=self._service_uri("blob"),
                credential=self.credential,
                **self._client_kwargs(),
            )
        return BlobServiceClient.from_connection_string(
            self._connection_string, **self._client_kwargs()
        )

    # -- named resources, created once per process ------------------------------------

    def _list_names(self, service: str, **options: Any) -> frozenset[str]:
        """The table, queue or blob container names of the account's first listing page
        (one call, up to 1,000 names), remembered for the process. A name not among them
        is created if missing, as before, so an account with more names stays correct."""
        pager: Any
        if service == "table":
            pager = self.table_service.list_tables(results_per_page=1000, **options)
        elif service == "queue":
            pager = self.queue_service.list_queues(results_per_page=1000, **options)
        else:
            pager = self.blob_service.list_containers(results_per_page=1000, **options)
        page: Any = next(iter(pager.by_page()), [])
        known = frozenset(item.name.lower() for item in page)
        self._existing[service] = known
        return known

    def _exists(self, service: str, name: str) -> bool:
        """Whether ``name`` is known to exist; False means "create it (if missing)"."""
        known = self._existing.get(service)
        if known is None:
            from azure.core.exceptions import AzureError

            try:
                known = self._list_names(service)
            except AzureError:  # listing refused or failing: create, as without it
                return False
        return name.lower() in known

    def table(self, name: str) -> TableClient:
        """The client of table ``name``; the table is created the first time it is asked for."""
        client = self._tables.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                from shared.adapters.table_batch import lean_transactions

                client = lean_transactions(self.table_service.get_table_client(name))
                if not self._exists("table", name):
                    _create_ignoring_exists(client.create_table)
                self._tables[name] = client
        return client

    def queue_client(self, name: str) -> QueueClient:
        """The client of queue ``name`` (base64 both ways); the queue is created if missing."""
        client = self._queues.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._queues.get(name)
            if client is None:
                from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

                # The Functions queue trigger expects base64 bodies (the policies are not
                # inherited from the service client, so they are set on each queue client).
                client = self.queue_service.get_queue_client(
                    name,
                    message_encode_policy=TextBase64EncodePolicy(),
                    message_decode_policy=TextBase64DecodePolicy(),
                )
                if not self._exists("queue", name):
                    _create_ignoring_exists(client.create_queue)
                self._queues[name] = client
        return client

    def queue(self, name: str) -> StorageMessageQueue:
        """The MessageQueue port on queue ``name``."""
        from shared.adapters.storage_queue import StorageMessageQueue

        return StorageMessageQueue(self.queue_client(name))

    def blob_container(self, name: str) -> ContainerClient:
        """The client of blob container ``name``; created if missing."""
        client = self._blob_containers.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._blob_containers.get(name)
            if client is None:
                client = self.blob_service.get_container_client(name)
                if not self._exists("blob", name):
                    _create_ignoring_exists(client.create_container)
                self._blob_containers[name] = client
        return client

    def storage_probes(self, timeout: float = 2.0) -> dict[str, Any]:
        """One cheap, non-retried call per storage service, for /api/health: the listing of
        its tables, queues or containers, which the process then knows exist (a new
        instance's first requests after the platform's health probe create nothing)."""
        options: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": timeout,
            "read_timeout": timeout,
        }
        return {
            "tables": lambda: self._list_names("table", **options),
            "queues": lambda: self._list_names("queue", **options),
            "blobs": lambda: self._list_names("blob", **options),
        }

    # -- area adapters ----------------------------------------------------------------
    # Each area adds its cached properties below this line.

    @cached_property
    def passwords(self) -> PasswordHasher:
        from shared.passwords import PasswordHasher

        return PasswordHasher()

    @cached_property
    def mailer(self) -> Mailer:
        """The mail adapter chosen by EMAIL_PROVIDER."""
        settings = self.settings
        if settings.email_provider == "smtp":
            from shared.adapters.mail_smtp import SmtpMailer

            password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
            return SmtpMailer(
                settings.smtp_host,
                settings.smtp_port,
                username=settings.smtp_username or None,
                password=password,
                starttls=settings.smtp_starttls,
            )
        if settings.email_provider == "acs":
            from shared.adapters.mail_acs import AcsMailer

            secret = settings.acs_connection_string
            return AcsMailer(
                secret.get_secret_value() if secret else None,
                settings.acs_endpoint,
                credential=lambda: self.credential,
            )
        from shared.adapters.mail_outbox import OutboxMailer

        return OutboxMailer(Path(settings.email_outbox_dir))

    @cached_property
    def accounts(self) -> AccountService:
        from shared.adapters.table_accounts import TableOtpRepository, TableUserRepository
        from shared.domain.accounts import otp_key
        from shared.services.accounts import OTP_QUEUE, AccountService

        key = self.settings.auth_signing_key
        return AccountService(
            users=TableUserRepository(self.table("users"), self.table("useremails")),
            otps=TableOtpRepository(self.table("otps")),
            otp_queue=self.queue(OTP_QUEUE),
            mailer=self.mailer,
            passwords=self.passwords,
            tokens=self.tokens,
            clock=self.clock,
            otp_key=otp_key(key.get_secret_value() if key else ""),
            sender=self.settings.email_sender,
            otp_ttl_seconds=self.settings.otp_ttl_seconds,
            otp_max_attempts=self.settings.otp_max_attempts,
            admin_emails=self.settings.admin_email_set,
            limits=self.limits,
        )

    @cached_property
    def social(self) -> SocialSignInService:
        """Social sign-in (OAUTH_PROVIDERS) on Authlib and the ``socialsignin`` table."""
        from shared.adapters.oidc_authlib import AuthlibIdentityProvider
        from shared.adapters.table_accounts import TableUserRepository
        from shared.adapters.table_social import (
            TableLoginCodes,
            TablePendingSignIns,
            TableSocialLinks,
        )
        from shared.services.social import SocialSignInService

        table = self.table("socialsignin")
        return SocialSignInService(
            providers=self.settings.oauth_providers,
            identity=AuthlibIdentityProvider(self.http_session),
            pending=TablePendingSignIns(table),
            codes=TableLoginCodes(table),
            users=TableUserRepository(self.table("users"), self.table("useremails")),
            tokens=self.tokens,
            clock=self.clock,
            limits=self.limits,
            links=TableSocialLinks(self.table("sociallinks")),
        )

    @cached_property
    def limits(self) -> AbuseLimits:
        """The abuse limits, counted in Table Storage (RATE_LIMITS_ENABLED=false: none)."""
        from shared.services.limits import AbuseLimits

        if not self.settings.rate_limits_enabled:
            from shared.adapters.memory_ratelimits import UnlimitedRateLimiter

            return AbuseLimits(UnlimitedRateLimiter(), enabled=False)
        from shared.adapters.table_ratelimits import TableRateLimiter

        return AbuseLimits(TableRateLimiter(self.table("ratelimits"), self.clock))

    @cached_property
    def jobs(self) -> TableJobRepository:
        from shared.adapters.table_jobs import TableJobRepository

        names = ("jobs", "openjobs", "assignedjobs", "duejobs", "jobdispatch")
        return TableJobRepository({name: self.table(name) for name in names}, self.clock)

    @cached_property
    def job_outputs(self) -> BlobJobOutputs:
        from shared.adapters.blob_outputs import CONTAINER, BlobJobOutputs

        return BlobJobOutputs(self.blob_container(CONTAINER))

    @cached_property
    def kind_ports(self) -> KindPorts:
        """The ports job handlers use, each built when a job first needs it."""
        from shared.services.kinds import KindPorts

        return KindPorts(
            outputs=lambda: self.job_outputs,
            sentiment=lambda: self.sentiment,
            history=lambda: self.history,
            weather=lambda: self.weather,
        )

    @cached_property
    def job_service(self) -> JobService:
        from shared.services.jobs import JOBS_QUEUE, SENTIMENT_QUEUE, JobService

        settings = self.settings
        return JobService(
            jobs=self.jobs,
            bids=self.bids,
            job_queue=self.queue(JOBS_QUEUE),
            sentiment_queue=self.queue(SENTIMENT_QUEUE),
            kinds=self.kind_ports,
            clock=self.clock,
            realtime=self.realtime if self.realtime_configured else None,  # None: no reads
            max_attempts=settings.job_max_attempts,
            retry_base_seconds=settings.job_retry_base_seconds,
            timeout_seconds=settings.job_timeout_seconds,
        )

    @cached_property
    def bids(self) -> TableBidRepository:
        from shared.adapters.table_jobs import TableBidRepository

        return TableBidRepository(self.table("bids"), self.table("bidsentiment"))

    @cached_property
    def history(self) -> TableHistoryRepository:
        from shared.adapters.table_history import TableHistoryRepository

        return TableHistoryRepository(self.table("history"))

    @cached_property
    def city_index(self) -> CityIndex:
        from shared.adapters.city_index import CityIndex

        return CityIndex(CITY_INDEX_PATH)

    @cached_property
    def http_session(self) -> Any:
        """One requests.Session for every outbound HTTP call of this process."""
        from shared.adapters.http_client import build_session
        from shared.settings import APP_NAME, APP_VERSION

        return build_session(f"{APP_NAME}/{APP_VERSION} (+https://github.com/weather-jobs)")

    @cached_property
    def raw_archive(self) -> RawResponseArchive:
        from shared.adapters.blob_archive import CONTAINER, RawResponseArchive

        return RawResponseArchive(self.blob_container(CONTAINER))

    def _archive(self, raw: RawResponse) -> None:
        self.raw_archive.put(raw)

    @cached_property
    def weather_provider(self) -> WeatherProvider:
        """The provider chosen by WEATHER_PROVIDER, its raw answers archived."""
        return self._weather_provider(self.http_session)

    @cached_property
    def refresh_provider(self) -> WeatherProvider:
        """The same provider on a session that never retries by itself: every request the
        refresh sends is one it claimed from the budget (a transport retry would not be)."""
        from shared.adapters.http_client import build_session
        from shared.settings import APP_NAME, APP_VERSION

        session = build_session(
            f"{APP_NAME}/{APP_VERSION} (+https://github.com/weather-jobs)", retries=0
        )
        return self._weather_provider(session)

    def _weather_provider(self, session: Any) -> WeatherProvider:
        settings = self.settings
        if settings.weather_provider == "openweather":
            from shared.adapters.weather_openweather import OpenWeatherProvider

            key = settings.openweather_api_key
            if key is None or not key.get_secret_value():
                raise RuntimeError("WEATHER_PROVIDER=openweather needs OPENWEATHER_API_KEY")
            return OpenWeatherProvider(
                session, settings.openweather_base_url, key.get_secret_value(),
                self._archive, self.clock,
            )  # fmt: skip
        if settings.weather_provider == "simulated":
            from shared.adapters.weather_simulated import SimulatedProvider

            return SimulatedProvider(self.clock, self._archive)
        from shared.adapters.weather_openmeteo import OpenMeteoProvider

        return OpenMeteoProvider(
            session, settings.open_meteo_base_url, settings.open_meteo_geocoding_url,
            self._archive, self.clock,
        )  # fmt: skip

    @cached_property
    def weather(self) -> WeatherService:
        from shared.adapters.table_weather import GeocodeCache, WeatherCache
        from shared.services.weather import WeatherService

        return WeatherService(
            provider=self.weather_provider,
            cities=self.city_index,
            cache=WeatherCache(self.table("weathercache")),
            geocache=GeocodeCache(self.table("geocache")),
            history=self.history,
            clock=self.clock,
            ttl_seconds=self.settings.weather_cache_ttl_seconds,
            # The refresh's budget: lookups, subscriptions and weather.report jobs too.
            budget=None if self.settings.weather_provider == "simulated" else self.request_budget,
        )

    # -- subscriptions and real time ------------------------------------------------------

    @property
    def realtime_configured(self) -> bool:
        settings = self.settings
        secret = settings.webpubsub_connection_string
        return bool((secret.get_secret_value().strip() if secret else "")
                    or (settings.webpubsub_endpoint or "").strip())  # fmt: skip

    @cached_property
    def realtime(self) -> RealtimePublisher:
        """Azure Web PubSub: WEBPUBSUB_CONNECTION_STRING (locally the emulator), else
        WEBPUBSUB_ENDPOINT with the managed identity; with neither, pushes go nowhere."""
        settings = self.settings
        secret = settings.webpubsub_connection_string
        connection_string = secret.get_secret_value().strip() if secret else ""
        endpoint = (settings.webpubsub_endpoint or "").strip()
        if self.realtime_configured:
            from shared.adapters.realtime_webpubsub import WebPubSubPublisher

            if connection_string:
                return WebPubSubPublisher.from_connection_string(
                    connection_string, settings.webpubsub_hub
                )
            return WebPubSubPublisher.from_endpoint(
                endpoint, settings.webpubsub_hub, self.credential
            )
        from shared.adapters.memory_realtime import DisabledRealtimePublisher

        return DisabledRealtimePublisher()

    @cached_property
    def subscription_repository(self) -> TableSubscriptionRepository:
        from shared.adapters.table_subscriptions import TableSubscriptionRepository

        return TableSubscriptionRepository(
            self.table("subscriptions"), self.table("citysubscribers"),
            self.table("subscribedcities"),
        )  # fmt: skip

    @cached_property
    def subscriptions(self) -> SubscriptionService:
        from shared.adapters.table_accounts import TableUserRepository
        from shared.adapters.table_weather import WeatherCache
        from shared.services.subscriptions import SubscriptionService

        settings = self.settings
        return SubscriptionService(
            repository=self.subscription_repository,
            users=TableUserRepository(self.table("users"), self.table("useremails")),
            weather=self.weather,
            cache=WeatherCache(self.table("weathercache")),
            provider_name=self.weather_provider.name,
            realtime=self.realtime,
            clock=self.clock,
            basic_limit=settings.plan_basic_city_limit,
            premium_limit=settings.plan_premium_city_limit,
            stale_after_seconds=2 * max(settings.weather_cache_ttl_seconds, 60),
            # A client URL lives as long as a bearer token (AUTH_TOKEN_TTL_MINUTES, 60).
            realtime_token_minutes=settings.auth_token_ttl_minutes,
        )

    @cached_property
    def request_budget(self) -> TableRequestBudget:
        """WEATHER_RATE_LIMIT_PER_MINUTE provider requests in any 60 s, for every instance."""
        from shared.adapters.table_budget import TableRequestBudget

        return TableRequestBudget(
            self.table("upstreambudget"), self.clock, self.settings.weather_rate_limit_per_minute
        )

    @cached_property
    def refresh(self) -> RefreshService:
        from shared.services.refresh import REFRESH_QUEUE, RefreshService

        budget = self.request_budget
        return RefreshService(
            provider=self.refresh_provider,
            subscriptions=self.subscription_repository,
            cache=self.weather.observations,  # the cache /api/weather reads
            budget=budget,
            queue=self.queue(REFRESH_QUEUE),
            realtime=self.realtime,
            clock=self.clock,
            limit_per_window=budget.limit,
            window_seconds=budget.window,
            observations=self.observation_log,
        )

    @cached_property
    def observation_log(self) -> TableObservationLog:
        from shared.adapters.table_observations import TableObservationLog

        return TableObservationLog(self.table("observations"))

    @cached_property
    def observations(self) -> ObservationService:
        from shared.services.observations import ObservationService

        return ObservationService(self.subscription_repository, self.observation_log, self.clock)

    @cached_property
    def sentiment(self) -> SentimentAnalyzer:
        """The analyzer chosen by SENTIMENT_PROVIDER."""
        settings = self.settings
        if settings.sentiment_provider == "azure":
            from shared.adapters.sentiment_azure import AzureTextAnalyticsAnalyzer

            if not settings.text_analytics_endpoint:
                raise RuntimeError("SENTIMENT_PROVIDER=azure needs TEXT_ANALYTICS_ENDPOINT")
            key = settings.text_analytics_key
            return AzureTextAnalyticsAnalyzer(
                settings.text_analytics_endpoint,
                key.get_secret_value() if key else None,
                credential=lambda: self.credential,
            )
        from shared.adapters.sentiment_local import LocalSentimentAnalyzer

        return LocalSentimentAnalyzer()

    @cached_property
    def tokens(self) -> TokenService:
        from shared.auth import TokenService

        key = self.settings.auth_signing_key
        return TokenService(
            key.get_secret_value() if key else "", self.settings.auth_token_ttl_minutes
        )


def _create_ignoring_exists(create: Any) -> None:
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        create()


# The well-known Azurite account (public, documented by Microsoft; not a secret).
DEVELOPMENT_STORAGE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)

_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process-wide container, built on first use."""
    global _container
    if _container is None:
        with _container_lock:
            if _container is None:
                _container = Container()
    return _container


def set_container(value: Container | None) -> None:
    """Replace (or with None, forget) the process-wide container; for tests."""
    global _container
    with _container_lock:
        _container = value
