"""Parsing what users type (CLI now, API and batch later) into checked values, with errors that name
the field and say what is accepted. No door lets a traceback reach a user."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from prospectguard.model import NumberType, PhoneNumber
from prospectguard.numbering import parse, valid_postcode, valid_territory

PARIS = ZoneInfo("Europe/Paris")
# Instants far outside the law data only overflow date arithmetic (next opening, 365-day terms).
MIN_YEAR, MAX_YEAR = 1970, 2199


class InputError(ValueError):
    """Bad input: `field` names the option or column, the message says what is accepted."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def instant(value: str, field: str) -> datetime:
    """ISO 8601 date-time; without an offset it is Paris time; a bare date is midnight Paris."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InputError(
            field,
            f"{value!r} is not a date-time; use ISO 8601, e.g. 2026-09-01T11:00 or 2026-09-01T11:00+02:00",
        ) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InputError(field, f"{value!r} is out of range; use a date between {MIN_YEAR} and {MAX_YEAR}")
    return parsed.replace(tzinfo=PARIS) if parsed.tzinfo is None else parsed


def day(value: str, field: str) -> date:
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(field, f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-09-01") from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InputError(field, f"{value!r} is out of range; use a date between {MIN_YEAR} and {MAX_YEAR}")
    return parsed


def number(value: str, field: str) -> PhoneNumber:
    """A number that can be stored: valid and with an E.164 form (short numbers have none)."""
    parsed = parse(value)
    if parsed.type is NumberType.INVALID or parsed.e164 is None:
        raise InputError(
            field,
            f"{value!r} is not a valid phone number; use a French number (06 12 34 56 78, +33 6 12 34 56 78, "
            "0590 12 34 56) or an international one with its + prefix",
        )
    return parsed


_PHONE_CHARS = frozenset("0123456789+ .-/()\u00a0\t")


def phone_text(value: str, field: str) -> str:
    """Text that is written like a phone number (digits and the usual separators).

    Such text that is still not a valid number is for the rules to judge (CALLEE_INVALID,
    CALLER_ID_INVALID); anything else is an input error.
    """
    if not value.strip() or not any(c.isdigit() for c in value) or not set(value) <= _PHONE_CHARS:
        raise InputError(
            field,
            f"{value!r} is not written like a phone number; use digits with optional +, spaces, dots or dashes, "
            "e.g. 06 12 34 56 78 or +33 6 12 34 56 78",
        )
    return value


def e164(value: str, field: str) -> str:
    """The E.164 form of a number that can be stored."""
    parsed = number(value, field).e164
    assert parsed is not None  # number() guarantees it
    return parsed


def caller_number(value: str, field: str) -> str:
    """A number an organisation presents: its E.164 form, or the digits of a short number (30PQ)."""
    parsed = parse(value)
    if parsed.type is NumberType.SHORT and parsed.national:
        return parsed.national
    return e164(value, field)


def postcode(value: str, field: str) -> str:
    code = value.strip()
    if not valid_postcode(code):
        raise InputError(field, f"{value!r} is not a French postcode; use 5 digits, e.g. 75011 or 97410")
    return code


def territory(value: str, field: str) -> str:
    code = value.strip()
    if not valid_territory(code):
        raise InputError(
            field,
            f"{value!r} is not a territory or département code; use FR-metro, GP, MF, BL, GF, MQ, RE, YT, PM "
            "or a département such as 75, 2A, 57 or 974",
        )
    return code
