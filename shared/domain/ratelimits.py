"""Abuse limits as a rule: the generic cell rate algorithm (GCRA), pure.

A ``Rate`` of ``limit`` per ``period_seconds`` is a token bucket that holds ``limit``
tokens and earns one back every ``period / limit`` seconds. GCRA keeps it as one number
per key, the theoretical arrival time (TAT): a request is allowed when
``max(tat, now) + interval - period <= now``, and then the TAT moves on by one interval.
One number means one small entity per key in storage, written with its ETag.

Against a fixed window it has no boundary at which twice the limit gets through, and the
wait it answers (``Retry-After``) is exact: the time until the next token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period_seconds``, in a burst or spread out."""

    name: str  # part of the storage key: rename a rate and its counts start afresh
    limit: int
    period_seconds: float

    @property
    def interval(self) -> float:
        return self.period_seconds / self.limit


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tat: float  # the TAT to store when allowed (unchanged when refused)
    retry_after: float  # seconds until one more would be allowed (0 when allowed)


def decide(rate: Rate, tat: float | None, now: float) -> Decision:
    """Whether one more request is allowed at ``now`` (seconds since the epoch) given the
    stored ``tat`` (None: the key has no history)."""
    base = now if tat is None else max(tat, now)
    new_tat = base + rate.interval
    allow_at = new_tat - rate.period_seconds
    if allow_at > now:
        return Decision(False, base if tat is not None else now, allow_at - now)
    return Decision(True, new_tat, 0.0)
