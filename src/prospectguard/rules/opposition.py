"""The right to object (G3): once a number objected, the professional never contacts it again."""

from __future__ import annotations

from prospectguard.rules.context import Context


def check_opposition(ctx: Context) -> None:
    if not ctx.law.value("G3", "applies"):
        return
    events = [e for e in ctx.facts.oppositions if e.at <= ctx.at]
    if events:
        latest = sorted(events, key=lambda e: e.at)[-1]  # stable: the last recorded wins a tie
        if latest.active:
            ctx.block("OPPOSITION", "G3", f"Number objected on {latest.at:%Y-%m-%d}")
