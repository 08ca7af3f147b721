"""Run every rule family on one contact and find the earliest instant it becomes allowed.

`decide` is pure: the request, the facts and the law in, a `Decision` out. Every reason that applies
is reported, not only the first. `next_allowed_at` is found by re-evaluating the whole rule set at
the instant the latest temporal reason clears, until nothing blocks (or something that waiting cannot
cure does), so the instant returned is itself allowed and nothing earlier is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from prospectguard.law import LAW, Law
from prospectguard.model import Channel, ContactRequest, Decision, Facts, Location, NumberType, PhoneNumber
from prospectguard.numbering import METRO, locate, parse
from prospectguard.rules.callee import check_callee
from prospectguard.rules.caller_id import check_caller_id, is_alphanumeric_sender
from prospectguard.rules.catalogue import TEMPORAL
from prospectguard.rules.consent import check_bloctel, check_consent
from prospectguard.rules.content import check_sms_content
from prospectguard.rules.context import Context
from prospectguard.rules.opposition import check_opposition
from prospectguard.rules.pressure import check_frequency, check_refusal
from prospectguard.rules.sector import check_sector
from prospectguard.rules.timing import check_call_hours, check_sms_quiet_hours

Rule = Callable[[Context], None]

# Rules whose answer depends only on the request and the law, not on the instant: when the engine
# looks further ahead under the same law, they cannot have changed and are not run again.
_TIMELESS: tuple[Rule, ...] = (check_callee, check_caller_id, check_sms_content)
# Rules about a person behind a valid number: its history and its local time.
_PER_NUMBER: tuple[Rule, ...] = (
    check_sector,
    check_opposition,
    check_consent,
    check_bloctel,
    check_call_hours,
    check_sms_quiet_hours,
    check_frequency,
    check_refusal,
)

_PARIS = ZoneInfo("Europe/Paris")

# Beyond this, a contact that is still blocked for time has no next_allowed_at (fail closed).
_HORIZON = timedelta(days=800)
_MAX_STEPS = 200


def _evaluate(
    req: ContactRequest,
    at: datetime,
    facts: Facts,
    callee: PhoneNumber,
    caller: PhoneNumber | None,
    location: Location | None,
    law: Law,
    before: Context | None = None,
) -> Context:
    """All rules at `at`; `before` is an earlier evaluation under which the timeless rules passed."""
    ctx = Context(req, at, facts, callee, caller, location, law)
    if before is None or before.law is not ctx.law:
        for rule in _TIMELESS:
            rule(ctx)
    if callee.type is NumberType.INVALID:
        check_sector(ctx)
    else:
        for rule in _PER_NUMBER:
            rule(ctx)
    return ctx


def parse_caller(req: ContactRequest) -> PhoneNumber | None:
    """The presented number, parsed; None when masked or when it is an SMS sender name."""
    if req.caller is None or (req.channel is Channel.SMS and is_alphanumeric_sender(req.caller)):
        return None
    return _parse_caller(req.caller)


# An organisation presents a handful of caller numbers over and over: parse each once.
_parse_caller = lru_cache(maxsize=4096)(parse)


def decide(
    req: ContactRequest,
    facts: Facts,
    *,
    callee: PhoneNumber | None = None,
    law: Law = LAW,
) -> Decision:
    """Judge one contact. `callee` may be passed when the caller already parsed `req.to`."""
    if req.at.tzinfo is None:
        raise ValueError("the contact instant must be timezone-aware")
    callee = callee or parse(req.to)
    caller = parse_caller(req)
    location = locate(callee, req.postcode, req.territory)
    if location is None and callee.type is not NumberType.INVALID:
        # Section 3: a number without a territory (foreign, short, emergency) is judged in Paris
        # time, so a policy switched off for it never switches off the days and hours too.
        location = METRO
    ctx = _evaluate(req, req.at, facts, callee, caller, location, law)
    nxt = _next_allowed(ctx, req, facts, callee, caller, location, law)
    # Shown in the consumer's zone; the context already holds the contact instant there.
    local_at = ctx.local or req.at.astimezone(_PARIS)
    if nxt is not None:
        nxt = local_at if nxt == ctx.at else nxt.astimezone(local_at.tzinfo)
    shown = callee
    if location is not None and location.source != "number":
        shown = callee._replace(territory=location.territory, timezone=location.timezone)
    return Decision(
        allowed=not ctx.reasons,
        reasons=tuple(ctx.reasons),
        next_allowed_at=nxt,
        callee=shown,
        at=local_at,
        law_date=ctx.day,
    )


def _next_allowed(
    ctx: Context,
    req: ContactRequest,
    facts: Facts,
    callee: PhoneNumber,
    caller: PhoneNumber | None,
    location: Location | None,
    law: Law,
) -> datetime | None:
    start = ctx.at
    for _ in range(_MAX_STEPS):
        if not ctx.reasons:
            return ctx.at
        if any(r.code not in TEMPORAL for r in ctx.reasons) or None in ctx.clears:
            return None
        t = max(c for c in ctx.clears if c is not None)
        if t <= ctx.at or t - start > _HORIZON:
            return None
        ctx = _evaluate(req, t, facts, callee, caller, location, law, before=ctx)
    return None
