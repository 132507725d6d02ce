"""``make run``: the whole app locally, in one command.

1. Azurite on 127.0.0.1:10000-10002 with data under ``.azurite/`` (unless one already
   listens there, which is then used and left running);
2. ``local.settings.json`` (created by make from the example if missing);
3. offline fallbacks: when the weather provider's host cannot be reached, the simulated
   provider is used (said on the console; an explicit WEATHER_PROVIDER in the environment
   is respected);
4. social sign-in: when OAUTH_PROVIDERS is not configured (environment or settings file),
   a local OpenID Connect provider (devtools/oidc_provider.mjs) on 127.0.0.1:7073 (or a
   free port) with the test user alice@example.com, and OAUTH_PROVIDERS naming it;
5. real time: when no WEBPUBSUB_* setting is configured (environment or settings file),
   the Web PubSub emulator (devtools/webpubsub.py) on 127.0.0.1:7080 (or a free port) with
   a random access key, and WEBPUBSUB_CONNECTION_STRING and WEBPUBSUB_HUB naming it;
6. the local Functions host on ``--port`` (7071), in the foreground.

Ctrl-C stops the host (which gives running work a 10 s grace; a second Ctrl-C ends it at
once) and then what this command started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from devtools.azurite import DEFAULT_PORTS, Azurite, default_ports_in_use, free_port, port_open
from devtools.oidc import LocalOidcProvider
from devtools.webpubsub import WebPubSubEmulator

OIDC_PORT = 7073
WEBPUBSUB_PORT = 7080

ROOT = Path(__file__).resolve().parent.parent


def _reachable(url: str, timeout: float = 1.5) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def offline_overrides(values: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """Settings to switch to offline stand-ins for services this machine cannot reach."""
    overrides: dict[str, str] = {}
    provider = environ.get("WEATHER_PROVIDER") or values.get("WEATHER_PROVIDER", "open-meteo")
    if "WEATHER_PROVIDER" not in environ and provider == "open-meteo":
        base = values.get("OPEN_METEO_BASE_URL") or "https://api.open-meteo.com/v1"
        if not _reachable(base):
            overrides["WEATHER_PROVIDER"] = "simulated"
    return overrides


def local_sign_in(
    values: dict[str, str], env: dict[str, str], app_port: int
) -> LocalOidcProvider | None:
    """Start the local OpenID Connect provider and name it in ``env`` unless
    OAUTH_PROVIDERS is configured; None when it is (or when the provider cannot start)."""
    if (env.get("OAUTH_PROVIDERS") or values.get("OAUTH_PROVIDERS") or "").strip():
        return None
    redirect_uris = [
        f"http://{host}:{app_port}/api/auth/local/callback" for host in ("localhost", "127.0.0.1")
    ]
    port = OIDC_PORT if not port_open(OIDC_PORT) else free_port()
    try:
        provider = LocalOidcProvider(redirect_uris, port=port).start()
    except (OSError, RuntimeError) as exc:
        print(f"Social sign-in: the local OpenID Connect provider did not start ({exc}).",
              file=sys.stderr, flush=True)  # fmt: skip
        return None
    env["OAUTH_PROVIDERS"] = provider.providers_setting()
    name, secret = provider.secret_setting
    env[name] = secret
    return provider


def local_realtime(values: dict[str, str], env: dict[str, str]) -> WebPubSubEmulator | None:
    """Start the Web PubSub emulator and name it in ``env`` unless a WEBPUBSUB_CONNECTION_STRING
    or WEBPUBSUB_ENDPOINT is configured; None when one is (or when it cannot start)."""
    names = ("WEBPUBSUB_CONNECTION_STRING", "WEBPUBSUB_ENDPOINT")
    if any((env.get(n) or values.get(n) or "").strip() for n in names):
        return None
    port = WEBPUBSUB_PORT if not port_open(WEBPUBSUB_PORT) else free_port()
    try:
        emulator = WebPubSubEmulator(port=port).start()  # a random access key
    except (OSError, RuntimeError) as exc:
        print(f"Real time: the Web PubSub emulator did not start ({exc}).",
              file=sys.stderr, flush=True)  # fmt: skip
        return None
    env["WEBPUBSUB_CONNECTION_STRING"] = emulator.connection_string
    env["WEBPUBSUB_HUB"] = env.get("WEBPUBSUB_HUB") or values.get("WEBPUBSUB_HUB") or "weather"
    return emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the app locally (Azurite + local host).")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    args = parser.parse_args(argv)

    if port_open(args.port):
        print(f"error: port {args.port} is in use (set PORT=... to choose another)",
              file=sys.stderr)  # fmt: skip
        return 1
    azurite: Azurite | None = None
    if default_ports_in_use():
        print("Using the Azurite already listening on 127.0.0.1:10000-10002.", flush=True)
    elif any(port_open(p) for p in DEFAULT_PORTS):
        print("error: some of the ports 10000-10002 are taken, but not by Azurite",
              file=sys.stderr)  # fmt: skip
        return 1
    else:
        azurite = Azurite(*DEFAULT_PORTS, location=ROOT / ".azurite").start()
        print("Started Azurite on 127.0.0.1:10000-10002 (data in .azurite/).", flush=True)

    env = dict(os.environ)
    try:
        values = json.loads(args.settings.read_text(encoding="utf-8")).get("Values", {})
    except (OSError, ValueError):
        values = {}  # the host reports the problem with the file itself
    for name, value in offline_overrides(values, env).items():
        env[name] = value
        print(f"Offline: the weather provider is not reachable; {name}={value}.", flush=True)

    oidc = local_sign_in(values, env, args.port)
    webpubsub = local_realtime(values, env)
    url = f"http://localhost:{args.port}"
    sign_in = (
        f"  sign-in:   local OpenID Connect provider {oidc.issuer} (test user alice@example.com;"
        f" {url}/api/auth/local/login)\n  OAUTH_PROVIDERS={env['OAUTH_PROVIDERS']}\n"
        if oidc
        else "  sign-in:   OAUTH_PROVIDERS as configured\n"
    )
    realtime = (
        f"  real time: Web PubSub emulator {webpubsub.endpoint} (hub {env['WEBPUBSUB_HUB']};"
        f" POST {url}/api/realtime/negotiate)\n"
        if webpubsub
        else "  real time: WEBPUBSUB_* as configured\n"
    )
    print(
        f"\nStarting the Functions host on {url}\n"
        f"  web app:   {url}/api/app\n"
        f"  health:    {url}/api/health\n"
        f"  API docs:  {url}/api/docs\n"
        "  e-mails:   .outbox/ (make outbox shows the newest codes)\n"
        f"{sign_in}"
        f"{realtime}"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    # The host in a process group of its own, like Azurite: Ctrl-C reaches this process only,
    # which passes each signal on once. (In one group the host got the terminal's SIGINT and
    # the forwarded SIGTERM: two signals, which now mean "stop at once".) The host gives
    # running invocations a 10 s grace; a second Ctrl-C ends it at once.
    host = subprocess.Popen(
        [sys.executable, "-m", "devtools.host", "--port", str(args.port),
         "--settings", str(args.settings)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )  # fmt: skip

    def forward(signum: int, _frame: object) -> None:
        if host.poll() is None:
            host.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        code = host.wait()
    finally:
        if host.poll() is None:
            host.kill()
        if oidc is not None:
            oidc.stop()
        if webpubsub is not None:
            webpubsub.stop()
            print("Stopped the Web PubSub emulator.", flush=True)
        if azurite is not None:
            azurite.stop()
            print("Stopped Azurite.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
