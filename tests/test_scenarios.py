"""Scenario table for `decide`, written from the rules reference (legal-fr.md), one row per situation.

Each row names the rule id(s) of the reference it exercises, the request, the facts, the expected
decision, the exact set of reason codes and, where it matters, the expected `next_allowed_at`.
Generic checks run on every row as well: an allowed contact's `next_allowed_at` is its own instant,
a non-temporal reason means no `next_allowed_at`, and a `next_allowed_at` is itself allowed while one
second earlier is not. The reason codes and their kinds are transcribed from section 5 here, not read
from the code, so the table is an independent oracle.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from prospectguard.law import LAW
from prospectguard.model import (
    Attempt,
    Audience,
    BloctelFacts,
    Channel,
    Consent,
    ContactRequest,
    Contract,
    Decision,
    Facts,
    OppositionEvent,
    OrgSettings,
    Sector,
)
from prospectguard.rules import decide

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")
REUNION = ZoneInfo("Indian/Reunion")
MAYOTTE = ZoneInfo("Indian/Mayotte")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
MARTINIQUE = ZoneInfo("America/Martinique")
CAYENNE = ZoneInfo("America/Cayenne")
MIQUELON = ZoneInfo("America/Miquelon")

# Section 5, transcribed: code -> (kind, rules). CALLER_ID_MASKED is law for B2C, policy for B2B.
SECTION_5: dict[str, tuple[str, frozenset[str]]] = {
    "CALLER_ID_MASKED": ("law", frozenset({"C3"})),
    "CALLER_ID_INVALID": ("law", frozenset({"C3"})),
    "CALLER_ID_MOBILE": ("law", frozenset({"E1"})),
    "CALLER_ID_FORBIDDEN_RANGE": ("law", frozenset({"C5"})),
    "CALLER_ID_NOT_NPV": ("law", frozenset({"E2", "E3"})),
    "CALLER_ID_NOT_ASSIGNED": ("law", frozenset({"C3", "E7"})),
    "CALLEE_INVALID": ("law", frozenset({"N"})),
    "CALLEE_NOT_PROSPECTABLE": ("policy", frozenset({"N5", "N6", "N15", "N16"})),
    "CALLEE_FOREIGN": ("policy", frozenset()),  # "—": no rule of its own
    "NON_WORKING_DAY": ("law", frozenset({"B1"})),
    "PUBLIC_HOLIDAY": ("law", frozenset({"B1", "H1", "H2", "H3", "H4"})),
    "OUTSIDE_HOURS": ("law", frozenset({"B1"})),
    "NO_CONSENT": ("law", frozenset({"A1", "A2", "A3", "F1"})),
    "CONSENT_EXPIRED": ("law", frozenset({"A10"})),
    "CONSENT_WITHDRAWN": ("law", frozenset({"A10", "G2", "A13"})),
    "BLOCTEL_REGISTERED": ("law", frozenset({"A11"})),
    "BLOCTEL_LIST_STALE": ("law", frozenset({"A11"})),
    "OPPOSITION": ("law", frozenset({"G3", "F4", "A13"})),
    "FREQUENCY_CAP": ("law", frozenset({"B3"})),
    "REFUSAL_COOLDOWN": ("law", frozenset({"B4"})),
    "SECTOR_BANNED": ("law", frozenset({"A5", "A6", "D2"})),
    "SMS_OPT_OUT_MISSING": ("law", frozenset({"F4"})),
    "SMS_SENDER_MISSING": ("law", frozenset({"F4"})),
    "POLICY_SMS_QUIET_HOURS": ("policy", frozenset({"F6"})),
    "STORE_UNAVAILABLE": ("policy", frozenset()),
    "DUPLICATE_IN_FILE": ("policy", frozenset()),
    "ROW_MALFORMED": ("policy", frozenset()),
}
PRODUCED_ELSEWHERE = frozenset({"STORE_UNAVAILABLE", "DUPLICATE_IN_FILE", "ROW_MALFORMED"})
# Codes that clear by waiting (days, hours, frequency, pause, SMS quiet hours).
TEMPORAL = frozenset(
    {
        "OUTSIDE_HOURS",
        "NON_WORKING_DAY",
        "PUBLIC_HOLIDAY",
        "FREQUENCY_CAP",
        "REFUSAL_COOLDOWN",
        "POLICY_SMS_QUIET_HOURS",
    }
)

NPV = "0162000001"
MOBILE = "0612345678"
SENDER = "ACME"
UNCHECKED = "unchecked"


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=PARIS)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def at_in(zone: ZoneInfo, y: int, mo: int, d: int, h: int = 11, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone)


TUE = paris(2026, 12, 1, 11)  # Tuesday 1 Dec 2026, 11:00 in Paris: a working day, inside the morning window
MON_BEFORE_SWITCH = paris(2026, 8, 10, 11)  # the last day of Bloctel (A11)
TUE_SWITCH = paris(2026, 8, 11, 11)  # the first day of prior consent (A1)


def consent(collected: datetime, channel: str = "all", **kw: Any) -> Consent:
    return Consent(collected_at=collected, channel=channel, **kw)


def fresh(at: datetime) -> Facts:
    """A proven `all` consent collected 30 days before the contact: valid (A10: one year)."""
    return Facts(consents=(consent(at - timedelta(days=30)),))


def with_consent(at: datetime, **kw: Any) -> Facts:
    return dataclasses.replace(fresh(at), **kw)


def bloctel(as_of: date, listed: bool = False, **kw: Any) -> Facts:
    return Facts(bloctel=BloctelFacts(as_of=as_of, listed=listed), **kw)


def voice_attempts(at: datetime, days_ago: tuple[float, ...], outcome: str = "no_answer") -> tuple[Attempt, ...]:
    return tuple(Attempt(at - timedelta(days=d), "voice", outcome) for d in days_ago)


def org(**kw: Any) -> OrgSettings:
    return OrgSettings(**kw)


def policies_off(*codes: str) -> OrgSettings:
    return OrgSettings(policies_off=frozenset(codes))


SENDERS = org(sms_senders=frozenset({SENDER}))


@dataclass(frozen=True)
class Case:
    id: str
    rules: tuple[str, ...]
    decision: str  # "allow" or "block"
    codes: frozenset[str]
    to: str = MOBILE
    at: datetime = TUE
    caller: str | None = NPV
    channel: Channel = Channel.VOICE
    automated: bool = False
    audience: Audience = Audience.CONSUMER
    sector: Sector = Sector.GENERAL
    about_contract: bool = False
    message: str | None = None
    postcode: str | None = None
    facts: Facts | None = None  # None: `fresh(at)`
    next_allowed: datetime | str | None = UNCHECKED
    law_date: date | None = None  # the consumer's local date, which picks the law in force

    def request(self, at: datetime | None = None) -> ContactRequest:
        return ContactRequest(
            to=self.to,
            at=self.at if at is None else at,
            channel=self.channel,
            caller=self.caller,
            automated=self.automated,
            audience=self.audience,
            sector=self.sector,
            about_contract=self.about_contract,
            message=self.message,
            postcode=self.postcode,
        )

    def the_facts(self) -> Facts:
        return fresh(self.at) if self.facts is None else self.facts


def _rules(rules: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in rules.split(","))


def allow(id: str, rules: str, **kw: Any) -> Case:
    return Case(id, _rules(rules), "allow", frozenset(), **kw)


def block(id: str, rules: str, codes: set[str], **kw: Any) -> Case:
    return Case(id, _rules(rules), "block", frozenset(codes), **kw)


SMS: dict[str, Any] = {"channel": Channel.SMS, "caller": SENDER}
B2B: dict[str, Any] = {"audience": Audience.BUSINESS}
AUTO: dict[str, Any] = {"automated": True}

# H1: one working day for each national holiday (all after the 2026-08-11 switch).
H1_DAYS = {
    "new-year": (date(2027, 1, 1), paris(2027, 1, 4, 10)),
    "easter-monday": (date(2027, 3, 29), paris(2027, 3, 30, 10)),
    "may-1": (date(2028, 5, 1), paris(2028, 5, 2, 10)),
    "may-8": (date(2028, 5, 8), paris(2028, 5, 9, 10)),
    "ascension": (date(2027, 5, 6), paris(2027, 5, 7, 10)),
    "whit-monday": (date(2027, 5, 17), paris(2027, 5, 18, 10)),
    "jul-14": (date(2027, 7, 14), paris(2027, 7, 15, 10)),
    "aug-15": (date(2028, 8, 15), paris(2028, 8, 16, 10)),
    "nov-1": (date(2027, 11, 1), paris(2027, 11, 2, 10)),
    "nov-11": (date(2026, 11, 11), paris(2026, 11, 12, 10)),
    "dec-25": (date(2026, 12, 25), paris(2026, 12, 28, 10)),
}

NPV_METRO = ("0162", "0163", "0270", "0271", "0377", "0378", "0424", "0425", "0568", "0569", "0948", "0949")
NPV_OVERSEAS = ("09475", "09476", "09477", "09478", "09479")

SLOT_CONSENT = consent(paris(2026, 9, 1), slot_start=paris(2026, 12, 5, 9), slot_end=paris(2026, 12, 5, 9, 30))

CASES: list[Case] = [
    # ---------------------------------------------------------------- B1: days and half-open hours
    allow("b1-tuesday-11h", "B1", next_allowed=TUE),
    block(
        "b1-09-59-59", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 9, 59, 59), next_allowed=paris(2026, 12, 1, 10)
    ),
    allow("b1-10-00", "B1", at=paris(2026, 12, 1, 10)),
    allow("b1-12-59", "B1", at=paris(2026, 12, 1, 12, 59)),
    allow("b1-12-59-59", "B1", at=paris(2026, 12, 1, 12, 59, 59)),
    block("b1-13-00", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 13), next_allowed=paris(2026, 12, 1, 14)),
    block(
        "b1-13-59-59", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 13, 59, 59), next_allowed=paris(2026, 12, 1, 14)
    ),
    allow("b1-14-00", "B1", at=paris(2026, 12, 1, 14)),
    allow("b1-19-59", "B1", at=paris(2026, 12, 1, 19, 59)),
    allow("b1-19-59-59", "B1", at=paris(2026, 12, 1, 19, 59, 59)),
    block("b1-20-00", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 20), next_allowed=paris(2026, 12, 2, 10)),
    block("b1-midnight", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 0), next_allowed=paris(2026, 12, 1, 10)),
    block("b1-friday-20h", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 4, 20), next_allowed=paris(2026, 12, 7, 10)),
    block("b1-saturday", "B1", {"NON_WORKING_DAY"}, at=paris(2026, 12, 5, 11), next_allowed=paris(2026, 12, 7, 10)),
    block(
        "b1-saturday-lunch",
        "B1",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 13, 30),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    block(
        "b1-sunday-night",
        "B1",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 6, 21),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    allow("b1-b2b-sunday-night", "B1, G7", at=paris(2026, 12, 6, 21), facts=Facts(), **B2B),
    block(
        "b1-dst-spring-saturday",
        "B1",
        {"NON_WORKING_DAY"},
        at=paris(2028, 3, 25, 11),
        next_allowed=paris(2028, 3, 27, 10),  # Monday after the last Sunday of March: 10:00 CEST (08:00 UTC)
    ),
    block(
        "b1-dst-autumn-sunday",
        "B1",
        {"NON_WORKING_DAY"},
        at=paris(2028, 10, 29, 11),
        next_allowed=paris(2028, 10, 30, 10),  # 10:00 CET (09:00 UTC)
    ),
    # ---------------------------------------------------------------- H1: each national holiday
    *[
        block(f"h1-{name}", "H1, B1", {"PUBLIC_HOLIDAY"}, at=paris(d.year, d.month, d.day, 11), next_allowed=nxt)
        for name, (d, nxt) in H1_DAYS.items()
    ],
    block(
        "h1-may-1-on-saturday",
        "H1, B1",
        {"PUBLIC_HOLIDAY", "NON_WORKING_DAY"},
        at=paris(2027, 5, 1, 11),
        next_allowed=paris(2027, 5, 3, 10),
    ),
    block(
        "h1-christmas-eve-evening-skips-holiday-and-weekend",
        "H1, B1",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 12, 24, 20, 30),
        next_allowed=paris(2026, 12, 28, 10),
    ),
    block(
        "h1-dst-saturday-then-easter-monday",
        "H1, B1",
        {"NON_WORKING_DAY"},
        at=paris(2027, 3, 27, 11),
        next_allowed=paris(2027, 3, 30, 10),
    ),
    allow("h1-b2b-christmas", "H1, G7", at=paris(2026, 12, 25, 11), facts=Facts(), **B2B),
    # ---------------------------------------------------------------- H2: overseas days, in their territory
    block("h2-yt-27-apr-mobile", "H2", {"PUBLIC_HOLIDAY"}, to="0639123456", at=at_in(MAYOTTE, 2027, 4, 27)),
    block("h2-yt-27-apr-fixed", "H2", {"PUBLIC_HOLIDAY"}, to="0269123456", at=at_in(MAYOTTE, 2027, 4, 27)),
    block("h2-mq-22-may", "H2", {"PUBLIC_HOLIDAY"}, to="0596123456", at=at_in(MARTINIQUE, 2028, 5, 22)),
    block("h2-gp-27-may", "H2", {"PUBLIC_HOLIDAY"}, to="0590123456", at=at_in(GUADELOUPE, 2027, 5, 27)),
    block(
        "h2-mf-27-may-postcode",
        "H2",
        {"PUBLIC_HOLIDAY"},
        to="0690123456",
        postcode="97150",
        at=at_in(GUADELOUPE, 2027, 5, 27),
    ),
    block("h2-gf-10-jun", "H2", {"PUBLIC_HOLIDAY"}, to="0594123456", at=at_in(CAYENNE, 2027, 6, 10)),
    block("h2-bl-9-oct-0590-union", "H2", {"PUBLIC_HOLIDAY"}, to="0590271234", at=at_in(GUADELOUPE, 2028, 10, 9)),
    block(
        "h2-bl-9-oct-postcode",
        "H2",
        {"PUBLIC_HOLIDAY"},
        to="0690123456",
        postcode="97133",
        at=at_in(GUADELOUPE, 2028, 10, 9),
    ),
    block("h2-re-20-dec-fixed", "H2", {"PUBLIC_HOLIDAY"}, to="0262123456", at=at_in(REUNION, 2027, 12, 20)),
    block("h2-re-20-dec-mobile", "H2", {"PUBLIC_HOLIDAY"}, to="0692123456", at=at_in(REUNION, 2027, 12, 20)),
    block(
        "h4-mf-28-may-0691-union",
        "H4, N11",
        {"PUBLIC_HOLIDAY"},
        to="0691123456",
        at=at_in(GUADELOUPE, 2027, 5, 28),
    ),
    block("h4-mq-schoelcher-21-jul", "H4", {"PUBLIC_HOLIDAY"}, to="0696123456", at=at_in(MARTINIQUE, 2027, 7, 21)),
    allow("h2-re-day-not-in-martinique", "H2", to="0596123456", at=at_in(MARTINIQUE, 2027, 12, 20)),
    allow("h2-mq-day-not-in-paris", "H2", at=paris(2028, 5, 22, 11)),
    allow("h2-gp-day-not-in-guyane", "H2", to="0594123456", at=at_in(CAYENNE, 2027, 5, 27)),
    allow("h2-pm-has-no-h2-day", "H2", to="0508412345", at=at_in(MIQUELON, 2027, 5, 27)),
    allow("h2-bl-day-not-for-mf-postcode", "H2", to="0590123456", postcode="97150", at=at_in(GUADELOUPE, 2028, 10, 9)),
    allow("h2-bl-day-not-for-gp-postcode", "H2", to="0590123456", postcode="97110", at=at_in(GUADELOUPE, 2028, 10, 9)),
    allow("h4-schoelcher-not-in-guyane", "H4", to="0694123456", at=at_in(CAYENNE, 2027, 7, 21)),
    # ---------------------------------------------------------------- H3: Alsace-Moselle
    block("h3-good-friday-0387", "H3", {"PUBLIC_HOLIDAY"}, to="0387123456", at=paris(2027, 3, 26, 11)),
    block("h3-26-dec-0388", "H3", {"PUBLIC_HOLIDAY"}, to="0388123456", at=paris(2028, 12, 26, 11)),
    block("h3-good-friday-0389", "H3", {"PUBLIC_HOLIDAY"}, to="0389123456", at=paris(2028, 4, 14, 11)),
    block("h3-good-friday-postcode-57", "H3", {"PUBLIC_HOLIDAY"}, postcode="57000", at=paris(2027, 3, 26, 11)),
    block("h3-26-dec-postcode-67", "H3", {"PUBLIC_HOLIDAY"}, postcode="67000", at=paris(2028, 12, 26, 11)),
    block("h3-good-friday-postcode-68", "H3", {"PUBLIC_HOLIDAY"}, postcode="68100", at=paris(2029, 3, 30, 11)),
    block(
        "h3-christmas-eve-0388-skips-two-days",
        "H3, H1",
        {"OUTSIDE_HOURS"},
        to="0388123456",
        at=paris(2029, 12, 24, 20, 30),
        next_allowed=paris(2029, 12, 27, 10),
    ),
    block(
        "h3-christmas-eve-paris-skips-one-day",
        "H1",
        {"OUTSIDE_HOURS"},
        to="0142123456",
        at=paris(2029, 12, 24, 20, 30),
        next_allowed=paris(2029, 12, 26, 10),
    ),
    allow("h3-good-friday-nancy-0383", "H3", to="0383123456", at=paris(2027, 3, 26, 11)),
    allow("h3-good-friday-postcode-54", "H3", postcode="54000", at=paris(2027, 3, 26, 11)),
    allow("h3-postcode-paris-wins-over-0387", "H3", to="0387123456", postcode="75011", at=paris(2027, 3, 26, 11)),
    allow("h3-26-dec-paris", "H3", at=paris(2028, 12, 26, 11)),
    # ---------------------------------------------------------------- section 3: same UTC instant, several zones
    allow("zone-10utc-paris-11h", "B1", at=utc(2026, 12, 1, 10)),
    allow("zone-10utc-re-14h", "B1, N9", to="0692123456", at=utc(2026, 12, 1, 10)),
    block(
        "zone-10utc-yt-13h",
        "B1, N10",
        {"OUTSIDE_HOURS"},
        to="0639123456",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 11),
    ),
    block(
        "zone-10utc-mq-06h",
        "B1, N13",
        {"OUTSIDE_HOURS"},
        to="0696123456",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 14),
    ),
    block(
        "zone-10utc-gf-07h",
        "B1, N12",
        {"OUTSIDE_HOURS"},
        to="0594123456",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 13),
    ),
    block(
        "zone-10utc-pm-07h",
        "B1, N14",
        {"OUTSIDE_HOURS"},
        to="0508412345",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 13),
    ),
    block(
        "zone-10utc-yt-e164-fixed",
        "B1, N10",
        {"OUTSIDE_HOURS"},
        to="+262 269 12 34 56",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 11),
    ),
    block(
        "zone-10utc-yt-e164-mobile",
        "B1, N10",
        {"OUTSIDE_HOURS"},
        to="+262 639 12 34 56",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 11),
    ),
    allow("zone-10utc-re-0033-form", "B1, N9", to="00 262 692 12 34 56", at=utc(2026, 12, 1, 10)),
    block(
        "zone-10utc-mq-e164",
        "B1, N13",
        {"OUTSIDE_HOURS"},
        to="+596 696 12 34 56",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 14),
    ),
    block(
        "zone-10utc-gf-e164",
        "B1, N12",
        {"OUTSIDE_HOURS"},
        to="+594 694 12 34 56",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 13),
    ),
    block(
        "zone-10utc-pm-e164",
        "B1, N14",
        {"OUTSIDE_HOURS"},
        to="+508 41 23 45",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 13),
    ),
    block(
        "zone-10utc-gp-e164",
        "B1, N11",
        {"OUTSIDE_HOURS"},
        to="+590 690 12 34 56",
        at=utc(2026, 12, 1, 10),
        next_allowed=utc(2026, 12, 1, 14),
    ),
    allow("zone-1630utc-paris-17h30", "B1", at=utc(2026, 12, 1, 16, 30)),
    block(
        "zone-1630utc-re-20h30",
        "B1, N9",
        {"OUTSIDE_HOURS"},
        to="+262 692 12 34 56",
        at=utc(2026, 12, 1, 16, 30),
        next_allowed=utc(2026, 12, 2, 6),
    ),
    allow("zone-1630utc-yt-19h30", "B1, N10", to="0269123456", at=utc(2026, 12, 1, 16, 30)),
    allow("zone-1630utc-mq-12h30", "B1, N13", to="0596123456", at=utc(2026, 12, 1, 16, 30)),
    block(
        "zone-1630utc-gf-13h30",
        "B1, N12",
        {"OUTSIDE_HOURS"},
        to="0694123456",
        at=utc(2026, 12, 1, 16, 30),
        next_allowed=utc(2026, 12, 1, 17),
    ),
    block(
        "zone-1630utc-pm-13h30-winter",
        "B1, N14",
        {"OUTSIDE_HOURS"},
        to="0508412345",
        at=utc(2026, 12, 1, 16, 30),
        next_allowed=utc(2026, 12, 1, 17),
    ),
    allow("zone-1230utc-pm-10h30-summer", "B1, N14", to="0508412345", at=utc(2027, 6, 1, 12, 30)),
    block(
        "zone-1230utc-gf-09h30-summer",
        "B1, N12",
        {"OUTSIDE_HOURS"},
        to="0594123456",
        at=utc(2027, 6, 1, 12, 30),
        next_allowed=utc(2027, 6, 1, 13),
    ),
    block(
        "zone-1230utc-pm-09h30-winter",
        "B1, N14",
        {"OUTSIDE_HOURS"},
        to="0508412345",
        at=utc(2026, 12, 1, 12, 30),
        next_allowed=utc(2026, 12, 1, 13),
    ),
    block("zone-postcode-guyane-for-metro-mobile", "B1", {"OUTSIDE_HOURS"}, postcode="97300", at=TUE),
    allow("zone-postcode-reunion-for-metro-mobile", "B1", postcode="97410", at=TUE),
    # ---------------------------------------------------------------- A1 / A3: consent and its channel
    block("a1-no-consent", "A1", {"NO_CONSENT"}, facts=Facts(), next_allowed=None),
    block(
        "a3-consent-without-proof",
        "A3",
        {"NO_CONSENT"},
        facts=Facts(consents=(consent(paris(2026, 11, 1), has_proof=False),)),
        next_allowed=None,
    ),
    block(
        "a1-sms-consent-does-not-cover-voice",
        "A1",
        {"NO_CONSENT"},
        facts=Facts(consents=(consent(paris(2026, 11, 1), "sms"),)),
    ),
    allow("a1-voice-consent", "A1", facts=Facts(consents=(consent(paris(2026, 11, 1), "voice"),))),
    allow("a1-all-consent-covers-voice", "A1", facts=Facts(consents=(consent(paris(2026, 11, 1), "all"),))),
    block(
        "a1-consent-collected-after-contact",
        "A1",
        {"NO_CONSENT"},
        facts=Facts(consents=(consent(paris(2026, 12, 1, 12)),)),
    ),
    # ---------------------------------------------------------------- A4: contract in progress
    allow(
        "a4-contract-in-progress-related",
        "A4",
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
    ),
    block(
        "a4-contract-in-progress-unrelated",
        "A4",
        {"NO_CONSENT"},
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
    ),
    block(
        "a4-contract-ended",
        "A4",
        {"NO_CONSENT"},
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1), end=paris(2026, 6, 1)),)),
    ),
    block(
        "a4-contract-starts-later",
        "A4",
        {"NO_CONSENT"},
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2027, 1, 1)),)),
    ),
    allow(
        "a4-exempts-a5",
        "A4, A5",
        sector=Sector.ENERGY_RENOVATION,
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
    ),
    allow(
        "a4-exempts-a11",
        "A4, A11",
        at=MON_BEFORE_SWITCH,
        about_contract=True,
        facts=bloctel(date(2026, 8, 1), listed=True, contracts=(Contract(start=paris(2025, 1, 1)),)),
    ),
    # ---------------------------------------------------------------- A5 / A6 / D2: sector bans
    block("a5-energy-voice", "A5", {"SECTOR_BANNED"}, sector=Sector.ENERGY_RENOVATION, next_allowed=None),
    block("a5-housing-voice", "A5", {"SECTOR_BANNED"}, sector=Sector.HOUSING_ADAPTATION),
    allow(
        "a5-housing-2025-07-01-not-yet",
        "A5, A11",
        sector=Sector.HOUSING_ADAPTATION,
        at=paris(2025, 7, 1, 11),
        facts=bloctel(date(2025, 6, 20)),
    ),
    block(
        "a5-housing-2025-07-02",
        "A5",
        {"SECTOR_BANNED"},
        sector=Sector.HOUSING_ADAPTATION,
        at=paris(2025, 7, 2, 11),
        facts=bloctel(date(2025, 6, 20)),
    ),
    allow("a5-energy-b2b", "A5, G7", sector=Sector.ENERGY_RENOVATION, **B2B),
    block("a6-energy-sms", "A6", {"SECTOR_BANNED"}, sector=Sector.ENERGY_RENOVATION, **SMS),
    block("a6-housing-sms", "A6", {"SECTOR_BANNED"}, sector=Sector.HOUSING_ADAPTATION, **SMS),
    block(
        "a6-no-contract-exception",
        "A6",
        {"SECTOR_BANNED"},
        sector=Sector.ENERGY_RENOVATION,
        about_contract=True,
        facts=with_consent(TUE, contracts=(Contract(start=paris(2025, 1, 1)),)),
        **SMS,
    ),
    allow("a6-energy-sms-b2b", "A6, F3", sector=Sector.ENERGY_RENOVATION, facts=Facts(), **SMS, **B2B),
    block("d2-cpf-voice", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING, next_allowed=None),
    block("d2-cpf-voice-b2b", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING, **B2B),
    block("d2-cpf-sms-b2b", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING, **SMS, **B2B),
    allow(
        "d2-training-in-progress",
        "D2, A4",
        sector=Sector.CPF_TRAINING,
        about_contract=True,
        facts=with_consent(TUE, contracts=(Contract(start=paris(2026, 10, 1)),)),
    ),
    block(
        "d2-training-in-progress-unrelated-offer",
        "D2",
        {"SECTOR_BANNED"},
        sector=Sector.CPF_TRAINING,
        facts=with_consent(TUE, contracts=(Contract(start=paris(2026, 10, 1)),)),
    ),
    allow("d2-before-2022-12-21", "D2", sector=Sector.CPF_TRAINING, at=paris(2022, 12, 20, 11), **B2B),
    block("d2-from-2022-12-21", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING, at=paris(2022, 12, 21, 11), **B2B),
    # ---------------------------------------------------------------- A7: agreed slot
    allow("a7-inside-slot-saturday-9h10", "A7", at=paris(2026, 12, 5, 9, 10), facts=Facts(consents=(SLOT_CONSENT,))),
    block(
        "a7-slot-end-is-excluded",
        "A7, B1",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 9, 30),
        facts=Facts(consents=(SLOT_CONSENT,)),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    block(
        "a7-next-allowed-is-the-slot",
        "A7, B1",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 12, 4, 21),
        facts=Facts(consents=(SLOT_CONSENT,)),
        next_allowed=paris(2026, 12, 5, 9),
    ),
    block(
        "a7-slot-of-unproven-consent-ignored",
        "A7, A3",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 9, 10),
        facts=Facts(consents=(consent(paris(2026, 9, 1)), dataclasses.replace(SLOT_CONSENT, has_proof=False))),
    ),
    block(
        "a7-not-in-force-before-switch",
        "A7, A11",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 8, 8, 9, 10),
        facts=bloctel(
            date(2026, 8, 1),
            consents=(consent(paris(2026, 7, 1), slot_start=paris(2026, 8, 8, 9), slot_end=paris(2026, 8, 8, 10)),),
        ),
    ),
    allow(
        "a7-slot-on-a-holiday",
        "A7, H1",
        at=paris(2026, 12, 25, 18, 10),
        facts=Facts(
            consents=(
                consent(paris(2026, 9, 1), slot_start=paris(2026, 12, 25, 18), slot_end=paris(2026, 12, 25, 18, 30)),
            )
        ),
    ),
    block(
        "a7-slot-does-not-lift-b3",
        "A7, B3",
        {"FREQUENCY_CAP"},
        at=paris(2026, 12, 5, 9, 10),
        facts=Facts(consents=(SLOT_CONSENT,), attempts=voice_attempts(paris(2026, 12, 5, 9, 10), (20, 10, 5, 1))),
        next_allowed=paris(2026, 12, 15, 10),
    ),
    block(
        "a7-slot-of-sms-consent-ignored-for-voice",
        "A7",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 9, 10),
        facts=Facts(consents=(consent(paris(2026, 9, 1), "voice"), dataclasses.replace(SLOT_CONSENT, channel="sms"))),
    ),
    # ---------------------------------------------------------------- A10: term, expiry, withdrawal
    allow("a10-364-days", "A10", facts=Facts(consents=(consent(paris(2025, 12, 2, 11)),))),
    block(
        "a10-365-days-expired",
        "A10",
        {"CONSENT_EXPIRED"},
        facts=Facts(consents=(consent(paris(2025, 12, 1, 11)),)),
        next_allowed=None,
    ),
    block(
        "a10-later-expiry-capped-at-365-days",
        "A10",
        {"CONSENT_EXPIRED"},
        facts=Facts(consents=(consent(paris(2025, 11, 1), expires_at=paris(2027, 11, 1)),)),
    ),
    block(
        "a10-expires-at-given",
        "A10",
        {"CONSENT_EXPIRED"},
        facts=Facts(consents=(consent(paris(2026, 9, 1), expires_at=paris(2026, 11, 1)),)),
    ),
    allow("a10-term-is-voice-only-sms", "A10, F1", facts=Facts(consents=(consent(paris(2024, 6, 1), "sms"),)), **SMS),
    block(
        "a10-expires-before-next-opening",
        "A10, B1",
        {"NON_WORKING_DAY"},
        at=paris(2026, 12, 5, 11),
        facts=Facts(consents=(consent(paris(2025, 12, 6, 11)),)),
        next_allowed=None,
    ),
    block(
        "a10-withdrawn",
        "A10, G2",
        {"CONSENT_WITHDRAWN"},
        facts=with_consent(TUE, withdrawals=(paris(2026, 11, 15),)),
        next_allowed=None,
    ),
    allow("a10-withdrawal-after-contact", "A10", facts=with_consent(TUE, withdrawals=(paris(2026, 12, 2),))),
    allow(
        "a10-new-consent-after-withdrawal",
        "A10",
        facts=Facts(
            consents=(consent(paris(2026, 9, 1)), consent(paris(2026, 11, 20), "voice")),
            withdrawals=(paris(2026, 10, 1),),
        ),
    ),
    block(
        "a13-objection-during-call",
        "A13, G3",
        {"OPPOSITION", "CONSENT_WITHDRAWN"},
        facts=with_consent(
            TUE,
            attempts=(Attempt(paris(2026, 11, 20, 11), "voice", "opposed"),),
            oppositions=(OppositionEvent(paris(2026, 11, 20, 11), True),),
            withdrawals=(paris(2026, 11, 20, 11),),
        ),
        next_allowed=None,
    ),
    # ---------------------------------------------------------------- A11: Bloctel, and the 10/11 Aug 2026 switch
    block(
        "a11-registered",
        "A11",
        {"BLOCTEL_REGISTERED"},
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 8, 1), listed=True),
        next_allowed=None,
    ),
    allow("a11-not-registered-no-consent-needed", "A11", at=MON_BEFORE_SWITCH, facts=bloctel(date(2026, 8, 1))),
    allow("a11-snapshot-30-days-old", "A11", at=MON_BEFORE_SWITCH, facts=bloctel(date(2026, 7, 11))),
    block(
        "a11-snapshot-31-days-old",
        "A11",
        {"BLOCTEL_LIST_STALE"},
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 7, 10)),
        next_allowed=None,
    ),
    block("a11-no-snapshot", "A11", {"BLOCTEL_LIST_STALE"}, at=MON_BEFORE_SWITCH, facts=Facts()),
    block(
        "a11-stale-and-registered",
        "A11",
        {"BLOCTEL_LIST_STALE", "BLOCTEL_REGISTERED"},
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 6, 1), listed=True),
    ),
    allow("a11-b2b-listed", "A11, G7", at=MON_BEFORE_SWITCH, facts=bloctel(date(2026, 8, 1), listed=True), **B2B),
    allow(
        "a11-sms-listed",
        "A11, F1",
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 8, 1), listed=True, consents=(consent(paris(2026, 7, 1), "sms"),)),
        **SMS,
    ),
    block(
        "switch-2026-08-11-bloctel-gone-consent-needed",
        "A1, A11",
        {"NO_CONSENT"},
        at=TUE_SWITCH,
        facts=bloctel(date(2026, 8, 1), listed=True),
    ),
    allow(
        "switch-2026-08-11-listed-with-consent",
        "A1, A11",
        at=TUE_SWITCH,
        facts=bloctel(date(2026, 6, 1), listed=True, consents=(consent(paris(2026, 8, 1)),)),
    ),
    block(
        "switch-reunion-local-date-is-11-aug",
        "A1, A11",
        {"NO_CONSENT", "OUTSIDE_HOURS"},
        to="0262123456",
        at=utc(2026, 8, 10, 21),  # 01:00 on 11 Aug in Réunion, 23:00 on 10 Aug in Paris
        facts=bloctel(date(2026, 8, 1), listed=True),
        next_allowed=None,
        law_date=date(2026, 8, 11),
    ),
    block(
        "switch-paris-local-date-is-10-aug",
        "A11",
        {"BLOCTEL_REGISTERED", "OUTSIDE_HOURS"},
        at=utc(2026, 8, 10, 21),
        facts=bloctel(date(2026, 8, 1), listed=True),
        next_allowed=None,
        law_date=date(2026, 8, 10),
    ),
    block(
        "switch-guadeloupe-local-date-is-10-aug",
        "A11",
        {"BLOCTEL_REGISTERED", "OUTSIDE_HOURS"},
        to="0590123456",
        at=utc(2026, 8, 11, 2),  # 22:00 on 10 Aug in Guadeloupe
        facts=bloctel(date(2026, 8, 1), listed=True),
        law_date=date(2026, 8, 10),
    ),
    block(
        "switch-next-opening-falls-under-a1",
        "A1, A11, B1",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 8, 10, 20, 30),
        facts=bloctel(date(2026, 8, 1)),
        next_allowed=None,  # Tue 11 Aug 10:00 needs a consent nobody gave
    ),
    block(
        "switch-weekend-before",
        "A11, B1",
        {"NON_WORKING_DAY"},
        at=paris(2026, 8, 8, 11),
        facts=bloctel(date(2026, 8, 1)),
        next_allowed=paris(2026, 8, 10, 10),
    ),
    block(
        "switch-next-opening-with-consent",
        "A1, A11, B1",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 8, 10, 20, 30),
        facts=bloctel(date(2026, 8, 1), consents=(consent(paris(2026, 8, 1)),)),
        next_allowed=paris(2026, 8, 11, 10),
    ),
    block(
        "a11-snapshot-goes-stale-before-next-opening",
        "A11, B1",
        {"NON_WORKING_DAY"},
        at=paris(2026, 8, 8, 11),
        facts=bloctel(date(2026, 7, 9)),  # 30 days old on Saturday, 32 on Monday
        next_allowed=None,
    ),
    block(
        "f2-past-customer-on-bloctel",
        "F2, A11, A4",
        {"BLOCTEL_REGISTERED"},
        at=MON_BEFORE_SWITCH,
        about_contract=True,
        facts=bloctel(
            date(2026, 8, 1), listed=True, contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)
        ),
        **AUTO,
    ),
    # ---------------------------------------------------------------- A12: press
    allow("a12-press-no-consent", "A12", sector=Sector.PRESS, facts=Facts()),
    allow(
        "a12-press-skips-bloctel",
        "A12, A11",
        sector=Sector.PRESS,
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 8, 1), listed=True),
    ),
    allow("a12-press-skips-stale-bloctel", "A12, A11", sector=Sector.PRESS, at=MON_BEFORE_SWITCH, facts=Facts()),
    block(
        "a12-press-hours-apply",
        "A12, B1",
        {"OUTSIDE_HOURS"},
        sector=Sector.PRESS,
        at=paris(2026, 12, 1, 21),
        facts=Facts(),
    ),
    block(
        "a12-press-frequency-applies",
        "A12, B3",
        {"FREQUENCY_CAP"},
        sector=Sector.PRESS,
        facts=Facts(attempts=voice_attempts(TUE, (20, 10, 5, 1))),
    ),
    block("a12-press-sms-needs-f1-consent", "A12, F1", {"NO_CONSENT"}, sector=Sector.PRESS, facts=Facts(), **SMS),
    block(
        "a12-press-automated-needs-f1-consent", "A12, F1", {"NO_CONSENT"}, sector=Sector.PRESS, facts=Facts(), **AUTO
    ),
    # ---------------------------------------------------------------- G3: opposition
    block(
        "g3-opposition",
        "G3",
        {"OPPOSITION"},
        facts=with_consent(TUE, oppositions=(OppositionEvent(paris(2026, 11, 20), True),)),
        next_allowed=None,
    ),
    allow(
        "g3-opposition-lifted",
        "G3",
        facts=with_consent(
            TUE,
            oppositions=(OppositionEvent(paris(2026, 11, 20), True), OppositionEvent(paris(2026, 11, 25), False)),
        ),
    ),
    allow(
        "g3-opposition-after-contact",
        "G3",
        facts=with_consent(TUE, oppositions=(OppositionEvent(paris(2026, 12, 2), True),)),
    ),
    block(
        "g3-b2b-sms",
        "G3, F3",
        {"OPPOSITION"},
        facts=Facts(oppositions=(OppositionEvent(paris(2026, 11, 20), True),)),
        **SMS,
        **B2B,
    ),
    # ---------------------------------------------------------------- B3: frequency cap
    block(
        "b3-4-attempts-5th-blocked",
        "B3",
        {"FREQUENCY_CAP"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (27, 10, 5, 1))),
        next_allowed=TUE + timedelta(days=3),  # Fri 4 Dec 11:00, when the oldest leaves the window
    ),
    allow("b3-3-attempts", "B3", facts=with_consent(TUE, attempts=voice_attempts(TUE, (27, 10, 5)))),
    allow(
        "b3-attempt-exactly-30-days-ago-ignored",
        "B3",
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (30, 10, 5, 1))),
    ),
    allow(
        "b3-attempts-older-than-30-days-ignored",
        "B3",
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (45, 40, 35, 31))),
    ),
    block(
        "b3-attempt-30-days-minus-1s-counts",
        "B3",
        {"FREQUENCY_CAP"},
        facts=with_consent(
            TUE,
            attempts=(
                Attempt(TUE - timedelta(days=30) + timedelta(seconds=1), "voice", "busy"),
                *voice_attempts(TUE, (10, 5, 1)),
            ),
        ),
        next_allowed=TUE + timedelta(seconds=1),
    ),
    allow(
        "b3-sms-attempts-ignored",
        "B3",
        facts=with_consent(
            TUE, attempts=tuple(Attempt(TUE - timedelta(days=d), "sms", "answered") for d in (9, 7, 5, 3))
        ),
    ),
    allow(
        "b3-3-voice-1-sms",
        "B3",
        facts=with_consent(
            TUE, attempts=(*voice_attempts(TUE, (9, 7, 5)), Attempt(TUE - timedelta(days=2), "sms", "answered"))
        ),
    ),
    block(
        "b3-5-attempts-clears-when-3-remain",
        "B3",
        {"FREQUENCY_CAP"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (29, 28, 10, 5, 1), "voicemail")),
        next_allowed=TUE + timedelta(days=2),  # Thu 3 Dec 11:00: the 2nd oldest leaves
    ),
    block(
        "b3-clears-on-saturday-next-monday",
        "B3, B1",
        {"FREQUENCY_CAP"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (26, 20, 10, 5))),
        next_allowed=paris(2026, 12, 7, 10),  # the oldest leaves on Sat 5 Dec 11:00
    ),
    block(
        "b3-clears-at-lunch-next-14h",
        "B3, B1",
        {"FREQUENCY_CAP"},
        at=paris(2026, 12, 1, 12),
        facts=with_consent(
            TUE,
            attempts=(Attempt(paris(2026, 11, 1, 13, 30), "voice", "no_answer"), *voice_attempts(TUE, (10, 5, 1))),
        ),
        next_allowed=paris(2026, 12, 1, 14),
    ),
    block(
        "b3-later-attempt-recaps-when-first-clears",
        "B3",
        {"FREQUENCY_CAP"},
        facts=with_consent(
            TUE,
            attempts=(*voice_attempts(TUE, (29, 20, 10, 5)), Attempt(TUE + timedelta(hours=12), "voice", "no_answer")),
        ),
        next_allowed=TUE + timedelta(days=10),  # Wed 11:00 is capped again; Fri 11 Dec 11:00 is not
    ),
    block(
        "b3-attempt-at-the-contact-instant-counts",
        "B3",
        {"FREQUENCY_CAP"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (10, 5, 1, 0))),
        next_allowed=paris(2026, 12, 21, 11),
    ),
    allow("b3-b2b-no-cap", "B3, G7", facts=with_consent(TUE, attempts=voice_attempts(TUE, (9, 7, 5, 3))), **B2B),
    allow(
        "b3-voice-attempts-do-not-cap-sms",
        "B3",
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (9, 7, 5, 3))),
        **SMS,
    ),
    # ---------------------------------------------------------------- B4: refusal pause
    block(
        "b4-refused-22-days-ago",
        "B4",
        {"REFUSAL_COOLDOWN"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (22,), "refused")),
        next_allowed=paris(2027, 1, 8, 11),
    ),
    block(
        "b4-refused-59-days-ago",
        "B4",
        {"REFUSAL_COOLDOWN"},
        facts=with_consent(TUE, attempts=voice_attempts(TUE, (59,), "refused")),
    ),
    allow("b4-refused-60-days-ago", "B4", facts=with_consent(TUE, attempts=voice_attempts(TUE, (60,), "refused"))),
    allow(
        "b4-only-a-refusal-during-a-call-starts-the-pause",
        "B4",
        facts=with_consent(TUE, attempts=(Attempt(TUE - timedelta(days=5), "sms", "refused"),)),
    ),
    block(
        "b4-pause-ends-on-christmas",
        "B4, H1",
        {"REFUSAL_COOLDOWN"},
        facts=with_consent(TUE, attempts=(Attempt(paris(2026, 10, 26, 11), "voice", "refused"),)),
        next_allowed=paris(2026, 12, 28, 10),
    ),
    block(
        "b4-and-b3",
        "B4, B3",
        {"REFUSAL_COOLDOWN", "FREQUENCY_CAP"},
        facts=with_consent(TUE, attempts=(*voice_attempts(TUE, (25, 10, 5)), *voice_attempts(TUE, (1,), "refused"))),
        next_allowed=TUE + timedelta(days=59),
    ),
    # ---------------------------------------------------------------- C3: masked, invalid, not assigned
    block("c3-masked-b2c", "C3", {"CALLER_ID_MASKED"}, caller=None, next_allowed=None),
    block("c3-masked-b2b-policy", "C3", {"CALLER_ID_MASKED"}, caller=None, facts=Facts(), **B2B),
    allow("c3-masked-b2b-policy-off", "C3", caller=None, facts=Facts(org=policies_off("CALLER_ID_MASKED")), **B2B),
    block(
        "c3-masked-b2c-policy-off-is-still-law",
        "C3",
        {"CALLER_ID_MASKED"},
        caller=None,
        facts=with_consent(TUE, org=policies_off("CALLER_ID_MASKED")),
    ),
    block("c3-invalid-071", "C3", {"CALLER_ID_INVALID"}, caller="0712345678", next_allowed=None),
    block("c3-invalid-letters", "C3", {"CALLER_ID_INVALID"}, caller="ACME"),
    block("c3-invalid-too-short", "C3", {"CALLER_ID_INVALID"}, caller="016200"),
    block(
        "c3-not-assigned",
        "C3, E7",
        {"CALLER_ID_NOT_ASSIGNED"},
        caller="0163000000",
        facts=with_consent(TUE, org=org(caller_numbers=frozenset({"+33162000001"}))),
        next_allowed=None,
    ),
    allow("c3-assigned", "C3, E7", facts=with_consent(TUE, org=org(caller_numbers=frozenset({"+33162000001"})))),
    allow(
        "c3-assigned-written-e164",
        "C3, E7",
        caller="+33 1 62 00 00 01",
        facts=with_consent(TUE, org=org(caller_numbers=frozenset({"+33162000001"}))),
    ),
    allow(
        "c3-declared-30pq-short-number",
        "C3, E7",
        caller="3010",
        facts=with_consent(TUE, org=org(caller_numbers=frozenset({"3010", "+33162000001"}))),
        **AUTO,
    ),
    block(
        "c3-undeclared-30pq-short-number",
        "C3, E7",
        {"CALLER_ID_NOT_ASSIGNED"},
        caller="3010",
        facts=with_consent(TUE, org=org(caller_numbers=frozenset({"+33162000001"}))),
        **AUTO,
    ),
    block(
        "c3-sms-sender-not-declared",
        "C3, E7",
        {"CALLER_ID_NOT_ASSIGNED"},
        channel=Channel.SMS,
        caller="OTHERCO",
        facts=with_consent(TUE, org=SENDERS),
    ),
    allow("c3-sms-sender-declared", "C3, E7", facts=with_consent(TUE, org=SENDERS), **SMS),
    # ---------------------------------------------------------------- C5: ranges forbidden to consumers
    block("c5-089", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="0899123456", next_allowed=None),
    block("c5-3bpq", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="3639"),
    allow("c5-30pq", "C5", caller="3010"),
    allow("c5-31pq", "C5", caller="3115"),
    block("c5-118xyz", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="118218"),
    allow("c5-089-b2b", "C5", caller="0899123456", **B2B),
    allow("c5-0800", "C5", caller="0800123456"),
    # ---------------------------------------------------------------- E1: mobile caller IDs
    block("e1-06", "E1", {"CALLER_ID_MOBILE"}, caller="0698765432", next_allowed=None),
    block("e1-07", "E1", {"CALLER_ID_MOBILE"}, caller="0755443322"),
    block("e1-overseas-0690", "E1", {"CALLER_ID_MOBILE"}, caller="0690123456"),
    block("e1-overseas-0696", "E1", {"CALLER_ID_MOBILE"}, caller="0696123456"),
    block("e1-e164-form", "E1", {"CALLER_ID_MOBILE"}, caller="+33 6 98 76 54 32"),
    block("e1-b2b", "E1", {"CALLER_ID_MOBILE"}, caller="0698765432", **B2B),
    block("e1-sms-numeric-sender", "E1", {"CALLER_ID_MOBILE"}, channel=Channel.SMS, caller="0698765432"),
    # ---------------------------------------------------------------- E2 / E3: automated systems
    *[allow(f"e3-npv-{p}", "E3, E2", caller=p + "000001", **AUTO) for p in NPV_METRO],
    *[allow(f"e3-npv-overseas-{p}", "E3, E2", caller=p + "12345", **AUTO) for p in NPV_OVERSEAS],
    allow("e2-0800", "E2", caller="0800123456", **AUTO),
    allow("e2-0809", "E2", caller="0809123456", **AUTO),
    allow("e2-081", "E2", caller="0812345678", **AUTO),
    allow("e2-30pq", "E2", caller="3010", **AUTO),
    allow("e2-31pq", "E2", caller="3115", **AUTO),
    block("e2-089-b2c", "E2, C5", {"CALLER_ID_NOT_NPV", "CALLER_ID_FORBIDDEN_RANGE"}, caller="0899123456", **AUTO),
    block("e2-089-b2b", "E2", {"CALLER_ID_NOT_NPV"}, caller="0899123456", facts=Facts(), **AUTO, **B2B),
    block("e2-01-geographic", "E2", {"CALLER_ID_NOT_NPV"}, caller="0142123456", next_allowed=None, **AUTO),
    block("e2-05-geographic", "E2", {"CALLER_ID_NOT_NPV"}, caller="0556123456", **AUTO),
    block("e2-0937", "E2, E3", {"CALLER_ID_NOT_NPV"}, caller="0937123456", **AUTO),
    block("e2-0939", "E2, E3", {"CALLER_ID_NOT_NPV"}, caller="0939123456", **AUTO),
    block("e2-other-09", "E2", {"CALLER_ID_NOT_NPV"}, caller="0912345678", **AUTO),
    block("e3-02688-unverified-candidate", "E3", {"CALLER_ID_NOT_NPV"}, caller="0268812345", **AUTO),
    block("e2-06", "E2, E1", {"CALLER_ID_NOT_NPV", "CALLER_ID_MOBILE"}, caller="0612345678", **AUTO),
    block("e2-3bpq-b2c", "E2, C5", {"CALLER_ID_NOT_NPV", "CALLER_ID_FORBIDDEN_RANGE"}, caller="3639", **AUTO),
    block(
        "e2-automated-sms-numeric-01",
        "E2",
        {"CALLER_ID_NOT_NPV"},
        channel=Channel.SMS,
        caller="0142123456",
        **AUTO,
    ),
    block("e2-b2b-01", "E2", {"CALLER_ID_NOT_NPV"}, caller="0142123456", facts=Facts(), **AUTO, **B2B),
    allow("e2-automated-sms-alphanumeric", "E2", **SMS, **AUTO),
    allow("e2-human-call-from-01", "E2", caller="0142123456"),
    # ---------------------------------------------------------------- N: the callee
    block("n6-callee-0800", "N6", {"CALLEE_NOT_PROSPECTABLE"}, to="0800123456", next_allowed=None),
    block("n6-callee-089", "N6", {"CALLEE_NOT_PROSPECTABLE"}, to="0899123456"),
    block("n16-callee-short", "N16", {"CALLEE_NOT_PROSPECTABLE"}, to="3010"),
    block("n16-callee-118xyz", "N16", {"CALLEE_NOT_PROSPECTABLE"}, to="118218"),
    block("n15-callee-112", "N15", {"CALLEE_NOT_PROSPECTABLE"}, to="112"),
    block("n15-callee-15", "N15", {"CALLEE_NOT_PROSPECTABLE"}, to="15"),
    block("n15-callee-116000", "N15", {"CALLEE_NOT_PROSPECTABLE"}, to="116000"),
    block("n5-callee-0700-m2m", "N5", {"CALLEE_NOT_PROSPECTABLE"}, to="07001234567890"),
    block("n-callee-foreign", "N", {"CALLEE_FOREIGN"}, to="+44 20 7946 0958", next_allowed=None),
    block("n-callee-invalid-short", "N", {"CALLEE_INVALID"}, to="0612", next_allowed=None),
    block("n-callee-invalid-junk", "N", {"CALLEE_INVALID"}, to="call me"),
    block("n-callee-invalid-071", "N", {"CALLEE_INVALID"}, to="0712345678"),
    block("n-callee-overseas-with-plus33", "N, N11", {"CALLEE_INVALID"}, to="+33590123456"),
    # ---------------------------------------------------------------- F1 / F2 / F3: SMS and automated calls
    block("f1-sms-no-consent", "F1", {"NO_CONSENT"}, facts=Facts(), next_allowed=None, **SMS),
    allow("f1-sms-consent", "F1", facts=Facts(consents=(consent(paris(2026, 11, 1), "sms"),)), **SMS),
    allow("f1-all-consent-covers-sms", "F1", facts=Facts(consents=(consent(paris(2026, 11, 1), "all"),)), **SMS),
    block(
        "f1-voice-consent-does-not-cover-sms",
        "F1",
        {"NO_CONSENT"},
        facts=Facts(consents=(consent(paris(2026, 11, 1), "voice"),)),
        **SMS,
    ),
    block(
        "f1-sms-consent-without-proof",
        "F1, A3",
        {"NO_CONSENT"},
        facts=Facts(consents=(consent(paris(2026, 11, 1), "sms", has_proof=False),)),
        **SMS,
    ),
    allow(
        "f2-sms-past-customer-related-offer",
        "F2",
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)),
        **SMS,
    ),
    block(
        "f2-sms-customer-unrelated-offer",
        "F2",
        {"NO_CONSENT"},
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1)),)),
        **SMS,
    ),
    block(
        "f2-sms-contract-not-started",
        "F2",
        {"NO_CONSENT"},
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2027, 1, 1)),)),
        **SMS,
    ),
    block(
        "f1-automated-before-switch",
        "F1, A11",
        {"NO_CONSENT"},
        at=MON_BEFORE_SWITCH,
        facts=bloctel(date(2026, 8, 1)),
        **AUTO,
    ),
    allow(
        "f2-automated-before-switch-past-customer",
        "F2, A11",
        at=MON_BEFORE_SWITCH,
        about_contract=True,
        facts=bloctel(date(2026, 8, 1), contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)),
        **AUTO,
    ),
    block(
        "f2-automated-after-switch-past-customer-still-needs-a1",
        "F2, A1, A4",
        {"NO_CONSENT"},
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)),
        **AUTO,
    ),
    allow(
        "f2-automated-contract-in-progress",
        "F2, A4",
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1)),)),
        **AUTO,
    ),
    allow("f3-b2b-sms-no-consent", "F3", facts=Facts(), **SMS, **B2B),
    allow("f3-b2b-automated-no-consent", "F3", facts=Facts(), **AUTO, **B2B),
    # ---------------------------------------------------------------- F4: SMS text
    allow(
        "f4-text-ok",
        "F4",
        message="ACME : -20% ce mois-ci. STOP au 36111",
        facts=with_consent(TUE, org=SENDERS),
        **SMS,
    ),
    allow("f4-stop-lowercase", "F4", message="ACME: promo, stop au 36111", facts=with_consent(TUE, org=SENDERS), **SMS),
    block(
        "f4-stop-missing",
        "F4",
        {"SMS_OPT_OUT_MISSING"},
        message="ACME : -20% ce mois-ci",
        facts=with_consent(TUE, org=SENDERS),
        next_allowed=None,
        **SMS,
    ),
    block(
        "f4-sender-missing",
        "F4",
        {"SMS_SENDER_MISSING"},
        channel=Channel.SMS,
        caller="36111",
        message="-20% ce mois-ci. STOP au 36111",
        facts=with_consent(TUE, org=SENDERS),
        next_allowed=None,
    ),
    allow(
        "f4-sender-named-in-text-numeric-sender",
        "F4",
        channel=Channel.SMS,
        caller="36111",
        message="ACME: -20%. STOP au 36111",
        facts=with_consent(TUE, org=SENDERS),
    ),
    block(
        "f4-both-missing-b2b",
        "F4",
        {"SMS_OPT_OUT_MISSING", "SMS_SENDER_MISSING"},
        channel=Channel.SMS,
        caller="36111",
        message="Promo!",
        facts=Facts(org=SENDERS),
        **B2B,
    ),
    allow("f4-voice-ignores-message", "F4", message="no stop here", facts=with_consent(TUE, org=SENDERS)),
    # ---------------------------------------------------------------- F6: SMS quiet hours (policy)
    block(
        "f6-sunday",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        at=paris(2026, 12, 6, 11),
        next_allowed=paris(2026, 12, 7, 8),
        **SMS,
    ),
    allow("f6-saturday", "F6", at=paris(2026, 12, 5, 11), **SMS),
    allow("f6-weekday-lunch", "F6", at=paris(2026, 12, 1, 13, 30), **SMS),
    block(
        "f6-07-59-59",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        at=paris(2026, 12, 1, 7, 59, 59),
        next_allowed=paris(2026, 12, 1, 8),
        **SMS,
    ),
    allow("f6-08-00", "F6", at=paris(2026, 12, 1, 8), **SMS),
    allow("f6-19-59-59", "F6", at=paris(2026, 12, 1, 19, 59, 59), **SMS),
    block(
        "f6-saturday-20-00",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        at=paris(2026, 12, 5, 20),
        next_allowed=paris(2026, 12, 7, 8),
        **SMS,
    ),
    block(
        "f6-christmas",
        "F6, H1",
        {"POLICY_SMS_QUIET_HOURS"},
        at=paris(2026, 12, 25, 11),
        next_allowed=paris(2026, 12, 26, 8),
        **SMS,
    ),
    block(
        "f6-h2-day-guadeloupe",
        "F6, H2",
        {"POLICY_SMS_QUIET_HOURS"},
        to="0690123456",
        at=at_in(GUADELOUPE, 2027, 5, 27),
        **SMS,
    ),
    allow("f6-reunion-08h30-local", "F6", to="0692123456", at=utc(2026, 12, 1, 4, 30), **SMS),
    block("f6-paris-05h30-same-instant", "F6", {"POLICY_SMS_QUIET_HOURS"}, at=utc(2026, 12, 1, 4, 30), **SMS),
    allow("f6-b2b-sunday", "F6", at=paris(2026, 12, 6, 11), facts=Facts(), **SMS, **B2B),
    # ---------------------------------------------------------------- policies switched off
    allow(
        "policy-off-sms-quiet-hours",
        "F6",
        at=paris(2026, 12, 6, 11),
        facts=with_consent(paris(2026, 12, 6, 11), org=policies_off("POLICY_SMS_QUIET_HOURS")),
        next_allowed=paris(2026, 12, 6, 11),
        **SMS,
    ),
    allow(
        "policy-off-callee-not-prospectable",
        "N6",
        to="0800123456",
        facts=with_consent(TUE, org=policies_off("CALLEE_NOT_PROSPECTABLE")),
    ),
    allow(
        "policy-off-callee-foreign",
        "N",
        to="+44 20 7946 0958",
        facts=with_consent(TUE, org=policies_off("CALLEE_FOREIGN")),
    ),
    block(
        "policy-off-foreign-still-paris-days",
        "N, B1",
        {"NON_WORKING_DAY"},
        to="+49 151 12345678",
        at=paris(2026, 12, 5, 11),
        facts=with_consent(TUE, org=policies_off("CALLEE_FOREIGN")),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    block(
        "policy-off-law-codes-stay",
        "A1, B1",
        {"NO_CONSENT", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 1, 21),
        facts=Facts(org=policies_off("NO_CONSENT", "OUTSIDE_HOURS", "CALLEE_INVALID")),
    ),
    block(
        "policy-off-callee-invalid-is-law",
        "N",
        {"CALLEE_INVALID"},
        to="0612",
        facts=with_consent(TUE, org=policies_off("CALLEE_INVALID")),
    ),
    # ---------------------------------------------------------------- every reason at once
    block(
        "many-reasons-reported-together",
        "C3, A1, A5, B1",
        {"CALLER_ID_MASKED", "NO_CONSENT", "SECTOR_BANNED", "NON_WORKING_DAY", "OUTSIDE_HOURS"},
        caller=None,
        sector=Sector.ENERGY_RENOVATION,
        at=paris(2026, 12, 6, 22),
        facts=Facts(),
        next_allowed=None,
    ),
]

# Rule ids of the reference this table must exercise (the brief's list).
REQUIRED_RULES = {
    "A1", "A3", "A4", "A5", "A6", "A7", "A10", "A11", "A12", "A13", "B1", "B3", "B4", "C3", "C5", "D2",
    "E1", "E2", "E3", "F1", "F2", "F3", "F4", "F6", "G3", "H1", "H2", "H3", "H4",
    "N5", "N6", "N9", "N10", "N11", "N12", "N13", "N14", "N15", "N16",
}  # fmt: skip


def test_table_size_and_ids() -> None:
    assert len(CASES) >= 120, len(CASES)
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})


def test_table_covers_every_reason_code_decide_can_produce() -> None:
    covered = set().union(*(c.codes for c in CASES))
    assert covered <= set(SECTION_5), covered - set(SECTION_5)
    missing = set(SECTION_5) - PRODUCED_ELSEWHERE - covered
    assert not missing, f"no row expects {sorted(missing)}"


def test_table_covers_every_required_rule() -> None:
    named = {r for c in CASES for r in c.rules}
    assert named >= REQUIRED_RULES, sorted(REQUIRED_RULES - named)


def test_table_rows_are_consistent() -> None:
    for c in CASES:
        assert c.decision in ("allow", "block"), c.id
        assert (c.decision == "allow") == (not c.codes), c.id
        assert c.rules and all(r for r in c.rules), c.id
        if c.codes - TEMPORAL and c.next_allowed != UNCHECKED:
            assert c.next_allowed is None, c.id


def _describe(d: Decision) -> str:
    return "; ".join(f"{r.code}[{r.rule}]: {r.message}" for r in d.reasons) or "allowed"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rules[0]}-{c.id}" for c in CASES])
def test_scenario(case: Case) -> None:
    facts = case.the_facts()
    d = decide(case.request(), facts)
    got = set(d.codes)
    assert got == case.codes, f"expected {sorted(case.codes)}, got {sorted(got)}: {_describe(d)}"
    assert d.decision == case.decision
    assert len(d.codes) == len(got), f"a code reported twice: {d.codes}"

    for r in d.reasons:
        kind, rules = SECTION_5[r.code]
        if r.code == "CALLER_ID_MASKED":
            kind = "law" if case.audience is Audience.CONSUMER else "policy"
        assert r.kind.value == kind, (r.code, r.kind)
        assert not rules or r.rule in rules, f"{r.code} reported under {r.rule}, section 5 says {sorted(rules)}"
        assert r.message and r.reference
        LAW.reference(r.rule)  # the rule cited exists in the law data

    # next_allowed_at: the row's expectation, then the semantics every row obeys.
    nxt = d.next_allowed_at
    if case.law_date is not None:
        assert d.law_date == case.law_date
    if case.next_allowed != UNCHECKED:
        assert nxt == case.next_allowed, f"next_allowed_at {nxt}, expected {case.next_allowed}"
    if d.allowed:
        assert nxt == case.at
    elif got - TEMPORAL:
        assert nxt is None
    if nxt is not None:
        assert nxt.utcoffset() is not None
        assert nxt >= case.at
        assert decide(case.request(nxt), facts).allowed, f"not allowed at next_allowed_at {nxt}"
        if nxt > case.at:
            before = max(case.at, nxt - timedelta(seconds=1))
            assert not decide(case.request(before), facts).allowed, f"already allowed at {before}"
