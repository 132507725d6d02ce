"""A provider's request budget as a rule: a sliding-window log. Pure.

The budget keeps the times of the claims taken in the last window (at most ``limit`` of
them, one small entity in storage) and a ``blocked_until`` time for a provider's 429. A
claim at ``now`` is allowed when fewer than ``limit`` claims lie in ``(now - window, now]``
and the key is not blocked; so any window of that length holds at most ``limit`` claims.

``window`` is the provider's 60 s plus a margin: a request leaves a little after its claim
(the claim's write returns first) and instances' clocks differ a little; with the margin
the provider sees at most ``limit`` requests in any 60 s as long as a request leaves
within ``margin`` of its claim (the adapter drops a claim that got older than that before
it was confirmed, and claims again).

Why not the GCRA of shared/domain/ratelimits.py: with a burst of ``limit`` it lets
2 x limit - 1 requests into some 60 s window (a full bucket, then one per interval); with
a burst of one it is exact but paces every request (one a second at 60/min), so the 20
requests of 1,000 Open-Meteo cities would take 20 s instead of going at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BudgetState:
    claims: tuple[float, ...] = ()  # claim times (seconds since the epoch), ascending
    blocked_until: float = 0.0


@dataclass(frozen=True)
class BudgetDecision:
    allowed: bool
    state: BudgetState  # what to store when allowed
    wait: float  # seconds until a claim could be allowed (0.0 when allowed)


def decide_claim(state: BudgetState, now: float, limit: int, window: float) -> BudgetDecision:
    if state.blocked_until > now:
        return BudgetDecision(False, state, state.blocked_until - now)
    recent = [t for t in state.claims if t > now - window]
    if len(recent) >= limit:
        # Allowed again once the claim ``limit`` places back leaves the window (a
        # millisecond more, so that a caller who waits exactly this long is let in
        # despite the rounding of epoch seconds).
        oldest_that_matters = recent[len(recent) - limit]
        return BudgetDecision(False, state, max(oldest_that_matters + window - now, 0.0) + 1e-3)
    # Claims stay ordered even when another instance's clock ran a little ahead.
    at = max([now, *recent[-1:]])
    return BudgetDecision(True, BudgetState((*recent, at), state.blocked_until), 0.0)


def block(state: BudgetState, until: float) -> BudgetState:
    return BudgetState(state.claims, max(state.blocked_until, until))
