"""Issue 18 item 13: the always-ready instances the deployment bills are the ones documented.

Flex Consumption scales per function: all HTTP functions form the group `http`, Blob
(Event Grid) functions `blob`, Durable ones `durable`, and every other function (our queue
and timer functions) is a group of its own, `function:<name>` (learn.microsoft.com/azure/
azure-functions/flex-consumption-plan, "Per-function scaling"; always-ready names the same
groups, https://aka.ms/flexconsumption/alwaysready). With zone redundancy "the platform
automatically maintains at least two always-ready instances for each per-function scaling
function or group, regardless of the app's always-ready configuration", billed as always
ready (learn.microsoft.com/azure/reliability/reliability-functions, Flex Consumption).

So prod with zone redundancy billed 2 x 8 = 16 instances around the clock where the docs
promised 2. Zone redundancy is now a parameter of its own, off by default, its description
stating that cost; this test recounts the groups from the app's function metadata, so a new
queue or timer function that changes the figure fails it until the description says so.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "infra" / "main.bicep"
FUNCTION_APP = ROOT / "infra" / "modules" / "function-app.bicep"
ZONE_MINIMUM = 2  # always-ready instances per group on a zone-redundant plan

GROUP_OF_TRIGGER = {
    "httpTrigger": "http",
    "blobTrigger": "blob",  # with the Event Grid source, as Flex Consumption requires
    "orchestrationTrigger": "durable",
    "activityTrigger": "durable",
    "entityTrigger": "durable",
}


def scale_groups() -> set[str]:
    import function_app
    from shared.openapi import _built_functions  # get_functions() may be called only once

    groups = set()
    for function in _built_functions(function_app.app):
        [trigger] = [b.type for b in function.get_bindings() if b.type.endswith("Trigger")]
        groups.add(GROUP_OF_TRIGGER.get(trigger, f"function:{function.get_function_name()}"))
    return groups


def billed_always_ready(configured: dict[str, int], zone_redundant: bool) -> int:
    groups = scale_groups()
    assert set(configured) <= groups, set(configured) - groups
    if zone_redundant:
        return sum(max(configured.get(group, 0), ZONE_MINIMUM) for group in groups)
    return sum(configured.values())


def description_of(name: str) -> str:
    text = MAIN.read_text(encoding="utf-8")
    [description] = re.findall(rf"@description\('((?:[^'\\]|\\.)*)'\)\s*\nparam {name} ", text)
    return description


def default_of(name: str) -> str:
    [default] = re.findall(rf"(?m)^param {name} \w+ = (.+)$", MAIN.read_text(encoding="utf-8"))
    return default


def prod_default(name: str) -> int:
    match = re.fullmatch(r"environmentType == 'prod' \? (\d+) : (\d+)", default_of(name))
    assert match, default_of(name)
    return int(match.group(1))


def configured_groups(http_instances: int) -> dict[str, int]:
    """What function-app.bicep writes into scaleAndConcurrency.alwaysReady."""
    text = FUNCTION_APP.read_text(encoding="utf-8")
    [line] = [ln for ln in text.splitlines() if ln.startswith("var alwaysReady =")]
    names = re.findall(r"name: '([^']+)'", line)
    assert names == ["http"], line  # only the http group is kept warm
    return {"http": http_instances} if http_instances > 0 else {}


def test_item13_the_app_has_the_scale_groups_the_docs_count() -> None:
    groups = scale_groups()
    assert "http" in groups
    others = sorted(g for g in groups if g.startswith("function:"))
    assert len(groups) == 1 + len(others)
    assert f"{len(others)} queue and timer functions = {len(groups)} groups" in description_of(
        "zoneRedundant"
    )


def test_item13_prod_bills_the_documented_always_ready_instances() -> None:
    http = prod_default("alwaysReadyHttpInstances")
    assert default_of("zoneRedundant") == "false"  # in dev and prod: a choice with its cost
    assert billed_always_ready(configured_groups(http), zone_redundant=False) == http == 2
    assert f"instead of alwaysReadyHttpInstances ({http} in prod)" in description_of(
        "zoneRedundant"
    )


def test_item13_the_zone_redundancy_cost_is_stated_as_the_platform_counts_it() -> None:
    http = prod_default("alwaysReadyHttpInstances")
    billed = billed_always_ready(configured_groups(http), zone_redundant=True)
    assert billed == ZONE_MINIMUM * len(scale_groups())
    assert f"at least {billed} always-ready instances are billed" in description_of("zoneRedundant")
    assert f"it bills {billed} always-ready instances" in description_of("environmentType")


def test_item13_the_check_fails_on_the_old_prod_default() -> None:
    """Before: zoneRedundant defaulted to prod, so prod billed 16 while the docs said 2."""
    http = prod_default("alwaysReadyHttpInstances")
    assert billed_always_ready(configured_groups(http), zone_redundant=True) != http
