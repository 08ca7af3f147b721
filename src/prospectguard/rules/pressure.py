"""Pressure on a consumer: the frequency cap (B3) and the pause after a refusal (B4), voice only."""

from __future__ import annotations

from datetime import UTC, timedelta
from functools import cache

from prospectguard.law import LawAt
from prospectguard.rules.context import Context


@cache
def _cap(law: LawAt) -> tuple[int, timedelta] | None:
    cap = law.value("B3", "max_attempts")
    return None if cap is None else (cap, timedelta(days=law.value("B3", "window_days")))


@cache
def _pause(law: LawAt) -> timedelta | None:
    days = law.value("B4", "cooldown_days")
    return None if days is None else timedelta(days=days)


def check_frequency(ctx: Context) -> None:
    """B3: at most 4 voice attempts by the same professional in any rolling 30 days (D223-9 al. 3)."""
    if not (ctx.voice and ctx.consumer and ctx.facts.attempts):
        return
    rule = _cap(ctx.law)
    if rule is None:
        return
    cap, window = rule
    at = ctx.at
    since = at - window
    recent = [a.at for a in ctx.facts.attempts if a.channel == "voice" and since < a.at <= at]
    if len(recent) >= cap:
        recent.sort()
        # Allowed again once only cap-1 of these remain inside the window.
        ctx.block(
            "FREQUENCY_CAP",
            "B3",
            f"{len(recent)} calls or attempts in the last {window.days} days (at most {cap})",
            clears=recent[len(recent) - cap].astimezone(UTC) + window,
        )


def check_refusal(ctx: Context) -> None:
    """B4: no call for 60 days after the consumer refused during a call (a voice attempt, D223-9 al. 3)."""
    if not (ctx.voice and ctx.consumer and ctx.facts.attempts):
        return
    pause = _pause(ctx.law)
    if pause is None:
        return
    at = ctx.at
    since = at - pause
    refusals = [
        a.at for a in ctx.facts.attempts if a.outcome == "refused" and a.channel == "voice" and since < a.at <= at
    ]
    if refusals:
        last = max(refusals)
        ctx.block(
            "REFUSAL_COOLDOWN",
            "B4",
            f"Consumer refused on {last:%Y-%m-%d}: no contact for {pause.days} days",
            clears=last.astimezone(UTC) + pause,
        )
