"""local.settings.json and host.json as the local host reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.hostconfig import (
    ConfigError,
    apply_settings,
    load_host_config,
    load_local_settings,
    parse_timespan,
)

ROOT = Path(__file__).resolve().parents[2]


def test_environment_wins_over_local_settings() -> None:
    environ = {"A": "from-env"}
    applied = apply_settings({"A": "from-file", "B": "from-file", "C": True}, environ)
    assert environ == {"A": "from-env", "B": "from-file", "C": "true"}
    assert applied == ["B", "C"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"IsEncrypted": true, "Values": {}}', "encrypted"),
        ('{"Values": []}', "'Values' must be an object"),
        ('{"Values": {"A": {"nested": 1}}}', "must be strings"),
    ],
)
def test_bad_settings_files_are_explained(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "local.settings.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_local_settings(path)


def test_the_repository_host_json() -> None:
    config = load_host_config(ROOT / "host.json", environ={})
    assert config.route_prefix == "api"
    assert config.queues.max_dequeue_count == 5
    assert config.queues.message_encoding == "base64"
    assert config.queues.batch_size == 16
    assert config.queues.new_batch_threshold == 8
    assert config.function_timeout == 300


def test_app_settings_override_host_json(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": {"maxDequeueCount": 5}}}))
    config = load_host_config(
        path,
        environ={
            "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
            "azurefunctionsjobhost__Extensions__Queues__visibilityTimeout": "00:00:01.500",
            "AzureFunctionsJobHost__extensions__http__routePrefix": "",
        },
    )
    assert config.queues.max_dequeue_count == 2
    assert config.queues.visibility_timeout == 1.5
    assert config.route_prefix == ""


def test_missing_host_json_means_host_defaults(tmp_path: Path) -> None:
    config = load_host_config(tmp_path / "host.json", environ={})
    assert config.route_prefix == "api"
    assert config.queues.max_polling_interval == 60
    assert config.queues.visibility_timeout == 0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("00:00:02", 2), ("00:00:00.500", 0.5), ("1.02:00:00", 93600), (7, 7)],
)
def test_timespans(value: str | int, seconds: float) -> None:
    assert parse_timespan(value) == seconds


@pytest.mark.parametrize(
    ("queues", "message"),
    [({"batchSize": 64}, "batchSize"), ({"newBatchThreshold": -1}, "newBatchThreshold")],
)
def test_invalid_queue_settings_are_refused(
    tmp_path: Path, queues: dict[str, int], message: str
) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": queues}}))
    with pytest.raises(ConfigError, match=message):
        load_host_config(path, environ={})


def test_new_batch_threshold_defaults_to_half_the_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": {"batchSize": 5}}}))
    assert load_host_config(path, environ={}).queues.new_batch_threshold == 2
