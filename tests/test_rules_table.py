"""The scenario table: one row per situation, each naming the rule of the reference it exercises.

Every reason code that `decide` produces appears as an expected code in some row (checked below), so
the table is also the contract's test. Rows are pure: no store, hand-built facts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from prospectguard.model import (
    Attempt,
    Audience,
    BloctelFacts,
    Channel,
    Consent,
    ContactRequest,
    Contract,
    Facts,
    OppositionEvent,
    OrgSettings,
    Sector,
)
from prospectguard.rules import decide
from prospectguard.rules.catalogue import CODES

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")
NPV = "0162000001"
MOBILE = "0612345678"


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=PARIS)


TUE = paris(2026, 12, 1, 11)  # a Tuesday, inside the morning window
CONSENT = Consent(collected_at=paris(2026, 9, 1, 10), channel="all")


def facts(**kw: Any) -> Facts:
    kw.setdefault("consents", (CONSENT,))
    return Facts(**kw)


NO_FACTS = Facts()


def fresh(at: datetime) -> Facts:
    """A consent collected 30 days before `at`: valid whatever the year (A10's term is a year)."""
    return Facts(consents=(Consent(collected_at=at - timedelta(days=30), channel="all"),))


@dataclass
class Row:
    id: str
    rule: str
    codes: set[str]
    to: str = MOBILE
    at: datetime = TUE
    caller: str | None = NPV
    facts: Facts = None  # type: ignore[assignment]  # default: a consent collected 30 days before `at`
    channel: Channel = Channel.VOICE
    automated: bool = False
    audience: Audience = Audience.CONSUMER
    sector: Sector = Sector.GENERAL
    about_contract: bool = False
    message: str | None = None
    postcode: str | None = None
    next_allowed: datetime | str | None = "any"  # "any": not checked

    def __post_init__(self) -> None:
        if self.facts is None:
            self.facts = fresh(self.at)

    def request(self) -> ContactRequest:
        return ContactRequest(
            to=self.to,
            at=self.at,
            channel=self.channel,
            caller=self.caller,
            automated=self.automated,
            audience=self.audience,
            sector=self.sector,
            about_contract=self.about_contract,
            message=self.message,
            postcode=self.postcode,
        )


ROWS: list[Row] = [
    # --- allowed baseline and B1 hours (half-open windows) ---
    Row("allowed-baseline", "B1", set(), next_allowed=TUE),
    Row("b1-09:59:59", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 9, 59, 59), next_allowed=paris(2026, 12, 1, 10)),
    Row("b1-10:00", "B1", set(), at=paris(2026, 12, 1, 10)),
    Row("b1-12:59", "B1", set(), at=paris(2026, 12, 1, 12, 59)),
    Row("b1-13:00", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 13), next_allowed=paris(2026, 12, 1, 14)),
    Row("b1-13:59:59", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 13, 59, 59)),
    Row("b1-14:00", "B1", set(), at=paris(2026, 12, 1, 14)),
    Row("b1-19:59", "B1", set(), at=paris(2026, 12, 1, 19, 59)),
    Row("b1-20:00", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 20), next_allowed=paris(2026, 12, 2, 10)),
    Row("b1-night", "B1", {"OUTSIDE_HOURS"}, at=paris(2026, 12, 1, 3), next_allowed=paris(2026, 12, 1, 10)),
    Row(
        "b1-friday-evening",
        "B1",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 12, 4, 20, 30),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    Row("b1-saturday", "B1", {"NON_WORKING_DAY"}, at=paris(2026, 12, 5, 11), next_allowed=paris(2026, 12, 7, 10)),
    Row(
        "b1-sunday-night",
        "B1",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 6, 22),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    Row("b1-b2b-no-hours", "B1", set(), at=paris(2026, 12, 5, 22), audience=Audience.BUSINESS, facts=NO_FACTS),
    Row("b1-sms-not-b1", "B1", set(), at=paris(2026, 12, 1, 13, 30), channel=Channel.SMS, caller="ACME"),
    Row("b1-before-2023-no-hours-rule", "B1", {"BLOCTEL_LIST_STALE"}, at=paris(2022, 12, 1, 22)),
    # --- H1 national holidays (2027: none on a weekend except as noted) ---
    *[
        Row(f"h1-{d:%m-%d}", "H1", {"PUBLIC_HOLIDAY"}, at=d.replace(hour=11))
        for d in [
            paris(2027, 1, 1),
            paris(2027, 3, 29),  # Easter Monday
            paris(2027, 5, 6),  # Ascension
            paris(2027, 5, 17),  # Whit Monday
            paris(2027, 7, 14),
            paris(2028, 5, 1),
            paris(2028, 5, 8),
            paris(2029, 8, 15),
            paris(2027, 11, 1),
            paris(2027, 11, 11),
            paris(2028, 12, 25),
        ]
    ],
    Row(
        "h1-holiday-on-saturday",
        "H1",
        {"PUBLIC_HOLIDAY", "NON_WORKING_DAY"},
        at=paris(2027, 5, 1, 11),
        next_allowed=paris(2027, 5, 3, 10),
    ),
    Row(
        "h1-next-after-ascension",
        "H1",
        {"PUBLIC_HOLIDAY"},
        at=paris(2027, 5, 6, 11),
        next_allowed=paris(2027, 5, 7, 10),
    ),
    # --- H3 Alsace-Moselle ---
    Row("h3-good-friday-0387", "H3", {"PUBLIC_HOLIDAY"}, to="0387123456", at=paris(2027, 3, 26, 11)),
    Row("h3-good-friday-0388", "H3", {"PUBLIC_HOLIDAY"}, to="0388123456", at=paris(2027, 3, 26, 11)),
    Row("h3-26-dec-0389", "H3", {"PUBLIC_HOLIDAY"}, to="0389123456", at=paris(2028, 12, 26, 11)),
    Row("h3-good-friday-not-paris", "H3", set(), to="0142123456", at=paris(2027, 3, 26, 11)),
    Row("h3-mobile-postcode-57", "H3", {"PUBLIC_HOLIDAY"}, postcode="57000", at=paris(2027, 3, 26, 11)),
    Row("h3-mobile-postcode-67", "H3", {"PUBLIC_HOLIDAY"}, postcode="67000", at=paris(2028, 12, 26, 11)),
    Row("h3-mobile-postcode-75", "H3", set(), postcode="75011", at=paris(2027, 3, 26, 11)),
    # --- section 3 / N9-N14: overseas numbers at one UTC instant (Tue 2026-12-01 15:00 UTC) ---
    Row("zone-re-19h", "N9", set(), to="0692123456", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-yt-18h", "N10", set(), to="0639123456", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-gp-11h", "N11", set(), to="0590123456", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-gf-12h", "N12", set(), to="0594123456", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-mq-11h", "N13", set(), to="0696123456", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-pm-12h", "N14", set(), to="0508412345", at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row("zone-paris-16h", "B1", set(), at=datetime(2026, 12, 1, 15, tzinfo=UTC)),
    Row(
        "zone-re-21h",
        "N9",
        {"OUTSIDE_HOURS"},
        to="+262 692 12 34 56",
        at=datetime(2026, 12, 1, 17, tzinfo=UTC),
        next_allowed=datetime(2026, 12, 2, 6, tzinfo=UTC),
    ),
    Row(
        "zone-mq-06h",
        "N13",
        {"OUTSIDE_HOURS"},
        to="0696123456",
        at=paris(2026, 12, 1, 11),
        next_allowed=datetime(2026, 12, 1, 14, tzinfo=UTC),
    ),
    Row("zone-gf-postcode-for-mobile", "B1", {"OUTSIDE_HOURS"}, postcode="97300", at=paris(2026, 12, 1, 11)),
    Row("zone-re-postcode-for-mobile", "B1", set(), postcode="97410", at=paris(2026, 12, 1, 11)),
    # --- H2 abolition days in their territory ---
    Row("h2-yt-27-apr", "H2", {"PUBLIC_HOLIDAY"}, to="0639123456", at=paris(2027, 4, 27, 11)),
    Row("h2-mq-22-may", "H2", {"PUBLIC_HOLIDAY"}, to="0696123456", at=paris(2028, 5, 22, 16)),
    Row("h2-gp-27-may", "H2", {"PUBLIC_HOLIDAY"}, to="0690123456", at=paris(2027, 5, 27, 17)),
    Row("h2-gf-10-jun", "H2", {"PUBLIC_HOLIDAY"}, to="0694123456", at=paris(2027, 6, 10, 17)),
    Row("h2-bl-9-oct-number-n11", "H2", {"PUBLIC_HOLIDAY"}, to="0590271234", at=paris(2028, 10, 9, 17)),
    Row("h2-re-20-dec", "H2", {"PUBLIC_HOLIDAY"}, to="0262123456", at=paris(2027, 12, 20, 11)),
    Row("h2-re-day-not-in-paris", "H2", set(), at=paris(2027, 12, 20, 11)),
    Row("h2-mf-postcode", "H2", {"PUBLIC_HOLIDAY"}, postcode="97150", at=paris(2027, 5, 27, 17)),
    # --- A1 / A2 / A3 / A10 consent (voice, from 2026-08-11) ---
    Row("a1-no-consent", "A1", {"NO_CONSENT"}, facts=NO_FACTS, next_allowed=None),
    Row(
        "a3-consent-without-proof",
        "A3",
        {"NO_CONSENT"},
        facts=facts(consents=(Consent(collected_at=paris(2026, 9, 1), channel="all", has_proof=False),)),
    ),
    Row(
        "a1-sms-consent-not-voice",
        "A1",
        {"NO_CONSENT"},
        facts=facts(consents=(Consent(collected_at=paris(2026, 9, 1), channel="sms"),)),
    ),
    Row(
        "a1-voice-consent",
        "A1",
        set(),
        facts=facts(consents=(Consent(collected_at=paris(2026, 9, 1), channel="voice"),)),
    ),
    Row(
        "a1-consent-after-contact",
        "A1",
        {"NO_CONSENT"},
        facts=facts(consents=(Consent(collected_at=paris(2026, 12, 2), channel="all"),)),
    ),
    Row(
        "a10-expired-365-days",
        "A10",
        {"CONSENT_EXPIRED"},
        facts=facts(consents=(Consent(collected_at=paris(2025, 11, 30, 11), channel="all"),)),
        next_allowed=None,
    ),
    Row(
        "a10-day-364-valid",
        "A10",
        set(),
        facts=facts(consents=(Consent(collected_at=paris(2025, 12, 2, 11), channel="all"),)),
    ),
    Row(
        "a10-expires-at-given",
        "A10",
        {"CONSENT_EXPIRED"},
        facts=facts(consents=(Consent(collected_at=paris(2026, 9, 1), channel="all", expires_at=paris(2026, 11, 1)),)),
    ),
    Row(
        "a10-withdrawn",
        "A10",
        {"CONSENT_WITHDRAWN"},
        facts=facts(withdrawals=(paris(2026, 10, 1),)),
        next_allowed=None,
    ),
    Row("a10-withdrawal-later-than-contact", "A10", set(), facts=facts(withdrawals=(paris(2026, 12, 2),))),
    Row(
        "a10-new-consent-after-withdrawal",
        "A10",
        set(),
        facts=facts(
            consents=(CONSENT, Consent(collected_at=paris(2026, 11, 1), channel="voice")),
            withdrawals=(paris(2026, 10, 1),),
        ),
    ),
    # --- A4 contract in progress ---
    Row(
        "a4-contract-related-offer",
        "A4",
        set(),
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
        about_contract=True,
    ),
    Row(
        "a4-contract-other-offer",
        "A4",
        {"NO_CONSENT"},
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
    ),
    Row(
        "a4-contract-ended",
        "A4",
        {"NO_CONSENT"},
        facts=Facts(contracts=(Contract(start=paris(2025, 1, 1), end=paris(2026, 6, 1)),)),
        about_contract=True,
    ),
    Row(
        "a4-contract-not-started",
        "A4",
        {"NO_CONSENT"},
        facts=Facts(contracts=(Contract(start=paris(2027, 1, 1)),)),
        about_contract=True,
    ),
    Row("a4-no-contract-on-record", "A4", {"NO_CONSENT"}, facts=NO_FACTS, about_contract=True),
    # --- A5 / A6 / D2 sector bans ---
    Row("a5-energy-voice", "A5", {"SECTOR_BANNED"}, sector=Sector.ENERGY_RENOVATION, next_allowed=None),
    Row("a5-housing-voice-2026", "A5", {"SECTOR_BANNED"}, sector=Sector.HOUSING_ADAPTATION),
    Row(
        "a5-housing-before-2025-07-02",
        "A5",
        {"BLOCTEL_LIST_STALE"},
        sector=Sector.HOUSING_ADAPTATION,
        at=paris(2025, 6, 30, 11),
    ),
    Row(
        "a5-energy-contract-exempt",
        "A5",
        set(),
        sector=Sector.ENERGY_RENOVATION,
        facts=facts(contracts=(Contract(start=paris(2025, 1, 1)),)),
        about_contract=True,
    ),
    Row("a5-energy-b2b-not-banned", "A5", set(), sector=Sector.ENERGY_RENOVATION, audience=Audience.BUSINESS),
    Row(
        "a6-energy-sms",
        "A6",
        {"SECTOR_BANNED"},
        sector=Sector.ENERGY_RENOVATION,
        channel=Channel.SMS,
        caller="ACME",
    ),
    Row("d2-cpf-voice", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING),
    Row("d2-cpf-b2b-sms", "D2", {"SECTOR_BANNED"}, sector=Sector.CPF_TRAINING, channel=Channel.SMS, caller="ACME"),
    Row(
        "d2-cpf-training-in-progress",
        "D2",
        set(),
        sector=Sector.CPF_TRAINING,
        facts=facts(contracts=(Contract(start=paris(2026, 10, 1)),)),
        about_contract=True,
    ),
    Row("insurance-is-general", "A1", set(), sector=Sector.INSURANCE),
    # --- A11 Bloctel (consumer voice, before 2026-08-11) and A12 press ---
    Row(
        "a11-registered",
        "A11",
        {"BLOCTEL_REGISTERED"},
        at=paris(2026, 8, 10, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date(), listed=True)),
    ),
    Row(
        "a11-not-registered",
        "A11",
        set(),
        at=paris(2026, 8, 10, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date())),
    ),
    Row(
        "a11-snapshot-31-days",
        "A11",
        {"BLOCTEL_LIST_STALE"},
        at=paris(2026, 8, 10, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 7, 10).date())),
    ),
    Row(
        "a11-snapshot-30-days",
        "A11",
        set(),
        at=paris(2026, 8, 10, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 7, 11).date())),
    ),
    Row("a11-no-snapshot", "A11", {"BLOCTEL_LIST_STALE"}, at=paris(2026, 8, 10, 11), facts=NO_FACTS),
    Row(
        "a11-abolished-2026-08-11",
        "A1",
        {"NO_CONSENT"},
        at=paris(2026, 8, 11, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date(), listed=True)),
    ),
    Row(
        "a11-contract-exempt",
        "A11",
        set(),
        at=paris(2026, 8, 10, 11),
        facts=Facts(
            bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date(), listed=True),
            contracts=(Contract(start=paris(2025, 1, 1)),),
        ),
        about_contract=True,
    ),
    Row(
        "a11-re-local-date-still-10-aug",
        "A11",
        {"BLOCTEL_REGISTERED"},
        to="0262123456",
        at=datetime(2026, 8, 10, 15, tzinfo=UTC),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date(), listed=True)),
    ),
    Row("a12-press-no-consent", "A12", set(), sector=Sector.PRESS, facts=NO_FACTS),
    Row(
        "a12-press-hours-still-apply",
        "A12",
        {"OUTSIDE_HOURS"},
        sector=Sector.PRESS,
        facts=NO_FACTS,
        at=paris(2026, 12, 1, 21),
    ),
    Row(
        "a12-press-skips-bloctel",
        "A12",
        set(),
        sector=Sector.PRESS,
        at=paris(2026, 8, 10, 11),
        facts=Facts(bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date(), listed=True)),
    ),
    Row("a12-press-sms-needs-consent", "F1", {"NO_CONSENT"}, sector=Sector.PRESS, facts=NO_FACTS, channel=Channel.SMS),
    # --- A7 agreed slot ---
    Row(
        "a7-inside-slot-saturday-9h",
        "A7",
        set(),
        at=paris(2026, 12, 5, 9, 10),
        facts=facts(
            consents=(
                Consent(
                    collected_at=paris(2026, 9, 1),
                    channel="all",
                    slot_start=paris(2026, 12, 5, 9),
                    slot_end=paris(2026, 12, 5, 9, 30),
                ),
            )
        ),
    ),
    Row(
        "a7-after-slot",
        "A7",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 9, 30),
        facts=facts(
            consents=(
                Consent(
                    collected_at=paris(2026, 9, 1),
                    channel="all",
                    slot_start=paris(2026, 12, 5, 9),
                    slot_end=paris(2026, 12, 5, 9, 30),
                ),
            )
        ),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    Row(
        "a7-slot-is-next-allowed",
        "A7",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 12, 4, 21),
        facts=facts(
            consents=(
                Consent(
                    collected_at=paris(2026, 9, 1),
                    channel="all",
                    slot_start=paris(2026, 12, 5, 9),
                    slot_end=paris(2026, 12, 5, 9, 30),
                ),
            )
        ),
        next_allowed=paris(2026, 12, 5, 9),
    ),
    Row(
        "a7-slot-of-withdrawn-consent",
        "A7",
        {"CONSENT_WITHDRAWN", "NON_WORKING_DAY", "OUTSIDE_HOURS"},
        at=paris(2026, 12, 5, 9, 10),
        facts=facts(
            consents=(
                Consent(
                    collected_at=paris(2026, 9, 1),
                    channel="all",
                    slot_start=paris(2026, 12, 5, 9),
                    slot_end=paris(2026, 12, 5, 9, 30),
                ),
            ),
            withdrawals=(paris(2026, 11, 1),),
        ),
    ),
    # --- B3 frequency cap, B4 refusal pause ---
    Row(
        "b3-4-attempts-blocks-5th",
        "B3",
        {"FREQUENCY_CAP"},
        facts=facts(attempts=tuple(Attempt(TUE - timedelta(days=d), "voice", "no_answer") for d in (27, 10, 5, 1))),
        next_allowed=TUE + timedelta(days=3),  # the oldest leaves the window on Fri 4 Dec 11:00
    ),
    Row(
        "b3-3-attempts-ok",
        "B3",
        set(),
        facts=facts(attempts=tuple(Attempt(TUE - timedelta(days=d), "voice", "no_answer") for d in (10, 5, 1))),
    ),
    Row(
        "b3-old-attempt-outside-30-days",
        "B3",
        set(),
        facts=facts(attempts=tuple(Attempt(TUE - timedelta(days=d), "voice", "busy") for d in (30, 10, 5, 1))),
    ),
    Row(
        "b3-sms-attempts-not-counted",
        "B3",
        set(),
        facts=facts(attempts=tuple(Attempt(TUE - timedelta(days=d), "sms", "answered") for d in (20, 10, 5, 1))),
    ),
    Row(
        "b3-b2b-no-cap",
        "B3",
        set(),
        audience=Audience.BUSINESS,
        facts=facts(attempts=tuple(Attempt(TUE - timedelta(days=d), "voice", "no_answer") for d in (20, 10, 5, 1))),
    ),
    Row(
        "b3-cap-clears-on-saturday",
        "B3",
        {"FREQUENCY_CAP"},
        facts=facts(
            attempts=tuple(
                Attempt(paris(2026, 11, 5, 11) + timedelta(days=d), "voice", "no_answer") for d in (0, 1, 2, 3)
            )
        ),
        at=paris(2026, 12, 1, 11),
        next_allowed=paris(2026, 12, 7, 10),  # the 1st attempt clears Sat 5 Dec 11:00: next window Mon
    ),
    Row(
        "b4-refused-22-days-ago",
        "B4",
        {"REFUSAL_COOLDOWN"},
        facts=facts(attempts=(Attempt(TUE - timedelta(days=22), "voice", "refused"),)),
        next_allowed=TUE + timedelta(days=38),  # Fri 8 Jan 2027 11:00
    ),
    Row(
        "b4-refused-60-days-ago",
        "B4",
        set(),
        facts=facts(attempts=(Attempt(TUE - timedelta(days=60), "voice", "refused"),)),
    ),
    Row(
        "b4-cooldown-and-cap",
        "B3",
        {"REFUSAL_COOLDOWN", "FREQUENCY_CAP"},
        facts=facts(
            attempts=(
                *(Attempt(TUE - timedelta(days=d), "voice", "no_answer") for d in (25, 10, 5)),
                Attempt(TUE - timedelta(days=1), "voice", "refused"),
            )
        ),
        next_allowed=TUE + timedelta(days=59),
    ),
    # --- G3 opposition, A13 objection ---
    Row(
        "g3-opposed",
        "G3",
        {"OPPOSITION"},
        facts=facts(oppositions=(OppositionEvent(paris(2026, 11, 1), True),)),
        next_allowed=None,
    ),
    Row(
        "g3-opposition-removed",
        "G3",
        set(),
        facts=facts(
            oppositions=(OppositionEvent(paris(2026, 11, 1), True), OppositionEvent(paris(2026, 11, 10), False))
        ),
    ),
    Row(
        "g3-b2b-opposed",
        "G3",
        {"OPPOSITION"},
        audience=Audience.BUSINESS,
        facts=Facts(oppositions=(OppositionEvent(paris(2026, 11, 1), True),)),
    ),
    Row(
        "g3-sms-opposed-stop",
        "G3",
        {"OPPOSITION"},
        channel=Channel.SMS,
        caller="ACME",
        facts=facts(oppositions=(OppositionEvent(paris(2026, 11, 1), True),)),
    ),
    Row(
        "a13-objected-in-call",
        "A13",
        {"OPPOSITION", "CONSENT_WITHDRAWN"},
        facts=facts(oppositions=(OppositionEvent(paris(2026, 11, 1), True),), withdrawals=(paris(2026, 11, 1),)),
    ),
    # --- C3 masked and assigned numbers ---
    Row("c3-masked-consumer", "C3", {"CALLER_ID_MASKED"}, caller=None, next_allowed=None),
    Row("c3-masked-business-policy", "C3", {"CALLER_ID_MASKED"}, caller=None, audience=Audience.BUSINESS),
    Row(
        "c3-masked-business-policy-off",
        "C3",
        set(),
        caller=None,
        audience=Audience.BUSINESS,
        facts=Facts(org=OrgSettings(policies_off=frozenset({"CALLER_ID_MASKED"}))),
    ),
    Row(
        "c3-masked-consumer-policy-off-is-still-law",
        "C3",
        {"CALLER_ID_MASKED"},
        caller=None,
        facts=facts(org=OrgSettings(policies_off=frozenset({"CALLER_ID_MASKED"}))),
    ),
    Row("c3-invalid-caller", "C3", {"CALLER_ID_INVALID"}, caller="0712345678"),
    Row(
        "c3-not-assigned",
        "C3",
        {"CALLER_ID_NOT_ASSIGNED"},
        caller="0163000000",
        facts=facts(org=OrgSettings(caller_numbers=frozenset({"+33162000001"}))),
    ),
    Row(
        "c3-assigned",
        "C3",
        set(),
        facts=facts(org=OrgSettings(caller_numbers=frozenset({"+33162000001"}))),
    ),
    Row(
        "c3-sms-sender-not-declared",
        "C3",
        {"CALLER_ID_NOT_ASSIGNED"},
        channel=Channel.SMS,
        caller="OTHER",
        facts=facts(org=OrgSettings(sms_senders=frozenset({"ACME"}))),
    ),
    # --- C5 ranges forbidden to consumers ---
    Row("c5-089", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="0899123456"),
    Row("c5-3bpq", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="3639"),
    Row("c5-30pq-allowed", "C5", set(), caller="3010"),
    Row("c5-31pq-allowed", "C5", set(), caller="3104"),
    Row("c5-118xyz", "C5", {"CALLER_ID_FORBIDDEN_RANGE"}, caller="118712"),
    Row("c5-b2b-089-allowed", "C5", set(), caller="0899123456", audience=Audience.BUSINESS),
    Row("c5-08-free-allowed", "C5", set(), caller="0800123456"),
    # --- E1 mobile caller IDs ---
    Row("e1-06", "E1", {"CALLER_ID_MOBILE"}, caller="0698765432"),
    Row("e1-07", "E1", {"CALLER_ID_MOBILE"}, caller="0755443322"),
    Row("e1-overseas-0690", "E1", {"CALLER_ID_MOBILE"}, caller="0690123456"),
    Row("e1-b2b", "E1", {"CALLER_ID_MOBILE"}, caller="0698765432", audience=Audience.BUSINESS),
    Row("e1-sms-numeric-sender", "E1", {"CALLER_ID_MOBILE"}, caller="0698765432", channel=Channel.SMS),
    # --- E2/E3 automated systems ---
    *[
        Row(f"e3-npv-{p}", "E3", set(), caller=p + "0" * (10 - len(p)), automated=True)
        for p in ["0162", "0163", "0270", "0271", "0377", "0378", "0424", "0425", "0568", "0569", "0948", "0949"]
    ],
    *[
        Row(f"e3-npv-overseas-{p}", "E3", set(), caller=p + "12345", automated=True)
        for p in ["09475", "09476", "09477", "09478", "09479"]
    ],
    Row("e2-08-allowed", "E2", set(), caller="0809123456", automated=True),
    Row("e2-30pq-allowed", "E2", set(), caller="3010", automated=True),
    Row("e2-089", "E2", {"CALLER_ID_NOT_NPV", "CALLER_ID_FORBIDDEN_RANGE"}, caller="0899123456", automated=True),
    Row("e2-geographic-01", "E2", {"CALLER_ID_NOT_NPV"}, caller="0142123456", automated=True),
    Row("e2-0937-not-npv", "E3", {"CALLER_ID_NOT_NPV"}, caller="0937123456", automated=True),
    Row("e2-09-not-npv", "E2", {"CALLER_ID_NOT_NPV"}, caller="0912345678", automated=True),
    Row("e2-unverified-02688", "E3", {"CALLER_ID_NOT_NPV"}, caller="0268812345", automated=True),
    Row("e2-mobile", "E2", {"CALLER_ID_NOT_NPV", "CALLER_ID_MOBILE"}, caller="0698765432", automated=True),
    Row("e2-b2b-too", "E2", {"CALLER_ID_NOT_NPV"}, caller="0142123456", automated=True, audience=Audience.BUSINESS),
    Row("e2-alphanumeric-sms-out-of-plan", "E2", set(), caller="ACME", automated=True, channel=Channel.SMS),
    # --- F1/F2 automated calls and SMS ---
    Row("f1-automated-no-consent", "F1", {"NO_CONSENT"}, automated=True, facts=NO_FACTS),
    Row("f1-sms-no-consent", "F1", {"NO_CONSENT"}, channel=Channel.SMS, caller="ACME", facts=NO_FACTS),
    Row(
        "f1-sms-consent",
        "F1",
        set(),
        channel=Channel.SMS,
        caller="ACME",
        facts=facts(consents=(Consent(collected_at=paris(2026, 9, 1), channel="sms"),)),
    ),
    Row(
        "f1-sms-before-a1-2025",
        "F1",
        {"NO_CONSENT"},
        channel=Channel.SMS,
        caller="ACME",
        at=paris(2025, 12, 2, 11),
        facts=NO_FACTS,
    ),
    Row(
        "f2-soft-opt-in-past-contract",
        "F2",
        set(),
        channel=Channel.SMS,
        caller="ACME",
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)),
    ),
    Row(
        "f2-not-about-contract",
        "F2",
        {"NO_CONSENT"},
        channel=Channel.SMS,
        caller="ACME",
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1)),)),
    ),
    Row(
        "f2-past-contract-voice-auto-still-needs-a1",
        "A4",
        {"NO_CONSENT"},
        automated=True,
        about_contract=True,
        facts=Facts(contracts=(Contract(start=paris(2024, 1, 1), end=paris(2025, 1, 1)),)),
    ),
    Row("f3-b2b-sms-no-consent", "F3", set(), channel=Channel.SMS, caller="ACME", audience=Audience.BUSINESS),
    # --- F4 SMS text ---
    Row(
        "f4-ok",
        "F4",
        set(),
        channel=Channel.SMS,
        caller="ACME",
        message="ACME: -20% ce mois-ci. STOP au 36111",
        facts=facts(org=OrgSettings(sms_senders=frozenset({"ACME"}))),
    ),
    Row(
        "f4-no-stop",
        "F4",
        {"SMS_OPT_OUT_MISSING"},
        channel=Channel.SMS,
        caller="ACME",
        message="ACME: -20% ce mois-ci",
        facts=facts(org=OrgSettings(sms_senders=frozenset({"ACME"}))),
    ),
    Row(
        "f4-stop-inside-a-word-does-not-count",
        "F4",
        {"SMS_OPT_OUT_MISSING"},
        channel=Channel.SMS,
        caller="ACME",
        message="ACME: nonstop deals",
        facts=facts(org=OrgSettings(sms_senders=frozenset({"ACME"}))),
    ),
    Row(
        "f4-no-sender",
        "F4",
        {"SMS_SENDER_MISSING"},
        channel=Channel.SMS,
        caller="0162000001",
        message="-20% ce mois-ci. STOP au 36111",
        facts=facts(org=OrgSettings(sms_senders=frozenset({"ACME"}))),
    ),
    Row(
        "f4-no-sender-declared",
        "F4",
        {"SMS_SENDER_MISSING"},
        channel=Channel.SMS,
        caller="0162000001",
        message="ACME: STOP au 36111",
    ),
    Row(
        "f4-both-missing",
        "F4",
        {"SMS_SENDER_MISSING", "SMS_OPT_OUT_MISSING"},
        channel=Channel.SMS,
        caller="0162000001",
        message="Promo!",
        audience=Audience.BUSINESS,
    ),
    # --- F6 SMS quiet hours (policy) ---
    Row(
        "f6-sms-sunday",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        channel=Channel.SMS,
        caller="ACME",
        at=paris(2026, 12, 6, 11),
        next_allowed=paris(2026, 12, 7, 8),
    ),
    Row("f6-sms-saturday-ok", "F6", set(), channel=Channel.SMS, caller="ACME", at=paris(2026, 12, 5, 11)),
    Row(
        "f6-sms-20h",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        channel=Channel.SMS,
        caller="ACME",
        at=paris(2026, 12, 5, 20),
        next_allowed=paris(2026, 12, 7, 8),
    ),
    Row(
        "f6-sms-holiday",
        "F6",
        {"POLICY_SMS_QUIET_HOURS"},
        channel=Channel.SMS,
        caller="ACME",
        at=paris(2026, 12, 25, 11),
    ),
    Row(
        "f6-policy-off",
        "F6",
        set(),
        channel=Channel.SMS,
        caller="ACME",
        at=paris(2026, 12, 6, 11),
        facts=facts(org=OrgSettings(policies_off=frozenset({"POLICY_SMS_QUIET_HOURS"}))),
    ),
    # --- N: the callee ---
    Row("n-invalid", "N", {"CALLEE_INVALID"}, to="12345", next_allowed=None),
    Row("n-invalid-junk", "N", {"CALLEE_INVALID"}, to="not a number"),
    Row("n5-m2m", "N5", {"CALLEE_NOT_PROSPECTABLE"}, to="07001234567890"),
    Row("n6-0800", "N6", {"CALLEE_NOT_PROSPECTABLE"}, to="0800123456"),
    Row("n6-089", "N6", {"CALLEE_NOT_PROSPECTABLE"}, to="0899123456"),
    Row("n15-emergency", "N15", {"CALLEE_NOT_PROSPECTABLE"}, to="112"),
    Row("n16-short", "N16", {"CALLEE_NOT_PROSPECTABLE"}, to="3010"),
    Row(
        "n6-policy-off",
        "N6",
        set(),
        to="0800123456",
        facts=facts(org=OrgSettings(policies_off=frozenset({"CALLEE_NOT_PROSPECTABLE"}))),
    ),
    Row("foreign", "N", {"CALLEE_FOREIGN"}, to="+44 20 7946 0958", audience=Audience.BUSINESS, facts=NO_FACTS),
    Row(
        "foreign-policy-off",
        "N",
        set(),
        to="+44 20 7946 0958",
        audience=Audience.BUSINESS,
        facts=Facts(org=OrgSettings(policies_off=frozenset({"CALLEE_FOREIGN"}))),
    ),
    Row(
        "section3-foreign-policy-off-paris-hours",
        "B1",
        {"NON_WORKING_DAY", "OUTSIDE_HOURS"},
        to="+49 151 12345678",
        at=paris(2026, 12, 6, 3),
        facts=facts(org=OrgSettings(policies_off=frozenset({"CALLEE_FOREIGN"}))),
        next_allowed=paris(2026, 12, 7, 10),
    ),
    Row(
        "section3-short-policy-off-paris-hours",
        "B1",
        {"OUTSIDE_HOURS"},
        to="3010",
        at=paris(2026, 12, 1, 21),
        facts=facts(org=OrgSettings(policies_off=frozenset({"CALLEE_NOT_PROSPECTABLE"}))),
    ),
    Row(
        "f6-b2b-sms-sunday",
        "F6",
        set(),
        channel=Channel.SMS,
        caller="ACME",
        audience=Audience.BUSINESS,
        at=paris(2026, 12, 6, 11),
    ),
    Row(
        "a7-slot-under-the-law-of-its-day",
        "A7",
        {"OUTSIDE_HOURS"},
        at=paris(2026, 8, 10, 20, 30),
        facts=Facts(
            consents=(
                Consent(
                    collected_at=paris(2026, 8, 1),
                    channel="all",
                    slot_start=paris(2026, 8, 11, 9),
                    slot_end=paris(2026, 8, 11, 9, 30),
                ),
            ),
            bloctel=BloctelFacts(as_of=paris(2026, 8, 1).date()),
        ),
        next_allowed=paris(2026, 8, 11, 9),
    ),
    # --- several reasons at once: every one is reported ---
    Row(
        "many-reasons",
        "B1",
        {"CALLER_ID_MASKED", "NO_CONSENT", "SECTOR_BANNED", "NON_WORKING_DAY", "OUTSIDE_HOURS"},
        caller=None,
        facts=NO_FACTS,
        sector=Sector.ENERGY_RENOVATION,
        at=paris(2026, 12, 6, 22),
        next_allowed=None,
    ),
]

PRODUCED_ELSEWHERE = {"STORE_UNAVAILABLE", "DUPLICATE_IN_FILE", "ROW_MALFORMED"}


def test_table_is_large_and_covers_every_code() -> None:
    assert len(ROWS) >= 100
    assert len({r.id for r in ROWS}) == len(ROWS), "row ids must be unique"
    covered = set().union(*(r.codes for r in ROWS))
    assert covered == set(CODES) - PRODUCED_ELSEWHERE


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.rule}:{r.id}" for r in ROWS])
def test_scenario(row: Row) -> None:
    decision = decide(row.request(), row.facts)
    assert set(decision.codes) == row.codes, [r.message for r in decision.reasons]
    assert decision.allowed == (not row.codes)
    assert len(decision.codes) == len(set(decision.codes)), "a code is reported once"
    for reason in decision.reasons:
        assert reason.reference and reason.message and reason.rule
        assert reason.kind == CODES[reason.code][0] or reason.code == "CALLER_ID_MASKED"
    if row.next_allowed != "any":
        assert decision.next_allowed_at == row.next_allowed
    if decision.next_allowed_at is not None:
        assert decision.next_allowed_at.utcoffset() is not None
        assert decide(dataclasses.replace(row.request(), at=decision.next_allowed_at), row.facts).allowed
