"""Servers on ports that another process takes first (devtools/azurite.py): a fresh-clone
suite run once failed at setup with ``listen EADDRINUSE`` on a port chosen free a moment
before. Ports chosen by ``Azurite()``, the local OpenID Connect provider and the tests'
SMTP server are chosen again; ports a caller names are not."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

import devtools.azurite as azurite_module
import devtools.oidc as oidc_module
import tests.support.smtp as smtp_module
from devtools.azurite import Azurite, PortTaken, free_port, port_open
from devtools.oidc import LocalOidcProvider
from tests.support.smtp import SmtpServer


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port held by a listening socket for the test."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def test_chosen_ports_taken_in_between_are_chosen_again(
    taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = iter([taken, free_port(), free_port()])  # the race: the first one gets taken
    monkeypatch.setattr(azurite_module, "free_port", lambda: next(ports, None) or free_port())
    storage = Azurite()
    assert storage.blob_port == taken and storage.chosen_ports
    with storage:
        assert taken not in storage.ports
        assert all(port_open(p) for p in storage.ports)


def test_named_ports_are_kept_and_a_taken_one_is_reported(taken: int) -> None:
    storage = Azurite(taken, free_port(), free_port())
    assert not storage.chosen_ports
    with pytest.raises(PortTaken, match="EADDRINUSE"):
        storage.start()
    assert storage.blob_port == taken


def _taken_first(monkeypatch: pytest.MonkeyPatch, module: object, taken: int) -> list[int]:
    """The ports ``module`` chooses from now on, the first of them ``taken``."""
    chosen: list[int] = []

    def choose() -> int:
        chosen.append(free_port() if chosen else taken)  # the race: the first is taken
        return chosen[-1]

    monkeypatch.setattr(module, "free_port", choose)
    return chosen


def test_the_oidc_providers_chosen_port_taken_in_between_is_chosen_again(
    taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = _taken_first(monkeypatch, oidc_module, taken)
    with LocalOidcProvider(["http://127.0.0.1:1/callback"]) as provider:
        assert chosen == [taken, provider.port]
        assert provider.issuer == f"http://127.0.0.1:{provider.port}"
        assert port_open(provider.port)


def test_the_oidc_providers_named_port_taken_is_reported(taken: int) -> None:
    with pytest.raises(PortTaken, match="EADDRINUSE"):
        LocalOidcProvider(["http://127.0.0.1:1/callback"], port=taken).start()


def test_the_smtp_servers_chosen_port_taken_in_between_is_chosen_again(
    taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = _taken_first(monkeypatch, smtp_module, taken)
    with SmtpServer(ready_timeout=2) as smtp:
        assert chosen == [taken, smtp.port]
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "hi"
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
            client.send_message(message)
        assert smtp.wait_for(1)[0]["Subject"] == "hi"
