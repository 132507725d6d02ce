"""The local OpenID Connect provider (devtools/oidc_provider.mjs, npm ``oidc-provider``)
as a process on loopback, for ``make run`` and the tests.

    with LocalOidcProvider(["http://localhost:7071/api/auth/local/callback"]) as op:
        op.issuer, op.client_id, op.client_secret, op.providers_setting()

Its sign-in page lists the test users alice@example.com and bob@example.com (verified)
and eve@example.com (unverified); see the script's header.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from devtools.azurite import PortTaken, free_port, start_on_free_ports, stop_process_group

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "devtools" / "oidc_provider.mjs"
PROVIDER_NAME = "local"


@dataclass
class LocalOidcProvider:
    redirect_uris: list[str]
    port: int = 0  # 0: a free one, chosen again if it is taken before the provider binds it
    client_id: str = "weather-jobs-local"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    issuer: str = ""
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> LocalOidcProvider:
        """Start the provider; on a port of its own choosing unless one was named (chosen
        again if taken before it binds, as devtools.azurite.start_on_free_ports says)."""
        chosen = self.port == 0

        def choose_again() -> None:
            self.port = free_port()

        if chosen:
            choose_again()
        return start_on_free_ports(
            lambda: self._start(timeout), lambda error: isinstance(error, PortTaken),
            choose_again if chosen else None,
        )  # fmt: skip

    def _start(self, timeout: float) -> LocalOidcProvider:
        self.issuer, self.lines = "", []
        args = ["node", str(SCRIPT), "--port", str(self.port), "--client-id", self.client_id]
        for uri in self.redirect_uris:
            args += ["--redirect-uri", uri]
        env = dict(os.environ, OIDC_CLIENT_SECRET=self.client_secret)  # not on the command line
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not self.issuer:
            self.stop()
            failure = PortTaken if "EADDRINUSE" in self.log else RuntimeError
            raise failure("the local OpenID Connect provider did not start:\n" + self.log)
        return self

    def _read(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if not self.issuer and line.startswith("{"):
                try:
                    self.issuer = str(json.loads(line)["issuer"])
                except (ValueError, KeyError):
                    continue
                ready.set()
        ready.set()  # exited

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def providers_setting(self, display_name: str = "Local test provider") -> str:
        """OAUTH_PROVIDERS naming this provider (its secret: ``secret_setting``)."""
        return json.dumps([{"name": PROVIDER_NAME, "display_name": display_name,
                            "issuer": self.issuer, "client_id": self.client_id}])  # fmt: skip

    @property
    def secret_setting(self) -> tuple[str, str]:
        return (f"OAUTH_{PROVIDER_NAME.upper()}_CLIENT_SECRET", self.client_secret)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        stop_process_group(proc, timeout)

    def __enter__(self) -> LocalOidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
