"""Consent and its stand-ins: A1-A4, A10-A12 (consumer calls), F1-F2 (automated calls and SMS).

Which regime applies depends on the law in force at the contact: before 11 Aug 2026 a consumer call
is judged against Bloctel (A11), from that day against prior consent (A1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from prospectguard.law import LawAt
from prospectguard.model import Consent
from prospectguard.rules.context import Context


@dataclass(frozen=True, slots=True)
class ConsentLaw:
    a1: bool
    a4: bool
    f1: bool
    f2: bool
    a11: bool
    press_sectors: frozenset[str]
    max_term: timedelta | None  # A10, voice consents
    bloctel_max_age: int | None


@cache
def consent_law(law: LawAt) -> ConsentLaw:
    days = law.value("A10", "max_days")
    return ConsentLaw(
        a1=bool(law.value("A1", "applies")),
        a4=bool(law.value("A4", "applies")),
        f1=bool(law.value("F1", "applies")),
        f2=bool(law.value("F2", "applies")),
        a11=bool(law.value("A11", "applies")),
        press_sectors=frozenset(law.value("A12", "sectors") or ()),
        max_term=None if days is None else timedelta(days=days),
        bloctel_max_age=law.value("A11", "max_snapshot_age_days"),
    )


def _expiry(ctx: Context, consent: Consent) -> datetime | None:
    """min(expiry given, collection + A10's term); A10's term binds voice consents only."""
    term = consent_law(ctx.law).max_term if ctx.voice else None
    end = consent.expires_at
    if term is not None:
        cap = consent.collected_at.astimezone(UTC) + term  # exact elapsed time, not wall clock
        if end is None or cap < end:
            end = cap
    return end


def _withdrawn(ctx: Context, consent: Consent, at: datetime) -> bool:
    return any(consent.collected_at <= w <= at for w in ctx.facts.withdrawals)


def valid_consents(ctx: Context, at: datetime | None = None) -> list[Consent]:
    """Consents covering the channel that hold at `at`: proven (A3), collected, not withdrawn, not expired."""
    at = at or ctx.at
    channel = ctx.req.channel
    out = []
    for c in ctx.facts.consents:
        if not (c.has_proof and c.collected_at <= at and c.covers(channel)):
            continue
        if ctx.facts.withdrawals and _withdrawn(ctx, c, at):
            continue
        end = _expiry(ctx, c)
        if end is None or at < end:
            out.append(c)
    return out


def contract_in_progress(ctx: Context) -> bool:
    """A4: a contract in progress is on record and the request says the offer relates to it."""
    return ctx.req.about_contract and any(c.in_progress(ctx.at) for c in ctx.facts.contracts)


def _require_consent(ctx: Context, rule: str) -> None:
    if valid_consents(ctx):
        return
    channel = ctx.req.channel
    proven = [c for c in ctx.facts.consents if c.has_proof and c.covers(channel) and c.collected_at <= ctx.at]
    if proven:
        latest = max(proven, key=lambda c: c.collected_at)
        if _withdrawn(ctx, latest, ctx.at):
            ctx.block("CONSENT_WITHDRAWN", "A10", f"The consent of {latest.collected_at:%Y-%m-%d} was withdrawn")
            return
        end = _expiry(ctx, latest)
        ctx.block(
            "CONSENT_EXPIRED",
            "A10",
            f"The consent of {latest.collected_at:%Y-%m-%d} expired on {end:%Y-%m-%d}",
        )
        return
    unproven = any(not c.has_proof and c.covers(channel) for c in ctx.facts.consents)
    what = "a consent without proof does not count (A3)" if unproven else "none on record"
    ctx.block("NO_CONSENT", rule, f"No valid {channel.value} consent: {what}")


def check_consent(ctx: Context) -> None:
    """A1 (consumer calls, from 2026-08-11) and F1 (automated calls and SMS) require prior consent."""
    if not ctx.consumer:
        return  # F3, G7: businesses have a right to object, not a consent requirement
    law = consent_law(ctx.law)
    if ctx.voice and law.a1 and ctx.req.sector not in law.press_sectors and not (law.a4 and contract_in_progress(ctx)):
        _require_consent(ctx, "A1")
    elif (
        (ctx.sms or ctx.req.automated)
        and law.f1
        and not (law.f2 and ctx.req.about_contract and any(c.started(ctx.at) for c in ctx.facts.contracts))
    ):
        _require_consent(ctx, "F1")


def check_bloctel(ctx: Context) -> None:
    """A11: until 10 Aug 2026, a consumer on Bloctel is not called; the list is at most 30 days old."""
    if not (ctx.voice and ctx.consumer):
        return
    law = consent_law(ctx.law)
    if not law.a11 or ctx.req.sector in law.press_sectors or (law.a4 and contract_in_progress(ctx)):
        return
    max_age = law.bloctel_max_age or 0
    snap = ctx.facts.bloctel
    if snap is None or snap.as_of is None:
        ctx.block("BLOCTEL_LIST_STALE", "A11", "No Bloctel snapshot on record for this organisation")
    elif (ctx.day - snap.as_of).days > max_age:
        ctx.block(
            "BLOCTEL_LIST_STALE",
            "A11",
            f"Latest Bloctel snapshot is of {snap.as_of}, more than {max_age} days before the contact",
        )
    if snap is not None and snap.listed:
        ctx.block("BLOCTEL_REGISTERED", "A11", f"Number is on the Bloctel list of {snap.as_of}")
