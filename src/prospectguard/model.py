"""The request, the facts and the decision: the types every door and every rule share.

Plain frozen dataclasses with slots, not Pydantic models: a decision is built tens of thousands of
times a second on the hot path, and validation happens once at the doors (CLI, API, batch reader).
All instants are timezone-aware; the store keeps them in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"


class Audience(StrEnum):
    CONSUMER = "consumer"
    BUSINESS = "business"


class Sector(StrEnum):
    GENERAL = "general"
    ENERGY_RENOVATION = "energy_renovation"
    HOUSING_ADAPTATION = "housing_adaptation"
    CPF_TRAINING = "cpf_training"
    PRESS = "press"
    INSURANCE = "insurance"


class Outcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    REFUSED = "refused"
    OPPOSED = "opposed"


class NumberType(StrEnum):
    FIXED = "fixed"
    MOBILE = "mobile"
    M2M = "m2m"
    NPV = "npv"
    POLYVALENT = "polyvalent"
    SPECIAL_FREE = "special_free"
    SPECIAL_STANDARD = "special_standard"
    SPECIAL_PREMIUM = "special_premium"
    SHORT = "short"
    EMERGENCY = "emergency"
    FOREIGN = "foreign"
    INVALID = "invalid"


class Kind(StrEnum):
    LAW = "law"
    POLICY = "policy"


class PhoneNumber(NamedTuple):
    """A parsed number. `national` is the French national form ("0612345678") or None when foreign.

    A NamedTuple rather than a frozen dataclass: just as immutable, and built several times faster,
    which matters when a batch parses millions of numbers.
    """

    raw: str
    e164: str | None
    type: NumberType
    territory: str | None  # FR-metro, GP, MF, BL, GF, MQ, RE, YT, PM; None for foreign/invalid
    timezone: str | None  # IANA zone
    national: str | None = None
    alsace_moselle: bool = False

    @property
    def valid(self) -> bool:
        return self.type is not NumberType.INVALID


@dataclass(frozen=True, slots=True)
class Location:
    """Where the consumer is, for the time rules (reference section 3)."""

    territory: str  # FR-metro, GP, MF, BL, GF, MQ, RE, YT, PM
    timezone: str
    alsace_moselle: bool = False
    # The holiday calendars to union: N11 numbers cannot tell GP, MF and BL apart, so all three apply.
    holiday_subdivisions: tuple[str, ...] = ()
    source: str = "number"  # "postcode", "territory" (a territory or département code) or "number"


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One question: may `org` contact `to` by `channel` at `at`?"""

    to: str
    at: datetime
    channel: Channel = Channel.VOICE
    caller: str | None = None  # None means a masked / withheld number (voice)
    automated: bool = False
    audience: Audience = Audience.CONSUMER
    sector: Sector = Sector.GENERAL
    about_contract: bool = False
    message: str | None = None
    postcode: str | None = None
    territory: str | None = None  # a territory (RE, GP...) or département (974, 57, 2A...) code

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "at": self.at.isoformat(),
            "channel": self.channel.value,
            "from": self.caller,
            "automated": self.automated,
            "audience": self.audience.value,
            "sector": self.sector.value,
            "about_contract": self.about_contract,
            "message": self.message,
            "postcode": self.postcode,
            "territory": self.territory,
        }


@dataclass(frozen=True, slots=True)
class Consent:
    collected_at: datetime
    channel: str  # voice, sms or all
    expires_at: datetime | None = None
    has_proof: bool = True
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    id: int | None = None

    def covers(self, channel: Channel) -> bool:
        return self.channel == "all" or self.channel == channel  # Channel is a StrEnum


@dataclass(frozen=True, slots=True)
class Contract:
    start: datetime
    end: datetime | None = None
    id: int | None = None

    def in_progress(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def started(self, at: datetime) -> bool:
        return self.start <= at


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    channel: str
    outcome: str


@dataclass(frozen=True, slots=True)
class OppositionEvent:
    at: datetime
    active: bool  # True: opposition added; False: removed


@dataclass(frozen=True, slots=True)
class BloctelFacts:
    """The latest Bloctel snapshot dated on or before the contact, and whether the number is in it."""

    as_of: date | None
    listed: bool = False


@dataclass(frozen=True, slots=True)
class OrgSettings:
    name: str = "default"
    caller_numbers: frozenset[str] = frozenset()  # E.164
    sms_senders: frozenset[str] = frozenset()
    policies_off: frozenset[str] = frozenset()  # reason codes of policies switched off


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the store knows about (organisation, number) that the rules may need.

    Histories are complete (not pre-filtered to the contact instant) so the engine can also evaluate
    later instants when it looks for `next_allowed_at`.
    """

    org: OrgSettings = field(default_factory=OrgSettings)
    consents: tuple[Consent, ...] = ()
    withdrawals: tuple[datetime, ...] = ()
    oppositions: tuple[OppositionEvent, ...] = ()
    contracts: tuple[Contract, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    bloctel: BloctelFacts | None = None

    def to_json(self) -> dict[str, Any]:
        def ts(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "org": {
                "name": self.org.name,
                "caller_numbers": sorted(self.org.caller_numbers),
                "sms_senders": sorted(self.org.sms_senders),
                "policies_off": sorted(self.org.policies_off),
            },
            "consents": [
                {
                    "id": c.id,
                    "collected_at": ts(c.collected_at),
                    "channel": c.channel,
                    "expires_at": ts(c.expires_at),
                    "has_proof": c.has_proof,
                    "slot_start": ts(c.slot_start),
                    "slot_end": ts(c.slot_end),
                }
                for c in self.consents
            ],
            "withdrawals": [ts(w) for w in self.withdrawals],
            "oppositions": [{"at": ts(o.at), "active": o.active} for o in self.oppositions],
            "contracts": [{"id": c.id, "start": ts(c.start), "end": ts(c.end)} for c in self.contracts],
            "attempts": [{"at": ts(a.at), "channel": a.channel, "outcome": a.outcome} for a in self.attempts],
            "bloctel": None
            if self.bloctel is None
            else {
                "as_of": self.bloctel.as_of.isoformat() if self.bloctel.as_of else None,
                "listed": self.bloctel.listed,
            },
        }


class Reason(NamedTuple):
    """One rule that blocks. A NamedTuple: immutable and cheap to build on the hot path."""

    code: str
    kind: Kind
    rule: str
    reference: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "kind": self.kind.value,
            "rule": self.rule,
            "reference": self.reference,
            "message": self.message,
        }


class Decision(NamedTuple):
    """The answer to a ContactRequest; `decision` is "allow" or "block"."""

    allowed: bool
    reasons: tuple[Reason, ...]
    next_allowed_at: datetime | None
    callee: PhoneNumber
    at: datetime
    law_date: date

    @property
    def decision(self) -> str:
        return "allow" if self.allowed else "block"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [r.to_json() for r in self.reasons],
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
            "callee": {
                "e164": self.callee.e164,
                "type": self.callee.type.value,
                "territory": self.callee.territory,
                "timezone": self.callee.timezone,
            },
            "at": self.at.isoformat(),
            "law_date": self.law_date.isoformat(),
        }
