"""Fixtures shared by every layer of tests.

- ``azurite``: one in-memory Azurite on free loopback ports for the whole session.
- ``azurite_factory``: a fresh Azurite of one's own (for tests that stop it, or that
  must not see other tests' queues); stopped at the end of the test.
- ``make_settings`` / ``make_container``: Settings and a Container pointed at an Azurite,
  with any setting overridden by its API.md name.
- ``webpubsub``: one Web PubSub emulator (devtools/webpubsub.py) for the session;
  ``local_host_factory(realtime=True)`` points a host at it (WEBPUBSUB_CONNECTION_STRING).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.webpubsub import WebPubSubEmulator
from shared.container import Container
from shared.ports import Clock
from shared.settings import Settings

TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789abcdef"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build the city index database (a git-ignored build output) when it is missing or
    older than data/cities15000.json.gz, as ``make test`` does, so that ``pytest`` run by
    hand finds it too; a few milliseconds when it is current."""
    from shared.adapters.city_index_build import ensure

    ensure()


# The longest modules, longest first, in seconds of one worker (a full `make test` under
# load, docs/benchmarks.md "The test suite"). `--dist loadscope` hands out whole modules
# in collection order (pyproject.toml turns xdist's reordering by test count off, which put
# these one-test modules last, so that a worker ran schemathesis alone for minutes at the
# end): the longest go first and the many short ones fill the workers' ends evenly.
# Only the order changes; every module still runs. Update it when a module grows.
LONGEST_FIRST = {
    "tests/e2e/test_schemathesis.py": 300,  # two classes: two scopes, two workers
    "tests/e2e/test_jobs.py": 166,
    "tests/e2e/test_web_app.py": 159,
    "tests/e2e/test_weather.py": 112,
    "tests/e2e/test_web_chart.py": 103,
    "tests/e2e/test_account_limits.py": 100,
    "tests/e2e/test_accounts.py": 73,
    "tests/integration/test_job_index_paging.py": 72,
    "tests/e2e/test_host.py": 70,
    "tests/integration/test_job_index.py": 63,
    "tests/e2e/test_bad_input.py": 56,
    "tests/integration/test_refresh.py": 53,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (LONGEST_FIRST), the rest in their usual order after them."""
    items.sort(key=lambda item: -LONGEST_FIRST.get(item.nodeid.split("::", 1)[0], 0))


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    instance = Azurite().start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def webpubsub() -> Iterator[WebPubSubEmulator]:
    with WebPubSubEmulator() as emulator:
        yield emulator


@pytest.fixture
def azurite_factory() -> Iterator[Callable[[], Azurite]]:
    started: list[Azurite] = []

    def start() -> Azurite:
        instance = Azurite().start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


def base_settings_values(storage_connection_string: str) -> dict[str, Any]:
    """The settings every test app runs with: offline providers, a test signing key."""
    return {
        "AzureWebJobsStorage": storage_connection_string,
        "WEATHER_PROVIDER": "simulated",
        "EMAIL_PROVIDER": "outbox",
        "SENTIMENT_PROVIDER": "local",
        "AUTH_SIGNING_KEY": TEST_SIGNING_KEY,
        # Timers fire once a year in tests; a test runs them through the admin endpoint.
        "JOBS_SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "WEATHER_REFRESH_SCHEDULE": "0 0 0 1 1 *",
        # Every test calls from 127.0.0.1 against one session Azurite: to the abuse limits
        # the whole suite is one client (a load test). Tests of the limits turn them on,
        # each on an Azurite of its own (tests/e2e/test_account_limits.py).
        "RATE_LIMITS_ENABLED": "false",
    }


@pytest.fixture
def make_settings(azurite: Azurite) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values = base_settings_values(azurite.connection_string)
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def make_container(make_settings: Callable[..., Settings]) -> Callable[..., Container]:
    def build(clock: Clock | None = None, **overrides: Any) -> Container:
        return Container(settings=make_settings(**overrides), clock=clock)

    return build


@pytest.fixture
def local_host_factory(
    azurite: Azurite,
    azurite_factory: Callable[[], Azurite],
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Any]]:
    """Start the local Functions host as a process on the session Azurite (or another).

    It depends on ``azurite_factory`` (which starts nothing unless called) so that its
    hosts stop before a test's own Azurites do: an Azurite stopped under a running host
    keeps the host's polling connections open and waits out its whole 10 s stop time-out.

    ``start(storage=None, app="function_app", realtime=False, **settings)``: settings by
    their API.md names; ``realtime=True`` publishes to the session's Web PubSub emulator
    (otherwise real time is off, as without WEBPUBSUB_* settings); the host is stopped
    (SIGTERM) at the end of the test.
    """
    from tests.support.host import FAST_QUEUE_SETTINGS, LocalHost

    started: list[LocalHost] = []

    def start(
        storage: Azurite | None = None,
        app: str = "function_app",
        realtime: bool = False,
        **settings: Any,
    ) -> LocalHost:
        values = base_settings_values((storage or azurite).connection_string)
        values.update(FAST_QUEUE_SETTINGS)
        if realtime:
            emulator: WebPubSubEmulator = request.getfixturevalue("webpubsub")
            values["WEBPUBSUB_CONNECTION_STRING"] = emulator.connection_string
            values["WEBPUBSUB_HUB"] = "weather"
        # Timer schedule status is kept per host id: each test host has its own.
        values["AzureFunctionsWebHost__hostid"] = f"test-{uuid.uuid4().hex[:12]}"
        values.update({k: str(v) for k, v in settings.items()})
        host = LocalHost(values, app=app).start()
        started.append(host)
        return host

    yield start
    for host in started:
        host.close()
