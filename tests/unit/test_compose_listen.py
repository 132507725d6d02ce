"""Issue 18 item 12: every docker compose service listens on all interfaces of its container.

A server bound to 127.0.0.1 inside a container answers only inside it: a published port then
leads nowhere (the Web PubSub emulator did exactly that, so the browser's WebSocket from the
host never connected). Each service of docker-compose.yml has a rule here saying how it binds;
a new service without one fails, so the question is asked again.

Sources: Azurite's `--blobHost/--queueHost/--tableHost` default to 127.0.0.1 (Azurite README,
"Command line options"); the Functions base image sets ASPNETCORE_URLS=http://+:80
(Azure/azure-functions-docker host images), i.e. every interface, port 80."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest

from devtools.webpubsub import WebPubSubEmulator

ROOT = Path(__file__).resolve().parents[2]
ALL_INTERFACES = {"0.0.0.0", "::", "+", "*"}


def services() -> dict[str, dict[str, object]]:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return dict(document["services"])


def command_words(service: dict[str, object]) -> list[str]:
    command = service.get("command", "")
    text = " ".join(command) if isinstance(command, list) else str(command)
    return shlex.split(text.replace("&&", " && "))


def option(words: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value`; None when absent."""
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def azurite_binds(service: dict[str, object]) -> list[str]:
    words = command_words(service)
    return [option(words, f"--{kind}Host") or "127.0.0.1" for kind in ("blob", "queue", "table")]


def webpubsub_binds(service: dict[str, object]) -> list[str]:
    words = command_words(service)
    assert "devtools.webpubsub" in words, words
    return [option(words, "--host") or "127.0.0.1"]  # the CLI's default (devtools/webpubsub.py)


def app_binds(service: dict[str, object]) -> list[str]:
    """The Functions image listens on http://+:80 unless ASPNETCORE_URLS says otherwise."""
    environment = dict(service.get("environment") or {})  # type: ignore[call-overload]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms and froms[-1].startswith("FROM mcr.microsoft.com/azure-functions/"), froms
    urls = "http://+:80"
    if "ASPNETCORE_URLS" in dockerfile:
        urls = dockerfile.split("ASPNETCORE_URLS=", 1)[1].split()[0]
    urls = str(environment.get("ASPNETCORE_URLS", urls))
    return [url.split("//", 1)[1].rsplit(":", 1)[0] for url in urls.split(";")]


RULES = {"azurite": azurite_binds, "webpubsub": webpubsub_binds, "app": app_binds}


def test_item12_every_compose_service_listens_on_all_interfaces() -> None:
    found = services()
    assert set(found) <= set(RULES), f"no listen rule for {set(found) - set(RULES)}"
    for name, service in found.items():
        binds = RULES[name](service)
        assert binds and all(b in ALL_INTERFACES for b in binds), (name, binds)


def test_item12_the_check_fails_on_a_loopback_emulator() -> None:
    """The rule above catches the original defect: no --host means the CLI's 127.0.0.1."""
    before: dict[str, object] = {
        "command": ["sh", "-c", "exec python -m devtools.webpubsub --port 8081"]
    }
    assert webpubsub_binds(before) == ["127.0.0.1"]
    assert azurite_binds({"command": "azurite --blobHost 0.0.0.0"})[1:] == ["127.0.0.1"] * 2
    assert app_binds({"environment": {"ASPNETCORE_URLS": "http://localhost:80"}}) == ["localhost"]


def test_item12_the_emulator_bound_as_compose_says_listens_on_every_interface() -> None:
    """Start the emulator with the --host compose passes: its socket is bound to the wildcard
    address (not 127.0.0.1) and answers."""
    host = option(command_words(services()["webpubsub"]), "--host")
    assert host is not None
    with WebPubSubEmulator(host=host) as emulator:
        assert emulator._runner is not None
        bound = {address[0] for address in emulator._runner.addresses}
        assert bound and bound <= ALL_INTERFACES, bound
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=5):
            pass
