"""What the HTTP API accepts and returns (Pydantic v2): the CLI's fields as JSON keys.

Requests forbid unknown keys and check every value at the door with the same functions as the CLI
(`prospectguard.inputs`), so a bad value gets a 422 naming the field and saying what is accepted.
Booleans are strict (`"yes"` is not true), enums are their documented strings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from prospectguard import inputs
from prospectguard.rules.catalogue import SWITCHABLE

MAX_BATCH = 10_000

Instant = Annotated[
    str,
    Field(
        # Years 1970-2199, as `inputs.instant` accepts; in the schema only, so that errors come from
        # our validators, which say what is accepted.
        json_schema_extra={"format": "date-time", "pattern": r"^(19[7-9][0-9]|2[01][0-9][0-9])-"},
        max_length=64,
        description="ISO 8601 instant; without an offset it is Paris time.",
        examples=["2026-12-01T11:00:00+01:00"],
    ),
]
# What `prospectguard.numbering.valid_postcode` and `valid_territory` accept, as patterns (a test
# holds them to those functions), so that the OpenAPI schema says exactly what these fields take.
POSTCODE = r"^((0[1-9]|[1-8][0-9]|9[0-5])[0-9]{3}|97[1-6][0-9]{2})$"
TERRITORY = r"^(FR-metro|GP|MF|BL|GF|MQ|RE|YT|PM|97[1-8]|2[AB]|0[1-9]|1[0-9]|2[1-9]|[3-8][0-9]|9[0-5])$"
Phone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="A phone number in any usual writing.",
        examples=["06 12 34 56 78", "+33612345678"],
    ),
]
ChannelName = Literal["voice", "sms"]
AudienceName = Literal["consumer", "business"]
SectorName = Literal["general", "energy_renovation", "housing_adaptation", "cpf_training", "press", "insurance"]
OutcomeName = Literal["answered", "no_answer", "busy", "voicemail", "failed", "refused", "opposed"]


def _instant(value: str, info: ValidationInfo) -> str:
    inputs.instant(value, info.field_name or "at")  # the handlers parse it again, with the request's clock
    return value


def _storable(value: str, info: ValidationInfo) -> str:
    return inputs.e164(value, info.field_name or "number")


CheckedInstant = Annotated[Instant, AfterValidator(_instant)]
# A number evidence can be stored under: valid, given back in E.164.
Number = Annotated[Phone, AfterValidator(_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_max_length=10_000)


class CheckRequest(Strict):
    """One contact to judge: the fields of `prospectguard check`."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"to": "06 12 34 56 78", "from": "+33162000001", "at": "2026-12-01T11:00:00+01:00"},
                {"to": "0612345678", "from": "0162000001", "reserve": True, "idempotency_key": "a84b4c76e66710"},
            ]
        },
    )

    to: Phone
    from_: Annotated[
        str | None,
        Field(
            alias="from",
            max_length=64,
            description="Number (or SMS sender name) presented; absent or null means a masked number.",
        ),
    ] = None
    at: CheckedInstant | None = Field(default=None, description="When the contact would be made; default now.")
    channel: ChannelName = "voice"
    automated: StrictBool = False
    audience: AudienceName = "consumer"
    sector: SectorName = "general"
    about_contract: StrictBool = Field(False, description="The offer relates to the customer's contract (A4, F2).")
    message: Annotated[str | None, Field(max_length=2000, description="SMS text, checked for STOP and sender.")] = None
    postcode: Annotated[
        str | None, Field(json_schema_extra={"pattern": POSTCODE}, description="Consumer's postcode (time zone).")
    ] = None
    territory: Annotated[
        str | None,
        Field(json_schema_extra={"pattern": TERRITORY}, description="Consumer's territory (RE, GP...) or département."),
    ] = None
    reserve: StrictBool = Field(
        False, description="When allowed, record the attempt in the same step, so that it counts toward the cap."
    )
    idempotency_key: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="E.g. the SIP Call-ID: a retry with the same key gets the first answer, counted once.",
        ),
    ] = None

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        return inputs.phone_text(value, "to")

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return None if value is None else inputs.postcode(value, "postcode")

    @field_validator("territory")
    @classmethod
    def _territory(cls, value: str | None) -> str | None:
        return None if value is None else inputs.territory(value, "territory")

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty; give a number or an SMS sender name, or leave it out for a masked number")
        return value


class BatchRequest(Strict):
    contacts: Annotated[list[CheckRequest], Field(min_length=1, max_length=MAX_BATCH)]


class ReasonOut(BaseModel):
    code: str = Field(examples=["OUTSIDE_HOURS"])
    kind: Literal["law", "policy"]
    rule: str = Field(examples=["B1"])
    reference: str
    message: str


class CalleeOut(BaseModel):
    e164: str | None
    type: str
    territory: str | None
    timezone: str | None


class DecisionOut(BaseModel):
    """The decision, as `prospectguard check --json` prints it; `attempt_id` when a check reserved one."""

    decision: Literal["allow", "block"]
    reasons: list[ReasonOut]
    next_allowed_at: str | None
    callee: CalleeOut
    at: str
    law_date: str
    attempt_id: int | None = None
    replayed: bool | None = None


class BatchOut(BaseModel):
    decisions: list[DecisionOut]


class AttemptRequest(Strict):
    """The outcome of a contact. With `attempt_id` (from a reserving check), the outcome of that
    attempt; otherwise a new attempt."""

    to: Number | None = None
    at: CheckedInstant | None = None
    channel: ChannelName = "voice"
    outcome: OutcomeName
    attempt_id: Annotated[int | None, Field(ge=1, le=2**62)] = None
    idempotency_key: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class AttemptOut(BaseModel):
    attempt_id: int
    outcome: str


class ConsentRequest(Strict):
    number: Number
    collected_at: CheckedInstant
    channel: Literal["voice", "sms", "all"] = "all"
    expires_at: CheckedInstant | None = None
    method: Annotated[str, Field(min_length=1, max_length=500)]
    proof_text: Annotated[str | None, Field(min_length=1, max_length=10_000)] = None
    proof_sha256: Annotated[
        str | None,
        Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of a proof file kept elsewhere (instead of its text)."),
    ] = None
    proof_file_name: Annotated[str | None, Field(min_length=1, max_length=500)] = None
    slot_start: CheckedInstant | None = None
    slot_end: CheckedInstant | None = None


class WithdrawRequest(Strict):
    number: Number
    at: CheckedInstant | None = None
    source: Annotated[str, Field(min_length=1, max_length=100)] = "api"


class OppositionRequest(Strict):
    number: Number
    at: CheckedInstant | None = None
    source: Literal["call_objection", "stop", "gdpr", "import", "manual"] = "manual"


class OppositionImport(Strict):
    numbers: Annotated[list[Number], Field(min_length=1, max_length=100_000)]
    at: CheckedInstant | None = None
    source: Literal["call_objection", "stop", "gdpr", "import", "manual"] = "import"


class ContractRequest(Strict):
    number: Number
    object: Annotated[str, Field(min_length=1, max_length=500)]
    start: CheckedInstant
    end: CheckedInstant | None = None


class OrgSettingsRequest(Strict):
    """Fields left out stay as they are."""

    caller_numbers: Annotated[list[Phone] | None, Field(max_length=1000)] = None
    sms_senders: Annotated[list[Annotated[str, Field(min_length=1, max_length=11)]] | None, Field(max_length=1000)] = (
        None
    )
    policies: dict[str, StrictBool] | None = Field(
        default=None, description="Policy reason code -> whether it applies (false switches it off)."
    )

    @field_validator("policies")
    @classmethod
    def _policies(cls, values: dict[str, bool] | None) -> dict[str, bool] | None:
        for name in values or {}:
            if name not in SWITCHABLE:
                raise ValueError(f"{name!r} is not a switchable policy; one of {', '.join(sorted(SWITCHABLE))}")
        return values

    @field_validator("sms_senders")
    @classmethod
    def _senders(cls, values: list[str] | None) -> list[str] | None:
        for x in values or []:
            if not x.strip() or not all(c.isalnum() or c in " .-" for c in x):
                raise ValueError(f"{x!r}: 1 to 11 letters, digits, spaces, dots or dashes")
        return None if values is None else [x.strip() for x in values]

    @field_validator("caller_numbers")
    @classmethod
    def _callers(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        return [inputs.caller_number(v, f"caller_numbers[{i}]") for i, v in enumerate(values)]


class OrgSettingsOut(BaseModel):
    name: str
    caller_numbers: list[str]
    sms_senders: list[str]
    policies_off: list[str]


class Created(BaseModel):
    id: int


class Count(BaseModel):
    count: int


class ErrorOut(BaseModel):
    detail: Any
