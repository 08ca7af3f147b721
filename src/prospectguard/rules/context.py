"""What one rule evaluation sees, and how a rule reports a reason.

A `Context` is the request, the facts and the law at one instant. Rules are pure: they read the
context and call `ctx.block(...)`; the engine may build several contexts for the same request when it
looks for the earliest allowed instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from prospectguard.law import Law, LawAt
from prospectguard.model import Audience, Channel, ContactRequest, Facts, Kind, Location, PhoneNumber, Reason
from prospectguard.rules.catalogue import CODES, TEMPORAL

_PARIS = ZoneInfo("Europe/Paris")


class Context:
    __slots__ = (
        "at",
        "callee",
        "caller",
        "clears",
        "consumer",
        "day",
        "facts",
        "law",
        "laws",
        "local",
        "location",
        "reasons",
        "req",
        "sms",
        "voice",
    )

    def __init__(
        self,
        req: ContactRequest,
        at: datetime,
        facts: Facts,
        callee: PhoneNumber,
        caller: PhoneNumber | None,
        location: Location | None,
        law: Law,
    ) -> None:
        self.req = req
        # In UTC: `at - timedelta(days=60)` on a Paris datetime is wall-clock arithmetic and is an
        # hour off across a DST change; durations (B3, B4, A10) are exact elapsed time.
        self.at = at.astimezone(UTC)
        self.facts = facts
        self.callee = callee
        self.caller = caller
        self.location = location
        self.local: datetime | None = at.astimezone(ZoneInfo(location.timezone)) if location else None
        self.day: date = (self.local or at.astimezone(_PARIS)).date()  # the consumer's date: the law's day
        self.law: LawAt = law.at(self.day)
        self.laws = law  # the whole dated law, for rules that look at another day (A7 slots)
        self.consumer = req.audience is Audience.CONSUMER
        self.voice = req.channel is Channel.VOICE
        self.sms = not self.voice
        self.reasons: list[Reason] = []
        self.clears: list[datetime | None] = []  # per temporal reason: when it clears (None: never seen)

    def block(
        self, code: str, rule: str, message: str, *, kind: Kind | None = None, clears: datetime | None = None
    ) -> None:
        """Report `code` under `rule` (a row id of the reference); temporal codes say when they clear.

        A policy the organisation switched off is dropped here, with its clearing instant, so no rule
        has to remember the switches.
        """
        kind = kind or CODES[code][0]
        if kind is Kind.POLICY and code in self.facts.org.policies_off:
            return
        self.reasons.append(
            Reason(
                code=code,
                kind=kind,
                rule=rule,
                reference=self.law.reference(rule),
                message=message,
            )
        )
        if code in TEMPORAL:
            self.clears.append(clears)
