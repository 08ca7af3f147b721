"""Days and hours: B1 (consumer calls, with A7's agreed slot) and F6 (SMS quiet hours, a policy).

Both are judged in the consumer's own time zone. When a contact falls outside, each reason carries
the next opening, so the engine can compute `next_allowed_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from prospectguard.law import LawAt
from prospectguard.rules.calendar import no_call_days
from prospectguard.rules.consent import valid_consents
from prospectguard.rules.context import Context

# How far ahead a window is looked for before giving up (fail closed: no next_allowed_at).
_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class Hours:
    """One rule's calendar, parsed once per law period."""

    windows: tuple[tuple[time, time], ...]
    weekdays: frozenset[int]
    spans: str  # "10:00-13:00, 14:00-20:00", for messages


@cache
def hours_of(law: LawAt, rule: str) -> Hours | None:
    raw = law.value(rule, "windows")
    if raw is None:
        return None
    windows = tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in raw)
    return Hours(
        windows=windows,
        weekdays=frozenset(law.value(rule, "weekdays")),
        spans=", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in windows),
    )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def consumer_time(ctx: Context) -> str:
    """ "it is Tue 2026-12-01 13:30 (Europe/Paris)", built by hand: strftime costs microseconds."""
    local, location = ctx.local, ctx.location
    assert local is not None and location is not None
    return f"it is {_DAYS[local.weekday()]} {local.date()} {local.hour:02d}:{local.minute:02d} ({location.timezone})"


def next_opening(ctx: Context, local: datetime, hours: Hours) -> datetime | None:
    """The earliest instant >= `local` inside a window on an allowed, non-holiday day."""
    assert ctx.location is not None
    tz = local.tzinfo
    day = local.date()
    for _ in range(_HORIZON_DAYS):
        if day.isoweekday() in hours.weekdays and day not in no_call_days(ctx.law, ctx.location, day.year):
            for a, b in hours.windows:
                start = datetime.combine(day, a, tzinfo=tz)
                if local < datetime.combine(day, b, tzinfo=tz):
                    return max(start, local)
        day += timedelta(days=1)
    return None


def _outside(ctx: Context, hours: Hours) -> tuple[bool, bool, bool]:
    """(non-working day, public holiday, outside hours) at the consumer's local instant."""
    assert ctx.local is not None and ctx.location is not None
    local = ctx.local
    day = local.date()
    now = local.time()
    return (
        day.isoweekday() not in hours.weekdays,
        day in no_call_days(ctx.law, ctx.location, day.year),
        not any(a <= now < b for a, b in hours.windows),
    )


def check_call_hours(ctx: Context) -> None:
    """B1: consumers are called Mon-Fri, not on holidays, 10-13 h and 14-20 h their time (D223-9)."""
    if not (ctx.voice and ctx.consumer) or ctx.local is None:
        return
    hours = hours_of(ctx.law, "B1")
    if hours is None:
        return
    weekend, holiday, outside = _outside(ctx, hours)
    if not (weekend or holiday or outside):
        return
    slots = _agreed_slots(ctx)
    if any(a <= ctx.at < b for a, b in slots):
        return  # A7: inside a slot the consumer agreed to
    opening = next_opening(ctx, ctx.local, hours)
    later = [a for a, _ in slots if a > ctx.at]
    if later:
        opening = min([*later, opening] if opening else later)
    now = consumer_time(ctx)
    if weekend:
        ctx.block("NON_WORKING_DAY", "B1", f"Calls to consumers only Mon-Fri; {now}", clears=opening)
    if holiday:
        ctx.block("PUBLIC_HOLIDAY", "B1", f"Public holiday where the consumer is; {now}", clears=opening)
    if outside:
        ctx.block("OUTSIDE_HOURS", "B1", f"Calls only {hours.spans} consumer's time; {now}", clears=opening)


def _agreed_slots(ctx: Context) -> list[tuple[datetime, datetime]]:
    """A7: slots, not yet over, of consents valid when the slot applies, for out-of-hours calls.

    A slot is judged under the law of its own day: one agreed on 10 Aug 2026 for 11 Aug counts.
    """
    assert ctx.location is not None
    slots = []
    for c in ctx.facts.consents:
        if c.slot_start is None or c.slot_end is None or c.slot_end <= ctx.at:
            continue
        when = max(c.slot_start, ctx.at)
        day = when.astimezone(ZoneInfo(ctx.location.timezone)).date()
        if ctx.laws.at(day).value("A7", "applies") and c in valid_consents(ctx, at=when):
            slots.append((c.slot_start, c.slot_end))
    return slots


def check_sms_quiet_hours(ctx: Context) -> None:
    """F6 (policy): SMS only Mon-Sat 08-20 h the consumer's time, not on holidays."""
    if not (ctx.sms and ctx.consumer) or ctx.local is None:
        return  # section 1: quiet hours are in the consumer SMS regime only
    hours = hours_of(ctx.law, "F6")
    if hours is None:
        return
    if any(_outside(ctx, hours)):
        ctx.block(
            "POLICY_SMS_QUIET_HOURS",
            "F6",
            f"SMS only Mon-Sat {hours.spans} consumer's time, no holidays; {consumer_time(ctx)}",
            clears=next_opening(ctx, ctx.local, hours),
        )
