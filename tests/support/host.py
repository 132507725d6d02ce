"""Run the local Functions host (``python -m devtools.host``) as a process, for e2e tests.

    with LocalHost({"AzureWebJobsStorage": azurite.connection_string, ...}) as host:
        requests.get(f"{host.url}/api/health")

The settings are written to a temporary ``local.settings.json`` (as a developer's would
be), so the host is exercised exactly as ``make run`` uses it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from devtools.azurite import free_port, port_open, start_on_free_ports

ROOT = Path(__file__).resolve().parents[2]

# Queue timings short enough for tests, set the way Azure lets app settings override
# host.json (AzureFunctionsJobHost__path__to__setting).
FAST_QUEUE_SETTINGS = {
    "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
}


class LocalHost:
    def __init__(
        self,
        values: dict[str, str],
        *,
        app: str = "function_app",
        port: int | None = None,
        cwd: Path | None = None,
        extra_args: tuple[str, ...] = (),
        host_section: dict[str, Any] | None = None,
    ) -> None:
        self.values = {k: str(v) for k, v in values.items()}
        self.app = app
        self.port = port or free_port()
        self.chosen_port = port is None  # chosen again if taken before the host binds it
        self.cwd = cwd or ROOT
        self.extra_args = extra_args
        self.host_section = host_section  # the "Host" object of local.settings.json
        self.process: subprocess.Popen[str] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="localhost-")
        self.settings_file = Path(self._dir.name) / "local.settings.json"
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs(self) -> str:
        return "\n".join(self._lines)

    def log_records(self) -> list[dict[str, Any]]:
        """The host's JSON log lines, parsed (other lines skipped)."""
        records = []
        for line in list(self._lines):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                records.append(value)
        return records

    def start(self, timeout: float = 30.0) -> LocalHost:
        """Start the host and wait until it listens. A port chosen free can be taken by
        another process (an outgoing connection gets ports from the same range) before
        the host binds it: then a new port is chosen and the start retried, at most 3
        times (devtools/azurite.py does the same for Azurite)."""

        def taken(error: Exception) -> bool:
            return isinstance(error, RuntimeError) and "Address already in use" in str(error)

        return start_on_free_ports(
            lambda: self._start(timeout),
            taken,
            self._choose_port if self.chosen_port else None,
        )

    def _choose_port(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)  # the failed process's last lines
        self.port = free_port()
        self._lines.clear()

    def _start(self, timeout: float) -> LocalHost:
        document: dict[str, Any] = {"IsEncrypted": False, "Values": self.values}
        if self.host_section is not None:
            document["Host"] = self.host_section
        self.settings_file.write_text(json.dumps(document), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in self.values}
        env["PYTHONUNBUFFERED"] = "1"
        args = [
            sys.executable, "-m", "devtools.host",
            "--port", str(self.port),
            "--app", self.app,
            "--settings", str(self.settings_file),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                time.sleep(0.1)
                raise RuntimeError(
                    f"local host exited with {self.process.returncode}:\n{self.logs}"
                )
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"local host did not listen within {timeout}s:\n{self.logs}")

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line.rstrip("\n"))

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as Ctrl-C or the platform would: the host finishes what runs, then exits."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=2)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group: a worker dying mid-job."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def run_function(self, name: str, input_value: str = "") -> requests.Response:
        """POST /admin/functions/{name}: run a non-HTTP function now (202)."""
        return requests.post(
            f"{self.url}/admin/functions/{name}", json={"input": input_value}, timeout=10
        )

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
