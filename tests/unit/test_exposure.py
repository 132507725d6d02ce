"""What the project exposes beyond its API: published ports and settings of the local
stacks (issue 18, items 6 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))


def test_item8_compose_publishes_azurite_and_the_emulator_on_loopback_only() -> None:
    """Azurite's account key is public knowledge and the emulator's access key a local
    default: published on every interface, anyone on the network could read and write
    the storage or mint client tokens. Docker publishes ``HOST:CONTAINER`` on 0.0.0.0
    unless the host part names an address (compose file reference, ``ports``)."""
    services = _compose()["services"]
    assert isinstance(services, dict)
    published = [str(p) for s in services.values() for p in (s or {}).get("ports", [])]
    storage_and_emulator = [
        p for p in published if p.split(":")[-1] in {"10000", "10001", "10002", "8081"}
    ]
    assert len(storage_and_emulator) == 4, published
    for port in storage_and_emulator:
        assert port.startswith("127.0.0.1:"), port


def test_item6_trusted_proxy_hops_is_0_locally_and_1_in_azure() -> None:
    """Nothing sits in front of the app locally or in compose (the header would be the
    caller's claim); in Azure, App Service's front end appends the client."""
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    assert example["Values"]["TRUSTED_PROXY_HOPS"] == "0"
    environment = _compose()["services"]["app"]["environment"]  # type: ignore[index]
    assert environment["TRUSTED_PROXY_HOPS"] == "0"
    bicep = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    assert "  TRUSTED_PROXY_HOPS: '1'" in bicep
