"""The number presented to the callee: C3 (no masking, assigned numbers), C5 (ranges forbidden to
consumers), E1 (no 06/07 mobile), E2/E3 (automated systems present NPV, 08 or 30PQ/31PQ only)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prospectguard.law import LawAt
from prospectguard.model import Kind, NumberType
from prospectguard.rules.context import Context


@dataclass(frozen=True, slots=True)
class CallerLaw:
    c3: bool
    e1: bool
    c5_prefixes: tuple[str, ...]
    c5_short_ok: tuple[str, ...]
    e2_types: frozenset[str] | None
    e2_prefixes: tuple[str, ...]
    e2_short_ok: tuple[str, ...]


@cache
def caller_law(law: LawAt) -> CallerLaw:
    e2 = law.value("E2", "allowed_types")
    return CallerLaw(
        c3=bool(law.value("C3", "applies")),
        e1=bool(law.value("E1", "applies")),
        c5_prefixes=tuple(law.value("C5", "forbidden_prefixes") or ()),
        c5_short_ok=tuple(law.value("C5", "short_allowed_prefixes") or ()),
        e2_types=None if e2 is None else frozenset(e2),
        e2_prefixes=tuple(law.value("E2", "forbidden_prefixes") or ()),
        e2_short_ok=tuple(law.value("E2", "short_allowed_prefixes") or ()),
    )


def is_alphanumeric_sender(raw: str) -> bool:
    """An SMS sender name (e.g. "ACME"): outside the numbering plan, so E1/E2 do not apply to it."""
    return any(ch.isalpha() for ch in raw)


def _short_3bpq(digits: str) -> bool:
    return len(digits) == 4 and digits[0] == "3"


def check_caller_id(ctx: Context) -> None:
    raw = ctx.req.caller
    law = caller_law(ctx.law)
    if raw is None:
        if ctx.voice and law.c3:
            kind = Kind.LAW if ctx.consumer else Kind.POLICY
            ctx.block("CALLER_ID_MASKED", "C3", "The number is masked: calls must show a number", kind=kind)
        return
    org = ctx.facts.org
    if ctx.sms and is_alphanumeric_sender(raw):
        if org.sms_senders and raw.strip().casefold() not in {s.casefold() for s in org.sms_senders}:
            ctx.block("CALLER_ID_NOT_ASSIGNED", "C3", f"SMS sender {raw!r} is not one of the organisation's")
        return
    caller = ctx.caller
    if caller is None or not caller.valid:
        ctx.block("CALLER_ID_INVALID", "C3", f"Presented number {raw!r} is not a valid number")
        return
    digits = caller.national or ""
    shown = caller.e164 or digits
    if law.e1 and caller.type is NumberType.MOBILE:
        ctx.block("CALLER_ID_MOBILE", "E1", f"{shown} is a mobile (06/07) number: not a caller ID")
    if (
        ctx.consumer
        and ctx.voice
        and (digits.startswith(law.c5_prefixes) or (_short_3bpq(digits) and not digits.startswith(law.c5_short_ok)))
    ):
        ctx.block("CALLER_ID_FORBIDDEN_RANGE", "C5", f"{digits} may not be shown to a consumer (089, 3BPQ, 118)")
    if ctx.req.automated and law.e2_types is not None:
        ok = caller.type in law.e2_types and not digits.startswith(law.e2_prefixes)
        if caller.type is NumberType.SHORT and not (_short_3bpq(digits) and digits.startswith(law.e2_short_ok)):
            ok = False
        if not ok:
            ctx.block(
                "CALLER_ID_NOT_NPV",
                "E2",
                f"Automated systems must show an NPV, 08 or 30PQ/31PQ number, not {shown}",
            )
    if org.caller_numbers and shown not in org.caller_numbers:
        ctx.block("CALLER_ID_NOT_ASSIGNED", "C3", f"{shown} is not one of the organisation's numbers")
