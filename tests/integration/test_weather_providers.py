"""Open-Meteo and OpenWeatherMap adapters against local stand-ins of the real APIs.

The stand-ins (tests/support/weather_standins.py) answer in the documented shapes, built
from the recorded samples in data/samples; nothing here touches the network.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from requests.adapters import HTTPAdapter

from shared.adapters.clock import FakeClock
from shared.adapters.http_client import (
    RETRY_STATUSES,
    build_session,
    redact_secrets,
    retry_after_seconds,
)
from shared.adapters.weather_openmeteo import OpenMeteoProvider
from shared.adapters.weather_openweather import OpenWeatherProvider
from shared.adapters.weather_simulated import SimulatedProvider
from shared.domain.errors import UpstreamUnavailable
from shared.domain.weather import City, RawResponse, describe_wmo
from shared.ports import WeatherProvider
from tests.support.weather_standins import (
    SAMPLES_DIR,
    OpenMeteoStandIn,
    OpenWeatherStandIn,
    load_sample,
)

API_KEY = "sekret-0123456789abcdef0123456789abcdef"
START = datetime(2026, 1, 1, 12, 7, 30, tzinfo=UTC)

BERLIN = City("2950159", "Berlin", "DE", 52.52437, 13.41053)
PARIS = City("2988507", "Paris", "FR", 48.85341, 2.3488)
SAO_PAULO = City("3448439", "São Paulo", "BR", -23.5475, -46.63611)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    # The production retry policy with a near-zero backoff, so retry tests stay fast.
    http = build_session("weather-jobs-tests/1.0", backoff_factor=0.01)
    yield http
    http.close()


@pytest.fixture
def reported() -> list[RawResponse]:
    return []


@pytest.fixture
def open_meteo(clock: FakeClock) -> Iterator[OpenMeteoStandIn]:
    with OpenMeteoStandIn(clock) as standin:
        yield standin


@pytest.fixture
def openweather(clock: FakeClock) -> Iterator[OpenWeatherStandIn]:
    with OpenWeatherStandIn(API_KEY, clock) as standin:
        yield standin


@pytest.fixture
def meteo(
    session: requests.Session,
    open_meteo: OpenMeteoStandIn,
    reported: list[RawResponse],
    clock: FakeClock,
) -> OpenMeteoProvider:
    return OpenMeteoProvider(
        session, open_meteo.base_url, open_meteo.geocoding_url, reported.append, clock
    )


@pytest.fixture
def owm(
    session: requests.Session,
    openweather: OpenWeatherStandIn,
    reported: list[RawResponse],
    clock: FakeClock,
) -> OpenWeatherProvider:
    return OpenWeatherProvider(session, openweather.base_url, API_KEY, reported.append, clock)


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the shared HTTP session ------------------------------------------------------------------


def test_session_retries_5xx_for_get_but_never_429() -> None:
    http = build_session("weather-jobs/0.1")
    adapter = http.get_adapter("https://api.open-meteo.com")
    assert isinstance(adapter, HTTPAdapter)
    retry = adapter.max_retries
    assert retry.total == 2
    assert set(retry.status_forcelist) == set(RETRY_STATUSES) == {500, 502, 503, 504}
    assert 429 not in retry.status_forcelist
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.raise_on_status is False
    assert retry.backoff_factor > 0
    assert http.headers["User-Agent"] == "weather-jobs/0.1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 60),
        ("", 60),
        ("17", 17),
        ("0", 1),
        ("Thu, 01 Jan 2026 12:09:30 GMT", 120),
        ("soon", 60),
    ],
)
def test_retry_after_header_values(header: str | None, expected: int) -> None:
    assert retry_after_seconds(header, START, 60) == expected


def test_redact_secrets() -> None:
    url = f"http://x/data/2.5/weather?lat=1&appid={API_KEY}&units=metric"
    assert redact_secrets(url) == "http://x/data/2.5/weather?lat=1&appid=***&units=metric"
    assert API_KEY not in redact_secrets(f"key is {API_KEY}", API_KEY)


def test_every_provider_fits_the_port(
    meteo: OpenMeteoProvider, owm: OpenWeatherProvider, clock: FakeClock
) -> None:
    providers: list[WeatherProvider] = [meteo, owm, SimulatedProvider(clock)]  # mypy checks
    assert [(p.name, p.max_batch) for p in providers] == [
        ("open-meteo", 50),
        ("openweather", 1),
        ("simulated", 100),
    ]


# -- Open-Meteo: current weather ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "temperature_unit", "wind_speed_unit"),
    [("metric", "celsius", "ms"), ("imperial", "fahrenheit", "mph")],
)
def test_open_meteo_maps_every_field(
    meteo: OpenMeteoProvider,
    open_meteo: OpenMeteoStandIn,
    units: str,
    temperature_unit: str,
    wind_speed_unit: str,
) -> None:
    weather = meteo.current([BERLIN], units)  # type: ignore[arg-type]
    expected = open_meteo.current_values(BERLIN.lat, BERLIN.lon, temperature_unit, wind_speed_unit)
    observation = weather[BERLIN.id]
    assert observation.temperature == expected["temperature_2m"]
    assert observation.feels_like == expected["apparent_temperature"]
    assert observation.humidity == expected["relative_humidity_2m"]
    assert observation.pressure == expected["surface_pressure"]
    assert observation.wind_speed == expected["wind_speed_10m"]
    assert observation.clouds == expected["cloud_cover"]
    assert observation.precipitation_probability == expected["precipitation_probability"]
    assert observation.conditions == describe_wmo(expected["weather_code"])
    assert observation.observed_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # 15-min slot
    assert observation.units == units


def test_open_meteo_asks_for_the_units_it_needs(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    meteo.current([BERLIN], "metric")
    meteo.current([BERLIN], "imperial")
    metric, imperial = open_meteo.requests
    assert "wind_speed_unit=ms" in metric
    assert "temperature_unit" not in metric
    assert "temperature_unit=fahrenheit" in imperial
    assert "wind_speed_unit=mph" in imperial
    assert "timezone=GMT" in metric
    assert "current=temperature_2m,apparent_temperature,relative_humidity_2m" in metric


def test_open_meteo_batches_several_cities_into_one_request(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    weather = meteo.current([BERLIN, PARIS, SAO_PAULO], "metric")
    assert open_meteo.count("/v1/forecast") == 1
    assert "latitude=52.5244,48.8534,-23.5475" in open_meteo.requests[0]
    assert set(weather) == {BERLIN.id, PARIS.id, SAO_PAULO.id}
    for city in (BERLIN, PARIS, SAO_PAULO):
        expected = open_meteo.current_values(city.lat, city.lon, "celsius", "ms")
        assert weather[city.id].temperature == expected["temperature_2m"]
    assert len({obs.temperature for obs in weather.values()}) == 3


def test_open_meteo_reads_the_recorded_multi_location_answer(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    recorded = (SAMPLES_DIR / "open-meteo-forecast-multi.json").read_bytes()
    open_meteo.fail_with(200, body=recorded)
    weather = meteo.current([BERLIN, PARIS], "imperial")
    berlin, paris = weather[BERLIN.id], weather[PARIS.id]
    assert (berlin.temperature, berlin.wind_speed, berlin.conditions) == (38.1, 9.4, "overcast")
    assert (paris.temperature, paris.precipitation_probability, paris.conditions) == (
        45.3,
        60,
        "slight rain",
    )
    assert paris.observed_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_open_meteo_splits_more_than_max_batch_cities(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    cities = [City(str(i), f"Town {i}", "DE", 47.0 + i * 0.05, 8.0 + i * 0.05) for i in range(51)]
    weather = meteo.current(cities, "metric")
    assert open_meteo.count("/v1/forecast") == 2
    assert set(weather) == {city.id for city in cities}


def test_open_meteo_matches_numbered_locations_by_number(
    session: requests.Session, clock: FakeClock, reported: list[RawResponse]
) -> None:
    with OpenMeteoStandIn(clock, number_locations=True) as standin:
        provider = OpenMeteoProvider(
            session, standin.base_url, standin.geocoding_url, reported.append, clock
        )
        weather = provider.current([BERLIN, PARIS], "metric")
        body = json.loads(reported[0].body)
        assert [item.get("location_id", 0) for item in body] == [1, 0]  # answered reversed
        for city in (BERLIN, PARIS):
            expected = standin.current_values(city.lat, city.lon, "celsius", "ms")
            assert weather[city.id].temperature == expected["temperature_2m"]


def test_open_meteo_no_cities_no_request(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    assert meteo.current([], "metric") == {}
    assert open_meteo.requests == []


# -- Open-Meteo: failures -------------------------------------------------------------------------


def test_open_meteo_429_is_not_retried_and_carries_retry_after(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn, reported: list[RawResponse]
) -> None:
    open_meteo.fail_with(429, headers={"Retry-After": "17"})
    with pytest.raises(UpstreamUnavailable) as caught:
        meteo.current([BERLIN], "metric")
    assert caught.value.headers["Retry-After"] == "17"
    assert caught.value.status == 503
    assert open_meteo.count("/v1/forecast") == 1
    assert [raw.status for raw in reported] == [429]
    assert json.loads(reported[0].body)["reason"].startswith("Minutely API request limit")


def test_open_meteo_429_without_retry_after_waits_a_minute(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    open_meteo.fail_with(429)
    with pytest.raises(UpstreamUnavailable) as caught:
        meteo.current([BERLIN], "metric")
    assert caught.value.headers["Retry-After"] == "60"


def test_open_meteo_500_is_retried_then_unavailable(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn, reported: list[RawResponse]
) -> None:
    open_meteo.fail_with(500)
    with pytest.raises(UpstreamUnavailable) as caught:
        meteo.current([BERLIN, PARIS], "metric")
    assert open_meteo.count("/v1/forecast") == 3  # the first try and two retries
    assert caught.value.headers["Retry-After"] == "30"
    assert "500" in str(caught.value)
    assert [(raw.status, raw.city_ids) for raw in reported] == [(500, (BERLIN.id, PARIS.id))]


def test_open_meteo_recovers_when_a_retry_succeeds(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn, reported: list[RawResponse]
) -> None:
    open_meteo.fail_with(503, times=1)
    assert BERLIN.id in meteo.current([BERLIN], "metric")
    assert open_meteo.count("/v1/forecast") == 2
    assert [raw.status for raw in reported] == [200]


def test_open_meteo_unreachable_is_unavailable(
    session: requests.Session, clock: FakeClock, reported: list[RawResponse]
) -> None:
    url = _closed_port_url()
    provider = OpenMeteoProvider(session, url, url, reported.append, clock)
    with pytest.raises(UpstreamUnavailable) as caught:
        provider.current([BERLIN], "metric")
    assert caught.value.headers["Retry-After"] == "30"
    assert reported == []  # no answer, nothing to archive


def test_open_meteo_timeout_is_unavailable(
    session: requests.Session,
    open_meteo: OpenMeteoStandIn,
    clock: FakeClock,
    reported: list[RawResponse],
) -> None:
    provider = OpenMeteoProvider(
        session,
        open_meteo.base_url,
        open_meteo.geocoding_url,
        reported.append,
        clock,
        timeout=(1.0, 0.1),
    )
    open_meteo.delay(0.4)
    with pytest.raises(UpstreamUnavailable):
        provider.current([BERLIN], "metric")
    assert open_meteo.count("/v1/forecast") == 3  # read timeouts are retried too


@pytest.mark.parametrize(
    "body",
    [
        b"<html>bad gateway</html>",
        b'{"latitude": 1}',
        b"[]",
        b'{"current": {"temperature_2m": null}}',
    ],
)
def test_open_meteo_malformed_answers_are_unavailable_and_still_archived(
    meteo: OpenMeteoProvider,
    open_meteo: OpenMeteoStandIn,
    reported: list[RawResponse],
    body: bytes,
) -> None:
    open_meteo.fail_with(200, body=body)
    with pytest.raises(UpstreamUnavailable, match="unexpected shape"):
        meteo.current([BERLIN], "metric")
    assert [raw.body for raw in reported] == [body]


def test_open_meteo_refuses_an_answer_in_the_wrong_units(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    sample = load_sample("open-meteo-forecast.json")  # a metric answer: accepted as is
    open_meteo.fail_with(200, body=json.dumps(sample).encode(), times=1)
    assert meteo.current([BERLIN], "metric")[BERLIN.id].temperature == 3.4
    sample["current_units"]["temperature_2m"] = "°F"
    open_meteo.fail_with(200, body=json.dumps(sample).encode())
    with pytest.raises(UpstreamUnavailable, match="temperature_2m"):
        meteo.current([BERLIN], "metric")


def test_every_open_meteo_answer_is_reported_before_it_is_read(
    meteo: OpenMeteoProvider,
    open_meteo: OpenMeteoStandIn,
    reported: list[RawResponse],
    clock: FakeClock,
) -> None:
    meteo.current([BERLIN, PARIS], "imperial")
    open_meteo.fail_with(429, times=1)
    with pytest.raises(UpstreamUnavailable):
        meteo.current([BERLIN], "metric")
    meteo.geocode("Berlin")

    assert [raw.status for raw in reported] == [200, 429, 200]
    first = reported[0]
    assert first.provider == "open-meteo"
    assert first.url.startswith(f"{open_meteo.base_url}/forecast?latitude=52.5244,48.8534")
    assert first.city_ids == (BERLIN.id, PARIS.id)
    assert first.requested_at == clock.now()
    assert first.content_type.startswith("application/json")
    assert len(json.loads(first.body)) == 2
    assert reported[2].city_ids == ()
    assert "/search?name=Berlin" in reported[2].url


def test_a_failing_archive_does_not_fail_the_lookup(
    session: requests.Session,
    open_meteo: OpenMeteoStandIn,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_archive(raw: RawResponse) -> None:
        raise OSError("blob storage down")

    provider = OpenMeteoProvider(
        session, open_meteo.base_url, open_meteo.geocoding_url, broken_archive, clock
    )
    with caplog.at_level(logging.ERROR):
        assert BERLIN.id in provider.current([BERLIN], "metric")
    assert "archiving a raw open-meteo response failed" in caplog.text
    assert "blob storage down" in caplog.text


# -- Open-Meteo: geocoding ------------------------------------------------------------------------


def test_open_meteo_geocoding_maps_results_most_populous_first(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    found = meteo.geocode("Paris")
    # The stand-in answers Paris, Texas first; the provider sorts by population.
    assert [(city.id, city.country) for city in found] == [("2988507", "FR"), ("4717560", "US")]
    paris = found[0]
    assert paris == City(
        "2988507", "Paris", "FR", 48.85341, 2.3488, population=2138551, timezone="Europe/Paris"
    )
    assert open_meteo.requests == ["/v1/search?name=Paris&count=5&language=en&format=json"]


def test_open_meteo_geocoding_country_filter(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    found = meteo.geocode("paris", country="us")
    assert [city.id for city in found] == ["4717560"]
    assert "countryCode=US" in open_meteo.requests[0]


def test_open_meteo_geocoding_finds_places_outside_the_index_and_nothing_when_unknown(
    meteo: OpenMeteoProvider,
) -> None:
    assert [city.name for city in meteo.geocode("Zocca")] == ["Zocca"]
    assert meteo.geocode("Atlantis") == []  # the answer has no "results" key
    assert meteo.geocode("   ") == []


def test_open_meteo_geocoding_limit(meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn) -> None:
    assert len(meteo.geocode("London", limit=1)) == 1
    assert "count=1" in open_meteo.requests[0]


# -- OpenWeatherMap: current weather ------------------------------------------------------------


@pytest.mark.parametrize("units", ["metric", "imperial"])
def test_openweather_maps_every_field(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn, units: str
) -> None:
    observation = owm.current([PARIS], units)[PARIS.id]  # type: ignore[arg-type]
    body = openweather.current_values(round(PARIS.lat, 4), round(PARIS.lon, 4), units)
    assert observation.temperature == body["main"]["temp"]
    assert observation.feels_like == body["main"]["feels_like"]
    assert observation.humidity == body["main"]["humidity"]
    assert observation.pressure == body["main"]["pressure"]
    assert observation.wind_speed == body["wind"]["speed"]
    assert observation.clouds == body["clouds"]["all"]
    assert observation.conditions == body["weather"][0]["description"]
    assert observation.observed_at == datetime.fromtimestamp(body["dt"], UTC)
    assert observation.precipitation_probability is None
    assert observation.units == units
    assert f"units={units}" in openweather.requests[0]


def test_openweather_imperial_and_metric_describe_the_same_weather(
    owm: OpenWeatherProvider,
) -> None:
    metric = owm.current([BERLIN], "metric")[BERLIN.id]
    imperial = owm.current([BERLIN], "imperial")[BERLIN.id]
    assert imperial.temperature == pytest.approx(metric.temperature * 9 / 5 + 32, abs=0.02)
    assert imperial.wind_speed == pytest.approx(metric.wind_speed / 0.44704, abs=0.02)


def test_openweather_asks_once_per_city(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn
) -> None:
    assert owm.max_batch == 1
    weather = owm.current([BERLIN, PARIS, SAO_PAULO], "metric")
    assert set(weather) == {BERLIN.id, PARIS.id, SAO_PAULO.id}
    assert openweather.count("/data/2.5/weather") == 3


def test_openweather_429_carries_retry_after(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn, reported: list[RawResponse]
) -> None:
    openweather.fail_with(429, headers={"Retry-After": "42"})
    with pytest.raises(UpstreamUnavailable) as caught:
        owm.current([BERLIN], "metric")
    assert caught.value.headers["Retry-After"] == "42"
    assert openweather.count("/") == 1
    assert [raw.status for raw in reported] == [429]


def test_openweather_500_is_retried_then_unavailable(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn, reported: list[RawResponse]
) -> None:
    openweather.fail_with(502)
    with pytest.raises(UpstreamUnavailable):
        owm.current([BERLIN], "metric")
    assert openweather.count("/data/2.5/weather") == 3
    assert [raw.status for raw in reported] == [502]


def test_openweather_refused_key_says_so_without_the_key(
    session: requests.Session,
    openweather: OpenWeatherStandIn,
    clock: FakeClock,
    reported: list[RawResponse],
) -> None:
    wrong_key = "wrong-0123456789abcdef0123456789abcd"
    provider = OpenWeatherProvider(session, openweather.base_url, wrong_key, reported.append, clock)
    with pytest.raises(UpstreamUnavailable) as caught:
        provider.current([BERLIN], "metric")
    message = str(caught.value)
    assert "refused the API key" in message
    assert wrong_key not in message
    assert [raw.status for raw in reported] == [401]
    assert json.loads(reported[0].body)["cod"] == 401
    assert wrong_key not in reported[0].url
    assert wrong_key not in repr(provider)


def test_openweather_key_never_leaks(
    session: requests.Session,
    openweather: OpenWeatherStandIn,
    owm: OpenWeatherProvider,
    clock: FakeClock,
    reported: list[RawResponse],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # including urllib3's own request and retry lines
    errors: list[UpstreamUnavailable] = []

    owm.current([BERLIN], "metric")
    owm.geocode("London", "GB")
    for status in (429, 500, 400):
        openweather.fail_with(status)
        with pytest.raises(UpstreamUnavailable) as caught:
            owm.current([BERLIN], "metric")
        errors.append(caught.value)
        openweather.clear_faults()
    openweather.fail_with(200, body=b"{not json")
    with pytest.raises(UpstreamUnavailable) as caught:
        owm.current([BERLIN], "metric")
    errors.append(caught.value)
    unreachable = OpenWeatherProvider(session, _closed_port_url(), API_KEY, reported.append, clock)
    with pytest.raises(UpstreamUnavailable) as caught:
        unreachable.current([BERLIN], "metric")
    errors.append(caught.value)
    # The requests exception (whose text has the URL) is not chained for a traceback to show.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__

    assert API_KEY in openweather.requests[0]  # it was sent...
    assert reported
    for raw in reported:  # ...but never archived,
        assert API_KEY not in raw.url
        assert "appid=***" in raw.url
    for error in errors:  # never raised,
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error.detail)
    assert "Retrying" in caplog.text or "Retry" in caplog.text
    assert API_KEY not in caplog.text  # and never logged
    for record in caplog.records:
        assert API_KEY not in record.getMessage()


# -- OpenWeatherMap: geocoding -----------------------------------------------------------------


def test_openweather_geocoding_maps_results(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn
) -> None:
    found = owm.geocode("London")
    assert found[0] == City("ow:51.5085,-0.1257", "London", "GB", 51.50853, -0.12574)
    assert [city.country for city in found] == ["GB", "CA"]
    assert openweather.requests[0].startswith("/geo/1.0/direct?q=London&limit=5&appid=")


def test_openweather_geocoding_country_filter(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn
) -> None:
    found = owm.geocode("london", country="ca")
    assert [(city.name, city.country) for city in found] == [("London", "CA")]
    assert "q=london,CA" in openweather.requests[0]


def test_openweather_geocoding_unknown_and_village(owm: OpenWeatherProvider) -> None:
    assert owm.geocode("Atlantis") == []
    assert [city.id for city in owm.geocode("Zocca")] == ["ow:44.3457,10.9931"]


def test_openweather_needs_a_key(session: requests.Session, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="OPENWEATHER_API_KEY"):
        OpenWeatherProvider(session, "http://127.0.0.1:1", "", None, clock)
