"""Azurite on ports that another process takes first (devtools/azurite.py): a fresh-clone
suite run once failed at setup with ``listen EADDRINUSE`` on a port chosen free a moment
before. Ports chosen by ``Azurite()`` are chosen again; ports a caller names are not."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import devtools.azurite as azurite_module
from devtools.azurite import Azurite, PortTaken, free_port, port_open


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
