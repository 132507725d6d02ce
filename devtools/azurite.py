"""Start and stop Azurite (the Azure Storage emulator) from node_modules.

Used by ``make run`` (persistent data under ``.azurite/`` on the default ports, unless an
Azurite already listens there) and by the tests (in-memory, on free ports, one instance
per test session or module, stopped afterwards).

    python -m devtools.azurite            # run in the foreground on the default ports
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_NAME = "devstoreaccount1"
# The well-known Azurite development key (public, documented by Microsoft; not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEFAULT_PORTS = (10000, 10001, 10002)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def azurite_executable() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError(
        "Azurite is not installed: run `npm ci` (or `make install`) in the project folder"
    )


def connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{ACCOUNT_NAME};"
    )


PORT_ATTEMPTS = 3  # free ports tried when another process takes one first


def start_on_free_ports(
    start: Callable[[], T],
    taken: Callable[[Exception], bool],
    choose_again: Callable[[], None] | None,
) -> T:
    """``start()``, again on new ports (``choose_again()``) while it fails because a port
    chosen free was taken before the server bound it (``taken(error)``), at most
    ``PORT_ATTEMPTS`` times in all. ``choose_again`` None: the ports are the caller's own,
    the first failure is raised. Azurite, the local OpenID Connect provider and the tests'
    local host and SMTP server start this way."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return start()
        except Exception as exc:
            if choose_again is None or attempt == PORT_ATTEMPTS or not taken(exc):
                raise
            choose_again()
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """A server (Azurite, the local OpenID Connect provider) could not listen: another
    process holds a port it was given."""


@dataclass
class Azurite:
    """One Azurite process on loopback. ``location=None`` keeps everything in memory.

    Ports left out (0) are chosen free. A free port is free only when it is chosen: the
    kernel can hand it to another process's outgoing connection (the same ephemeral range)
    before Azurite binds it, and Azurite then exits with EADDRINUSE (seen once in a
    fresh-clone run of the suite). Ports chosen here are chosen again and the start
    retried; ports the caller named are the caller's, and their failure is reported."""

    blob_port: int = 0
    queue_port: int = 0
    table_port: int = 0
    location: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    chosen_ports: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not (self.blob_port or self.queue_port or self.table_port):
            self.chosen_ports = True
            self._choose_ports()

    def _choose_ports(self) -> None:
        self.blob_port, self.queue_port, self.table_port = free_port(), free_port(), free_port()

    @property
    def ports(self) -> tuple[int, int, int]:
        return (self.blob_port, self.queue_port, self.table_port)

    @property
    def connection_string(self) -> str:
        return connection_string(*self.ports)

    def start(self, timeout: float = 30.0) -> Azurite:
        return start_on_free_ports(
            lambda: self._start(timeout),
            lambda error: isinstance(error, PortTaken),
            self._choose_ports if self.chosen_ports else None,
        )

    def _start(self, timeout: float) -> Azurite:
        args = [
            azurite_executable(),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
        ]  # fmt: skip
        if self.location is None:
            args.append("--inMemoryPersistence")
        else:
            self.location.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(self.location)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # our own process group: stopped as a whole
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                failure = PortTaken if "EADDRINUSE" in err else RuntimeError
                raise failure(f"Azurite exited at start (code {self.process.returncode}): {err}")
            if all(port_open(p) for p in self.ports):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"Azurite did not listen on {self.ports} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        stop_process_group(proc, timeout)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process_group(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group a helper process leads (started with
    ``start_new_session=True``), then SIGKILL it if it has not ended within ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def default_ports_in_use() -> bool:
    return all(port_open(p) for p in DEFAULT_PORTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--location", default=str(ROOT / ".azurite"))
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args(argv)
    if default_ports_in_use():
        print("Azurite already listens on 10000-10002; using it.", file=sys.stderr)
        return 0
    azurite = Azurite(*DEFAULT_PORTS, location=None if args.in_memory else Path(args.location))
    azurite.start()
    print(f"Azurite listening on 127.0.0.1:{DEFAULT_PORTS} (Ctrl-C to stop)", file=sys.stderr)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # Azurite runs in its own process group: stop it ourselves

    signal.signal(signal.SIGTERM, stop)
    try:
        assert azurite.process is not None
        azurite.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
