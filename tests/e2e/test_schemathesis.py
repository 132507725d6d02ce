"""Schemathesis against the whole app: the document must tell the truth, and no input a 500.

The app runs through the local host on Azurite. Schemathesis reads ``/api/openapi.json``
and runs every phase (examples, coverage, fuzzing, and the stateful phase that follows the
document's links) with every check (server errors, status codes, content types, response
schemas and headers, negative data rejected, positive data accepted, auth, use after
free, ...) as a verified, signed-in user who got there the way a person does (register,
the code from the outbox, verify, log in). ``schemathesis.toml`` enables every check (as
``--checks all`` would) and holds the few exceptions, each with its reason: business
rules a schema cannot state, and the host's 404 for an undeclared method
(tests/unit/test_fuzz_config.py pins that list).

Two seeded, bounded runs: every phase with the fixed ``SEED`` (what passed once keeps
passing), and the seed-dependent phases (fuzzing, stateful) with a seed drawn anew for every
run (issue 18 item 10: a fixed seed never finds what another seed found, such as a provider
name in the wrong case or an e-mail address the schema did not refuse). The drawn seed is
printed and named in the failure message; ``SCHEMATHESIS_SEED=<seed>`` replays it
(see docs/api.md). Each run is a test of its own class, with a host of its own: the longest
tests of the suite, so that ``--dist loadscope`` (a class is a scope) runs them on two
workers at once rather than one after the other.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.support.host import LocalHost
from tests.support.signup import unique_email, verified_account

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 25  # per operation, the fixed seed's run
VARYING_MAX_EXAMPLES = 15  # per operation, the drawn seed's run (fuzzing and stateful only)
SEED = 20261201
TIMEOUT_SECONDS = 300
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")
SEEDED_PHASES = ("fuzzing", "stateful")  # what the seed changes; the others are fixed


def varying_seed() -> int:
    """SCHEMATHESIS_SEED to replay a run, else a new seed each run."""
    replay = os.environ.get("SCHEMATHESIS_SEED", "").strip()
    return int(replay) if replay else random.SystemRandom().randrange(1, 2**31)


def _seed_data(host: LocalHost, outbox: Path, token: str) -> None:
    """Another user's open job (to find and bid on) and their bid on one of ours (to accept),
    so that the stateful phase's links have something to follow."""
    _, other = verified_account(host.url, outbox)
    ours = {"Authorization": f"Bearer {token}"}
    theirs = {"Authorization": f"Bearer {other}"}
    later = datetime.now(UTC) + timedelta(days=30)
    job = {"name": "seed", "kind": "history.export", "scheduled_time": later.isoformat()}
    created = requests.post(f"{host.url}/api/jobs", json=job, headers=theirs, timeout=15)
    assert created.status_code == 201, created.text
    mine = requests.post(f"{host.url}/api/jobs", json=job, headers=ours, timeout=15)
    assert mine.status_code == 201, mine.text
    bid = {
        "comment": "I can do this well and on time.",
        "proposed_deadline": later.date().isoformat(),
        "fee": {"amount": 10, "currency": "EUR"},
    }
    placed = requests.post(
        f"{host.url}/api/jobs/{mine.json()['id']}/bids", json=bid, headers=theirs, timeout=15
    )
    assert placed.status_code == 201, placed.text


@pytest.fixture
def fuzzed_host(
    local_host_factory: Callable[..., LocalHost], tmp_path: Path
) -> tuple[LocalHost, str]:
    """A host as ``make run`` starts it, its seed data, and a signed-in admin's token."""
    outbox = tmp_path / "outbox"
    fuzzer = unique_email("fuzzer")
    host = local_host_factory(
        realtime=True,  # as make run: negotiate answers, pushes go to the emulator
        EMAIL_PROVIDER="outbox",
        EMAIL_OUTBOX_DIR=str(outbox),
        RATE_LIMITS_ENABLED="false",  # the fuzzer sends far more than a person would
        ADMIN_EMAILS=fuzzer,  # so the admin routes are explored past their 403
    )
    _, token = verified_account(host.url, outbox, fuzzer)
    _seed_data(host, outbox, token)
    return host, token


class TestFixedSeed:
    @pytest.mark.timeout(TIMEOUT_SECONDS + 60)
    def test_schemathesis_finds_nothing(self, fuzzed_host: tuple[LocalHost, str]) -> None:
        host, token = fuzzed_host
        deadline = time.monotonic() + TIMEOUT_SECONDS
        _run(host, token, SEED, ALL_PHASES, MAX_EXAMPLES, deadline)


class TestDrawnSeed:
    @pytest.mark.timeout(TIMEOUT_SECONDS + 60)
    def test_schemathesis_finds_nothing(self, fuzzed_host: tuple[LocalHost, str]) -> None:
        host, token = fuzzed_host
        drawn = varying_seed()
        print(f"schemathesis seed drawn: {drawn} (replay: SCHEMATHESIS_SEED={drawn})")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        _run(host, token, drawn, SEEDED_PHASES, VARYING_MAX_EXAMPLES, deadline)


def _run(
    host: LocalHost, token: str, seed: int, phases: tuple[str, ...], examples: int,
    deadline: float,
) -> None:  # fmt: skip
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{host.url}/api/openapi.json",
        "--phases", ",".join(phases),
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--workers", "1",
        "--generation-database", "none",
        # Checks of the generator, not of the API: some seeds cannot make enough URL-safe
        # values for the plain-string catch-all parameters of /api/app/{path} and
        # /api/docs/{asset} (seed 784968039 did) and would fail the run for that alone;
        # and generating them is "too slow" when the two runs share two busy cores with
        # the rest of the suite (seed 621250349 under load 14, GET /api/app/{path}).
        "--suppress-health-check", "filter_too_much,too_slow",
        "--request-timeout", "30",
        "--header", f"Authorization: Bearer {token}",
        "--no-color",
    ]  # fmt: skip
    # The CLI runs no code that coverage measures (its hooks are under tests/): it runs
    # without the tracer that ``--cov`` passes to every Python subprocess (the host keeps it).
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,  # schemathesis.toml (hooks, per-operation rules) is read from here
        capture_output=True,
        text=True,
        timeout=max(deadline - time.monotonic(), 1),
        check=False,
    )
    report = result.stdout + result.stderr
    replay = (
        f"seed {seed}, phases {','.join(phases)}, {examples} examples; replay with "
        f"SCHEMATHESIS_SEED={seed} make test PYTEST_ARGS=tests/e2e/test_schemathesis.py"
    )
    assert result.returncode == 0, f"schemathesis found something ({replay}):\n{report[-30000:]}"
    assert "Tested: " in report
    for phase in phases[1:] if phases[0] == "examples" else phases:
        assert f"✅ {phase.capitalize()}" in report, (
            f"{phase} did not pass ({replay}):\n{report[-5000:]}"
        )
