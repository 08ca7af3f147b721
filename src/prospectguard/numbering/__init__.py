"""French numbering plan (reference section 4, N1-N16): parse a number, then locate the consumer.

Why our own table rather than `phonenumbers`: with region FR it makes overseas numbers invalid or, worse,
valid +33 numbers in Europe/Paris, it rejects 0700 M2M numbers and has no NPV type (reference section 4,
"Known traps"). It is also ~30 µs a number, too slow for the gate's hot path. So French numbers are
resolved here from `plan_fr.csv` (NPV ranges from the law data, rule E3) and `territories.csv`;
`phonenumbers` only handles foreign country codes and serves as the test oracle.

Hot path (~2 µs, >10x faster than phonenumbers' parse + is_valid_number + number_type): strip the
separators with one translate, a few branches, then a single dict look-up of the first 5 digits in a
table built once at import that already holds the longest-prefix match. No per-row loop, no regex.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from importlib import resources

import phonenumbers
from phonenumbers import timezone as pn_timezone

from prospectguard.law import LAW
from prospectguard.model import Location, NumberType, PhoneNumber

__all__ = [
    "METRO",
    "PlanRow",
    "locate",
    "parse",
    "plan_rows",
    "rule_of",
    "ten_digit_rows",
    "valid_postcode",
    "valid_territory",
]

_METRO = "FR-metro"
# Section 3: Alsace-Moselle from the geographic prefix, mapped to the `holidays` subdivision.
_ALSACE_MOSELLE_PREFIXES = {"0387": "57", "0388": "6AE", "0389": "6AE"}
_ALSACE_MOSELLE_DEPARTMENTS = {"57": "57", "67": "6AE", "68": "6AE"}
# N14: Saint-Pierre-et-Miquelon's E.164 form does not repeat its national prefix (0508 41 23 45 is
# +508 41 23 45), unlike every other territory (0590 12 34 56 is +590 590 12 34 56).
_NATIONAL_PREFIX_NOT_IN_E164 = {"PM": "0508"}
# Section 3: postcode -> territory for the overseas départements and collectivités.
_OVERSEAS_POSTCODES = {"971": "GP", "972": "MQ", "973": "GF", "974": "RE", "975": "PM", "976": "YT"}
_OVERSEAS_POSTCODE_EXCEPTIONS = {"97133": "BL", "97150": "MF"}
# Section 3: these have no place; only a postcode can locate their consumer.
_UNLOCATABLE = frozenset({NumberType.FOREIGN, NumberType.INVALID, NumberType.SHORT, NumberType.EMERGENCY})
_SHORT_TYPES = frozenset({NumberType.SHORT, NumberType.EMERGENCY})

# Separators people put in numbers: spaces, dots, dashes, slashes, parentheses. ASCII input (nearly all
# of it) is cleaned with bytes.translate, ~4x faster than str.translate; other spaces and dashes (NBSP,
# narrow NBSP, en dash...) are first mapped to a plain space with str.translate.
_ASCII_SEPARATORS = b" \t\r\n\x0b\x0c.-/()[]"
_UNICODE_SEPARATORS = str.maketrans(
    dict.fromkeys("\u00a0\u2007\u2009\u202f\u200b\u2010\u2011\u2012\u2013\u2014\u2212\ufeff", " ")
)


class PlanError(ValueError):
    """A numbering data file is malformed: the package is broken, never a user error."""


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One row of the plan, resolved: what a number with this prefix and length is."""

    prefix: str
    length: int
    type: NumberType
    territory: str | None
    rule: str
    note: str
    timezone: str | None
    country_code: str | None  # None for short numbers (no E.164 form)
    e164_head: str  # "+590" ...; the E.164 form is e164_head + national[drop:]
    drop: int
    alsace_moselle: bool = False


@dataclass(frozen=True, slots=True)
class _Territory:
    code: str
    country_code: str
    timezone: str
    holiday_subdivisions: tuple[str, ...]


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("prospectguard.numbering").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _load_territories() -> dict[str, _Territory]:
    out: dict[str, _Territory] = {}
    for rec in _read_csv("territories.csv"):
        code = rec["territory"]
        subdivs = tuple(s for s in rec["holiday_subdivisions"].split(";") if s)
        out[code] = _Territory(code, rec["country_code"], rec["timezone"], subdivs)
    if _METRO not in out:
        raise PlanError("territories.csv: FR-metro missing")
    return out


def _make_row(prefix: str, length: int, type_: NumberType, territory: str | None, rule: str, note: str) -> PlanRow:
    if not prefix.isdigit() or length < len(prefix):
        raise PlanError(f"plan_fr.csv: bad prefix/length {prefix!r}/{length}")
    if type_ in _SHORT_TYPES:
        if territory is not None or prefix.startswith("0"):
            raise PlanError(f"plan_fr.csv: short number {prefix} has a territory or a leading 0")
        return PlanRow(prefix, length, type_, None, rule, note, None, None, "", 0)
    if territory is None or not prefix.startswith("0"):
        raise PlanError(f"plan_fr.csv: national prefix {prefix} needs a leading 0 and a territory")
    terr = _TERRITORIES.get(territory)
    if terr is None:
        raise PlanError(f"plan_fr.csv: {prefix}: unknown territory {territory!r}")
    national_prefix = _NATIONAL_PREFIX_NOT_IN_E164.get(territory, "0")
    if not prefix.startswith(national_prefix) and not national_prefix.startswith(prefix):
        raise PlanError(f"plan_fr.csv: {prefix}: {territory} numbers start with {national_prefix}")
    return PlanRow(
        prefix,
        length,
        type_,
        territory,
        rule,
        note,
        terr.timezone,
        terr.country_code,
        "+" + terr.country_code,
        len(national_prefix),
    )


def _load_plan() -> list[PlanRow]:
    rows: list[PlanRow] = []
    for rec in _read_csv("plan_fr.csv"):
        try:
            type_ = NumberType(rec["type"])
            length = int(rec["length"])
        except ValueError as exc:
            raise PlanError(f"plan_fr.csv: {rec}: {exc}") from exc
        if type_ in (NumberType.FOREIGN, NumberType.INVALID, NumberType.NPV):
            raise PlanError(f"plan_fr.csv: {rec['prefix']}: type {type_} does not belong in the plan")
        rows.append(_make_row(rec["prefix"], length, type_, rec["territory"] or None, rec["rule"], rec["note"] or ""))
    # N8 / E3: the NPV ranges live in the law data, once; the latest value is the current plan.
    for prefix in LAW.rules["E3"].parameters["ranges"].values[-1]:
        rows.append(_make_row(str(prefix), 10, NumberType.NPV, _METRO, "N8", "NPV (E3)"))
    return rows


_TERRITORIES = _load_territories()
_ROWS = _load_plan()
# prefix -> {total length -> row}. Longest prefix wins, then the length must match.
_INDEX: dict[str, dict[int, PlanRow]] = {}
for _row in _ROWS:
    _by_length = _INDEX.setdefault(_row.prefix, {})
    if _row.length in _by_length:
        raise PlanError(f"plan_fr.csv: prefix {_row.prefix} length {_row.length} defined twice")
    _by_length[_row.length] = _row


def _lookup(digits: str) -> PlanRow | None:
    """The row of the longest prefix of `digits` in the plan, if its length matches."""
    for k in _PREFIX_LENGTHS:
        by_length = _INDEX.get(digits[:k])
        if by_length is not None:
            return by_length.get(len(digits))
    return None


_PREFIX_LENGTHS = tuple(sorted({len(p) for p in _INDEX}, reverse=True))
# Alsace-Moselle prefixes: copies of the rows they resolve to, flagged, so the hot path stays one look-up.
for _prefix in _ALSACE_MOSELLE_PREFIXES:
    _base = _lookup(_prefix + "0" * 6)
    if _base is None or _base.type is not NumberType.FIXED or len(_prefix) <= len(_base.prefix):
        raise PlanError(f"Alsace-Moselle prefix {_prefix} is not a longer prefix of a fixed range")
    _INDEX[_prefix] = {_base.length: replace(_base, prefix=_prefix, alsace_moselle=True)}
_PREFIX_LENGTHS = tuple(sorted({len(p) for p in _INDEX}, reverse=True))

# The hot path: every national prefix of _KEY digits ("0" + 4 digits, 10,000 keys) mapped once to its
# longest-prefix match, so a national number costs a single dict look-up.
_KEY = max(len(p) for p in _INDEX if p.startswith("0"))
_NATIONAL: dict[str, dict[int, PlanRow]] = {}
for _i in range(10 ** (_KEY - 1)):
    _key = "0" + str(_i).zfill(_KEY - 1)
    for _k in _PREFIX_LENGTHS:
        if _k <= _KEY and _key[:_k] in _INDEX:
            _NATIONAL[_key] = _INDEX[_key[:_k]]
            break

# Country code -> what replaces it to get the national form ("0", or "0508" for PM).
_TRUNK: dict[str, str] = {}
for _terr in _TERRITORIES.values():
    _trunk = _NATIONAL_PREFIX_NOT_IN_E164.get(_terr.code, "0")
    if _TRUNK.setdefault(_terr.country_code, _trunk) != _trunk:
        raise PlanError(f"territories.csv: country code {_terr.country_code} has two national forms")


def ten_digit_rows() -> tuple[int, dict[str, PlanRow]]:
    """For columnar parsers: the key length and, per national key of that many digits, the row of a
    10-digit national number starting with it (what `parse` itself looks up)."""
    return _KEY, {key: rows[10] for key, rows in _NATIONAL.items() if 10 in rows}


def plan_rows() -> tuple[PlanRow, ...]:
    """Every row of the plan (CSV rows, then the NPV ranges of E3), for documentation and tests."""
    return tuple(_ROWS)


def _invalid(raw: str) -> PhoneNumber:
    return PhoneNumber(raw, None, NumberType.INVALID, None, None, None, False)


def _national(raw: str, national: str, country_code: str | None = None) -> PhoneNumber:
    """`national` resolved; with `country_code`, its prefix must belong to it (+33 590... is not one)."""
    by_length = _NATIONAL.get(national[:_KEY])
    row = None if by_length is None else by_length.get(len(national))
    if row is None or (country_code is not None and row.country_code != country_code):
        return _invalid(raw)
    return PhoneNumber(
        raw,
        row.e164_head + national[row.drop :],
        row.type,
        row.territory,
        row.timezone,
        national,
        row.alsace_moselle,
    )


def _international(raw: str, digits: str, zone: bool = True) -> PhoneNumber:
    if not digits.isdigit():
        return _invalid(raw)
    cc = digits[:2]
    if cc != "33":
        cc = digits[:3]
        if cc not in _TRUNK:
            return _foreign(raw, digits, zone)
    nsn = digits[len(cc) :]
    trunk = _TRUNK[cc]
    # "+33 (0)6 12 ...": the trunk 0 written after the country code. Not for PM, whose 6 digits
    # follow "0508" in the national form and may themselves start with 0.
    if nsn[:1] == "0" and trunk == "0":
        nsn = nsn[1:]
    return _national(raw, trunk + nsn, cc)


def _foreign(raw: str, digits: str, zone: bool = True) -> PhoneNumber:
    try:
        num = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return _invalid(raw)
    if not phonenumbers.is_valid_number(num):
        return _invalid(raw)
    found = None
    if zone:
        zones = pn_timezone.time_zones_for_number(num)
        found = zones[0] if zones and zones[0] != pn_timezone.UNKNOWN_TIMEZONE else None
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(raw, e164, NumberType.FOREIGN, None, found, None, False)


def _short(raw: str, digits: str) -> PhoneNumber:
    row = _lookup(digits)
    if row is None or row.type not in _SHORT_TYPES:
        return _invalid(raw)
    return PhoneNumber(raw, None, row.type, None, None, digits, False)


def _parse(raw: str, s: str, zone: bool = True) -> PhoneNumber:
    """Everything but the plain national form; `s` is `raw` without separators, ASCII."""
    if not s:
        return _invalid(raw)
    if s[0] == "+":
        return _international(raw, s[1:], zone)
    if not s.isdigit():
        return _invalid(raw)
    if s[:2] == "00":  # 0033..., 00262...: international access prefix
        return _international(raw, s[2:], zone)
    n = len(s)
    if n <= 6:
        return _short(raw, s)
    if n == 11 and s[:2] == "33":  # 33612345678: E.164 without the plus
        return _international(raw, s)
    if n == 9:  # 612345678: a spreadsheet ate the leading 0 (phonenumbers with region FR agrees)
        return _national(raw, "0" + s)
    return _invalid(raw)


def parse(raw: str, *, foreign_zone: bool = True) -> PhoneNumber:
    """Parse any common writing of a French number (or a foreign one). Never raises: junk is INVALID.

    French numbers (metro and overseas, national or E.164 form) resolve from our table; other country
    codes go through `phonenumbers`. Short and emergency numbers have no E.164 form; their digits are
    in `national`. `foreign_zone=False` leaves a foreign number's time zone out (None): phonenumbers'
    zone lookup is a third of such a parse, and no rule reads it (a foreign number has no location,
    see `locate`); it is only shown. A batch whose foreign rows are all blocked never shows it.
    """
    try:
        raw_ascii = raw
        if not raw_ascii.isascii():
            # NBSP and narrow NBSP (French typography) first: str.replace is much cheaper than translate.
            raw_ascii = raw_ascii.replace("\u00a0", " ").replace("\u202f", " ")
            if not raw_ascii.isascii():
                raw_ascii = raw_ascii.translate(_UNICODE_SEPARATORS)
                if not raw_ascii.isascii():
                    return _invalid(raw)
        s = raw_ascii.encode().translate(None, _ASCII_SEPARATORS).decode()
        if s[:1] == "0" and s[1:2] != "0" and s.isdigit():  # the common case: national form
            return _national(raw, s)
        return _parse(raw, s, foreign_zone)
    except Exception:  # the gate must answer for any input; a bug here must not take it down
        return _invalid(raw if isinstance(raw, str) else repr(raw))


def rule_of(number: PhoneNumber) -> str | None:
    """The N rule of a French number ("N4"...), for reason messages; None for foreign/invalid."""
    if number.national is None or not number.valid:
        return None
    row = _lookup(number.national)
    return row.rule if row is not None else None


def _location(territory: str, source: str, subdivisions: tuple[str, ...], alsace: bool = False) -> Location:
    return Location(territory, _TERRITORIES[territory].timezone, alsace, subdivisions, source)


# Locations are immutable and few: build them all once.
_BY_NUMBER = {code: _location(code, "number", t.holiday_subdivisions) for code, t in _TERRITORIES.items()}
# Section 3: "any number without a territory is taken as metropolitan France (Europe/Paris)".
METRO = _BY_NUMBER[_METRO]
_BY_NUMBER_ALSACE = {p: _location(_METRO, "number", (sub,), alsace=True) for p, sub in _ALSACE_MOSELLE_PREFIXES.items()}
# From a postcode the territory is exact: only its own calendar (the first subdivision listed).
_BY_POSTCODE = {code: _location(code, "postcode", t.holiday_subdivisions[:1]) for code, t in _TERRITORIES.items()}
_BY_POSTCODE_ALSACE = {
    dep: _location(_METRO, "postcode", (sub,), alsace=True) for dep, sub in _ALSACE_MOSELLE_DEPARTMENTS.items()
}


def _postcode_location(code: str) -> Location | None:
    if not isinstance(code, str):
        return None
    c = code.strip()
    if len(c) != 5 or not (c.isdigit() and c.isascii()):
        return None
    dep = c[:2]
    if dep == "97":
        territory = _OVERSEAS_POSTCODE_EXCEPTIONS.get(c) or _OVERSEAS_POSTCODES.get(c[:3])
        return None if territory is None else _BY_POSTCODE[territory]
    if not "01" <= dep <= "95":  # 20xxx is Corsica (2A/2B); 00, 96, 98 (Monaco, Pacific), 99 are not ours
        return None
    return _BY_POSTCODE_ALSACE.get(dep) or _BY_POSTCODE[_METRO]


def valid_postcode(code: str) -> bool:
    """True for a French postcode we can place (metro 01-95 incl. Corsica 20xxx, 971-976). Never raises."""
    return _postcode_location(code) is not None


# Département codes of the territories (971-976 as in postcodes; 977 and 978 are the INSEE codes of
# Saint-Barthélemy and Saint-Martin, which share 971's postcodes).
_OVERSEAS_DEPARTMENTS = {**_OVERSEAS_POSTCODES, "977": "BL", "978": "MF"}


def _area_location(code: str) -> Location | None:
    if not isinstance(code, str):
        return None
    c = code.strip().upper()
    if c in _TERRITORIES:
        return _BY_AREA[c]
    if c == "FR-METRO":
        return _BY_AREA[_METRO]
    if c in _OVERSEAS_DEPARTMENTS:
        return _BY_AREA[_OVERSEAS_DEPARTMENTS[c]]
    if c in ("2A", "2B"):
        return _BY_AREA[_METRO]
    if len(c) != 2 or not (c.isdigit() and c.isascii()) or not "01" <= c <= "95" or c == "20":
        return None
    return _BY_AREA_ALSACE.get(c) or _BY_AREA[_METRO]


_BY_AREA = {code: _location(code, "territory", t.holiday_subdivisions[:1]) for code, t in _TERRITORIES.items()}
_BY_AREA_ALSACE = {
    dep: _location(_METRO, "territory", (sub,), alsace=True) for dep, sub in _ALSACE_MOSELLE_DEPARTMENTS.items()
}


def valid_territory(code: str) -> bool:
    """True for a code `locate` understands: a territory (FR-metro, GP, MF, BL, GF, MQ, RE, YT, PM) or a
    French département (01-95, 2A, 2B, 971-978). Never raises."""
    return _area_location(code) is not None


def locate(number: PhoneNumber, postcode: str | None = None, territory: str | None = None) -> Location | None:
    """The consumer's location for the time rules (section 3): a postcode, else a territory or
    département code given with the contact, else the number.

    An invalid postcode or code is ignored (the doors reject it with `valid_postcode` and
    `valid_territory`). A number without a territory of its own (metro mobile, 09, NPV, 08, M2M) is
    metropolitan; foreign, invalid, short and emergency numbers have no location.
    """
    if postcode is not None:
        found = _postcode_location(postcode)
        if found is not None:
            return found
    if territory is not None:
        found = _area_location(territory)
        if found is not None:
            return found
    if number.type in _UNLOCATABLE:
        return None
    if number.alsace_moselle and number.national is not None:
        alsace = _BY_NUMBER_ALSACE.get(number.national[:4])
        if alsace is not None:
            return alsace
    return _BY_NUMBER.get(number.territory or _METRO, _BY_NUMBER[_METRO])
