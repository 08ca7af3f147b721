"""The French numbering plan (reference section 4, N1-N16), the writings we accept, and locate()."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prospectguard.law import LAW
from prospectguard.model import Location, NumberType, PhoneNumber
from prospectguard.numbering import locate, parse, plan_rows, rule_of, valid_postcode, valid_territory

T = NumberType
METRO = "FR-metro"
PARIS = "Europe/Paris"

# raw, type, territory, e164, rule: one or more examples per N row, written from the reference.
PLAN_CASES = [
    ("01 42 68 53 00", T.FIXED, METRO, "+33142685300", "N1"),
    ("02 40 12 34 56", T.FIXED, METRO, "+33240123456", "N2"),
    ("02 64 12 34 56", T.FIXED, METRO, "+33264123456", "N2"),
    ("02 68 81 23 45", T.FIXED, METRO, "+33268812345", "N2"),
    ("03 20 12 34 56", T.FIXED, METRO, "+33320123456", "N3"),
    ("04 91 12 34 56", T.FIXED, METRO, "+33491123456", "N3"),
    ("04 01 12 34 56", T.FIXED, METRO, "+33401123456", "N3"),
    ("05 56 12 34 56", T.FIXED, METRO, "+33556123456", "N3"),
    ("05 91 12 34 56", T.FIXED, METRO, "+33591123456", "N3"),
    ("05 98 71 23 45", T.FIXED, METRO, "+33598712345", "N3"),
    ("06 12 34 56 78", T.MOBILE, METRO, "+33612345678", "N4"),
    ("06 95 12 34 56", T.MOBILE, METRO, "+33695123456", "N4"),
    ("06 98 12 34 56", T.MOBILE, METRO, "+33698123456", "N4"),
    *[(f"07 {d}0 12 34 56", T.MOBILE, METRO, f"+337{d}0123456", "N4") for d in "3456789"],
    ("0700 12 34 56 78 90", T.M2M, METRO, "+337001234567890", "N5"),
    ("08 00 12 34 56", T.SPECIAL_FREE, METRO, "+33800123456", "N6"),
    ("08 05 12 34 56", T.SPECIAL_FREE, METRO, "+33805123456", "N6"),
    ("08 06 12 34 56", T.SPECIAL_STANDARD, METRO, "+33806123456", "N6"),
    ("08 09 12 34 56", T.SPECIAL_STANDARD, METRO, "+33809123456", "N6"),
    ("08 10 12 34 56", T.SPECIAL_PREMIUM, METRO, "+33810123456", "N6"),
    ("08 25 12 34 56", T.SPECIAL_PREMIUM, METRO, "+33825123456", "N6"),
    ("08 99 12 34 56", T.SPECIAL_PREMIUM, METRO, "+33899123456", "N6"),
    ("09 51 12 34 56", T.POLYVALENT, METRO, "+33951123456", "N7"),
    ("09 37 12 34 56", T.POLYVALENT, METRO, "+33937123456", "N7"),
    ("09 38 12 34 56", T.POLYVALENT, METRO, "+33938123456", "N7"),
    ("09 39 12 34 56", T.POLYVALENT, METRO, "+33939123456", "N7"),
    ("09 47 41 23 45", T.POLYVALENT, METRO, "+33947412345", "N7"),
    ("02 62 12 34 56", T.FIXED, "RE", "+262262123456", "N9"),
    ("02 63 12 34 56", T.FIXED, "RE", "+262263123456", "N9"),
    ("06 92 12 34 56", T.MOBILE, "RE", "+262692123456", "N9"),
    ("06 93 12 34 56", T.MOBILE, "RE", "+262693123456", "N9"),
    ("02 69 12 34 56", T.FIXED, "YT", "+262269123456", "N10"),
    ("06 39 12 34 56", T.MOBILE, "YT", "+262639123456", "N10"),
    ("05 90 12 34 56", T.FIXED, "GP", "+590590123456", "N11"),
    ("06 90 12 34 56", T.MOBILE, "GP", "+590690123456", "N11"),
    ("06 91 12 34 56", T.MOBILE, "GP", "+590691123456", "N11"),
    ("05 94 12 34 56", T.FIXED, "GF", "+594594123456", "N12"),
    ("06 94 12 34 56", T.MOBILE, "GF", "+594694123456", "N12"),
    ("05 96 12 34 56", T.FIXED, "MQ", "+596596123456", "N13"),
    ("06 96 12 34 56", T.MOBILE, "MQ", "+596696123456", "N13"),
    ("06 97 12 34 56", T.MOBILE, "MQ", "+596697123456", "N13"),
    ("05 08 41 23 45", T.FIXED, "PM", "+508412345", "N14"),
]
ZONES = {
    METRO: PARIS,
    "RE": "Indian/Reunion",
    "YT": "Indian/Mayotte",
    "GP": "America/Guadeloupe",
    "GF": "America/Cayenne",
    "MQ": "America/Martinique",
    "PM": "America/Miquelon",
}
# N8 as the reference's E3 lists it (the code reads it from the law data).
NPV_REFERENCE = [
    "0162",
    "0163",
    "0270",
    "0271",
    "0377",
    "0378",
    "0424",
    "0425",
    "0568",
    "0569",
    "0948",
    "0949",
    "09475",
    "09476",
    "09477",
    "09478",
    "09479",
]
SHORT_CASES = [
    *[(d, T.EMERGENCY, "N15") for d in ("15", "17", "18", "112", "114", "115", "119", "116000", "116123")],
    ("1012", T.SHORT, "N16"),
    ("1099", T.SHORT, "N16"),
    ("118712", T.SHORT, "N16"),
    ("3010", T.SHORT, "N16"),
    ("3179", T.SHORT, "N16"),
    ("3949", T.SHORT, "N16"),
    ("36123", T.SHORT, "N16"),
    ("81234", T.SHORT, "N16"),
]
INVALID = [
    "",
    "   ",
    "junk",
    "+",
    "00",
    "0",
    "+33",
    "0033 (0)",
    "06 12 34 56 7",  # 9 digits with the 0
    "06 12 34 56 78 9",
    "0612345678x",
    "++33612345678",
    "06 12 34 56 78 ext 12",
    "07 00 12 34 56",  # 070 with 10 digits
    "0700 12 34 56",
    "07 01 12 34 56",
    "07 10 12 34 56",
    "07 20 12 34 56",
    *[f"08 {d}0 12 34 56" for d in "345678"],  # 083x-088x are not in the reference
    "02688 12345 6",
    "1",
    "10",
    "11",
    "1161",
    "1180",
    "123",
    "91234",  # 5-digit codes start with 3-8
    "1234567",
    "+33 590 12 34 56",  # 0590 is not +33
    "+33 262 12 34 56",
    "+33 508 41 23 45",
    "+262 590 12 34 56",  # +262 is RE/YT only
    "+590 692 12 34 56",
    "+596 590 12 34 56",
    "+594 596 12 34 56",
    "+262 612 34 56 78",
    "+590 612 34 56 78",
    "+508 508 41 23 45",
    "+508 41 23 4",
    "+590 7090 01 23 45",  # overseas 07090-07093 mobiles: not in the reference
    "+44 12",
    "+999 123456789",
    "33590123456",
    "06١2345678",  # an Arabic-Indic digit
]


def _same(a: PhoneNumber, b: PhoneNumber) -> bool:
    return a._replace(raw="") == b._replace(raw="")


def _cc_nsn(national: str, territory: str | None) -> tuple[str, str]:
    """Country code and significant number: overseas codes repeat the prefix, except PM (N14)."""
    cc = {"RE": "262", "YT": "262", "GP": "590", "GF": "594", "MQ": "596", "PM": "508"}.get(territory or "", "33")
    return cc, national[4:] if cc == "508" else national[1:]


def _e164_of(national: str, territory: str | None) -> str:
    cc, nsn = _cc_nsn(national, territory)
    return f"+{cc}{nsn}"


@pytest.mark.parametrize(("raw", "type_", "territory", "e164", "rule"), PLAN_CASES)
def test_plan_row(raw: str, type_: NumberType, territory: str, e164: str, rule: str) -> None:
    number = parse(raw)
    national = raw.replace(" ", "")
    assert number == PhoneNumber(raw, e164, type_, territory, ZONES[territory], national, False)
    assert rule_of(number) == rule
    assert _same(parse(e164), number)  # the E.164 form gives the same number


@pytest.mark.parametrize("prefix", NPV_REFERENCE)
def test_npv_ranges(prefix: str) -> None:
    national = prefix + "1" * (10 - len(prefix))
    number = parse(national)
    assert (number.type, number.territory, number.timezone) == (T.NPV, METRO, PARIS)
    assert number.e164 == "+33" + national[1:]
    assert rule_of(number) == "N8"


def test_npv_table_comes_from_the_law() -> None:
    law = LAW.rules["E3"].parameters["ranges"].values[-1]
    assert sorted(law) == sorted(NPV_REFERENCE)
    assert sorted(r.prefix for r in plan_rows() if r.type is T.NPV) == sorted(law)


def test_every_n_rule_is_in_the_plan() -> None:
    assert {r.rule for r in plan_rows()} == {f"N{i}" for i in range(1, 17)}


@pytest.mark.parametrize(("raw", "type_", "rule"), SHORT_CASES)
def test_short_and_emergency(raw: str, type_: NumberType, rule: str) -> None:
    number = parse(raw)
    assert number == PhoneNumber(raw, None, type_, None, None, raw, False)
    assert rule_of(number) == rule
    assert locate(number) is None


@pytest.mark.parametrize("raw", INVALID)
def test_invalid(raw: str) -> None:
    number = parse(raw)
    assert number == PhoneNumber(raw, None, T.INVALID, None, None, None, False)
    assert not number.valid
    assert rule_of(number) is None
    assert locate(number) is None


@pytest.mark.parametrize("raw", [None, 612345678, b"0612345678", ["06"]])
def test_parse_never_raises_even_on_wrong_types(raw: object) -> None:
    assert parse(raw).type is T.INVALID  # type: ignore[arg-type]


MOBILE = parse("0612345678")


@pytest.mark.parametrize(
    "raw",
    [
        "0612345678",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "06/12/34/56/78",
        "(06) 12 34 56 78",
        "06\u00a012\u00a034\u00a056\u00a078",
        "06\u202f12\u202f34\u202f56\u202f78",
        "06\t12 34 56 78",
        " 06 12 34 56 78 ",
        "06 – 12 – 34 – 56 – 78",
        "+33612345678",
        "+33 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "+33(0)612345678",
        "(+33) 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "0033612345678",
        "0033 6 12 34 56 78",
        "0033 (0)6 12 34 56 78",
        "33612345678",
        "612345678",  # leading 0 eaten by a spreadsheet
    ],
)
def test_accepted_writings(raw: str) -> None:
    assert _same(parse(raw), MOBILE)
    assert parse(raw).raw == raw


OVERSEAS = [
    ("0590 12 34 56", ["+590 590 12 34 56", "00590590123456", "+590 (0)590 12 34 56", "590123456"]),
    ("0690 12 34 56", ["+590 690 12 34 56", "00590 690 12 34 56"]),
    ("0262 12 34 56", ["+262 262 12 34 56", "00262262123456"]),
    ("0692 12 34 56", ["+262 692 12 34 56", "00262 692 12 34 56", "+262 (0)692 12 34 56"]),
    ("0269 61 23 45", ["+262 269 61 23 45", "00262269612345"]),
    ("0639 01 23 45", ["+262 639 01 23 45"]),
    ("0594 12 34 56", ["+594 594 12 34 56"]),
    ("0694 12 34 56", ["+594 694 12 34 56"]),
    ("0596 12 34 56", ["+596 596 12 34 56"]),
    ("0697 12 34 56", ["+596 697 12 34 56"]),
    ("0508 41 23 45", ["+508 41 23 45", "00508412345", "+508412345"]),
]


@pytest.mark.parametrize(("national", "others"), OVERSEAS)
def test_overseas_both_ways(national: str, others: list[str]) -> None:
    base = parse(national)
    assert base.territory not in (None, METRO)
    assert base.national == national.replace(" ", "")
    assert base.e164 == _e164_of(base.national, base.territory)
    for other in others:
        assert _same(parse(other), base), other


def test_mayotte_is_262_not_269() -> None:
    assert parse("+262 269 61 23 45").territory == "YT"
    comoros = parse("+269 773 12 34")  # +269 is the Comoros
    assert (comoros.type, comoros.territory, comoros.e164) == (T.FOREIGN, None, "+2697731234")


@pytest.mark.parametrize(
    ("raw", "e164", "zone"),
    [
        ("+44 20 7946 0958", "+442079460958", "Europe/London"),
        ("0044 20 7946 0958", "+442079460958", "Europe/London"),
        ("+1 201-555-0123", "+12015550123", "America/New_York"),
        ("+49 30 123456", "+4930123456", "Europe/Berlin"),
    ],
)
def test_foreign(raw: str, e164: str, zone: str) -> None:
    assert parse(raw) == PhoneNumber(raw, e164, T.FOREIGN, None, zone, None, False)
    assert locate(parse(raw)) is None


@pytest.mark.parametrize(
    ("raw", "subdivision"), [("03 87 12 34 56", "57"), ("03 88 12 34 56", "6AE"), ("03 89 12 34 56", "6AE")]
)
def test_alsace_moselle_from_number(raw: str, subdivision: str) -> None:
    number = parse(raw)
    assert number.alsace_moselle and number.type is T.FIXED and rule_of(number) == "N3"
    assert parse("+33" + raw.replace(" ", "")[1:]).alsace_moselle
    assert locate(number) == Location(METRO, PARIS, True, (subdivision,), "number")


@pytest.mark.parametrize("raw", ["03 86 12 34 56", "03 77 12 34 56", "03 78 12 34 56", "06 12 34 56 78"])
def test_not_alsace_moselle(raw: str) -> None:
    number = parse(raw)
    assert not number.alsace_moselle
    assert locate(number) == Location(METRO, PARIS, False, (), "number")


@pytest.mark.parametrize(
    ("raw", "territory", "subdivisions"),
    [
        ("0590 12 34 56", "GP", ("971", "MF", "BL")),
        ("0691 12 34 56", "GP", ("971", "MF", "BL")),
        ("0262 12 34 56", "RE", ("974",)),
        ("0692 12 34 56", "RE", ("974",)),
        ("0269 61 23 45", "YT", ("976",)),
        ("0639 01 23 45", "YT", ("976",)),
        ("0594 12 34 56", "GF", ("973",)),
        ("0596 12 34 56", "MQ", ("972",)),
        ("0508 41 23 45", "PM", ("PM",)),
        ("0612345678", METRO, ()),
        ("0951123456", METRO, ()),
        ("0947512345", METRO, ()),  # NPV, metropolitan (section 3: 09 numbers)
        ("0162123456", METRO, ()),
        ("0800123456", METRO, ()),
        ("07001234567890", METRO, ()),
    ],
)
def test_locate_from_number(raw: str, territory: str, subdivisions: tuple[str, ...]) -> None:
    zone = {**ZONES}[territory]
    assert locate(parse(raw)) == Location(territory, zone, False, subdivisions, "number")


POSTCODES = [
    ("75001", METRO, PARIS, False, ()),
    ("01000", METRO, PARIS, False, ()),
    ("95000", METRO, PARIS, False, ()),
    ("20000", METRO, PARIS, False, ()),  # Corse-du-Sud (2A)
    ("20200", METRO, PARIS, False, ()),  # Haute-Corse (2B)
    ("57000", METRO, PARIS, True, ("57",)),
    ("67000", METRO, PARIS, True, ("6AE",)),
    ("68100", METRO, PARIS, True, ("6AE",)),
    ("97110", "GP", "America/Guadeloupe", False, ("971",)),
    ("97133", "BL", "America/St_Barthelemy", False, ("BL",)),
    ("97150", "MF", "America/Marigot", False, ("MF",)),
    ("97200", "MQ", "America/Martinique", False, ("972",)),
    ("97300", "GF", "America/Cayenne", False, ("973",)),
    ("97400", "RE", "Indian/Reunion", False, ("974",)),
    ("97500", "PM", "America/Miquelon", False, ("PM",)),
    ("97600", "YT", "Indian/Mayotte", False, ("976",)),
]


@pytest.mark.parametrize(("postcode", "territory", "zone", "alsace", "subdivisions"), POSTCODES)
@pytest.mark.parametrize("raw", ["0612345678", "0590123456", "+44 20 7946 0958", "junk", "3010", "15"])
def test_locate_postcode_first(
    raw: str, postcode: str, territory: str, zone: str, alsace: bool, subdivisions: tuple[str, ...]
) -> None:
    assert valid_postcode(postcode)
    assert locate(parse(raw), postcode) == Location(territory, zone, alsace, subdivisions, "postcode")


@pytest.mark.parametrize(
    "postcode",
    ["", "7500", "750011", "00100", "96000", "97000", "97700", "97800", "98000", "99000", "ABCDE", "2A004"],
)
def test_invalid_postcode(postcode: str) -> None:
    assert not valid_postcode(postcode)
    # An invalid postcode is ignored: the number decides.
    assert locate(parse("0262123456"), postcode) == locate(parse("0262123456"))
    assert locate(parse("junk"), postcode) is None


def test_valid_postcode_never_raises() -> None:
    assert not valid_postcode(None)  # type: ignore[arg-type]
    assert not valid_postcode(75001)  # type: ignore[arg-type]
    assert valid_postcode(" 75001 ")


def test_every_zone_exists() -> None:
    for row in plan_rows():
        if row.timezone is not None:
            ZoneInfo(row.timezone)
    for _, _, zone, _, _ in POSTCODES:
        ZoneInfo(zone)


# --- properties -----------------------------------------------------------------------------------

_NATIONAL_ROWS = [r for r in plan_rows() if r.country_code is not None]
_SEPARATORS = ["", " ", ".", "-", "/", "\u00a0", "\u202f", " - "]


@st.composite
def french_numbers(draw: st.DrawFn) -> str:
    """A valid French national number, from any row of the plan (longest prefix wins)."""
    row = draw(st.sampled_from(_NATIONAL_ROWS))
    rest = draw(st.text("0123456789", min_size=row.length - len(row.prefix), max_size=row.length - len(row.prefix)))
    return row.prefix + rest


def _grouped(digits: str, seps: list[str]) -> str:
    groups = [digits[i : i + 2] for i in range(0, len(digits), 2)]
    return "".join(g + seps[i % len(seps)] for i, g in enumerate(groups[:-1])) + groups[-1]


@settings(max_examples=400)
@given(french_numbers(), st.lists(st.sampled_from(_SEPARATORS), min_size=1, max_size=7), st.data())
def test_writing_never_changes_the_number(national: str, seps: list[str], data: st.DataObject) -> None:
    base = parse(national)
    assert base.valid and base.e164 == _e164_of(national, base.territory)
    cc, nsn = _cc_nsn(national, base.territory)
    forms = [
        _grouped(national, seps),
        "+" + cc + " " + _grouped(nsn, seps),
        "+" + cc + " (0)" + _grouped(nsn, seps) if base.territory != "PM" else "+" + cc + nsn,
        "00" + cc + " " + _grouped(nsn, seps),
    ]
    if cc == "33" and len(national) == 10:
        forms.append("33" + nsn)
    if len(national) == 10:
        forms.append(national[1:])
    form = data.draw(st.sampled_from(forms))
    assert _same(parse(form), base), form


@settings(max_examples=400)
@given(french_numbers())
def test_e164_and_national_are_the_same_number(national: str) -> None:
    number = parse(national)
    assert number.e164 is not None and number.national == national
    assert _same(parse(number.e164), number)
    assert parse(number.e164).e164 == number.e164
    assert locate(number) is not None


@given(st.text())
def test_parse_never_raises(raw: str) -> None:
    number = parse(raw)
    assert number.raw == raw
    if number.type in (T.INVALID, T.SHORT, T.EMERGENCY):
        assert number.e164 is None
    else:
        assert number.e164 is not None and number.e164.startswith("+")


@given(st.text(alphabet="0123456789 +()-./", max_size=20))
def test_parse_never_raises_on_number_like_text(raw: str) -> None:
    number = parse(raw)
    assert number.valid == (number.type is not T.INVALID)
    if number.national is not None:
        assert number.national.isdigit()


@given(
    st.one_of(st.text(alphabet="0123456789 +()-./", max_size=20), st.from_regex(r"\+[1-9][0-9]{6,13}", fullmatch=True))
)
def test_parse_without_foreign_zone_differs_only_by_that_zone(raw: str) -> None:
    """The batch's cheaper parse (`foreign_zone=False`): the same number, a foreign one without its zone."""
    number = parse(raw)
    expected = number._replace(timezone=None) if number.type is T.FOREIGN else number
    assert parse(raw, foreign_zone=False) == expected


@pytest.mark.parametrize(
    ("code", "territory", "zone", "alsace"),
    [
        ("RE", "RE", "Indian/Reunion", False),
        ("re", "RE", "Indian/Reunion", False),
        ("974", "RE", "Indian/Reunion", False),
        ("976", "YT", "Indian/Mayotte", False),
        ("977", "BL", "America/St_Barthelemy", False),
        ("978", "MF", "America/Marigot", False),
        ("975", "PM", "America/Miquelon", False),
        ("FR-metro", "FR-metro", "Europe/Paris", False),
        ("75", "FR-metro", "Europe/Paris", False),
        ("2A", "FR-metro", "Europe/Paris", False),
        ("57", "FR-metro", "Europe/Paris", True),
        ("68", "FR-metro", "Europe/Paris", True),
    ],
)
def test_locate_from_a_territory_or_departement_code(code: str, territory: str, zone: str, alsace: bool) -> None:
    """Section 3: a territory or département given with the contact beats the number's own territory."""
    where = locate(parse("0612345678"), territory=code)
    assert where is not None and valid_territory(code)
    assert (where.territory, where.timezone, where.alsace_moselle, where.source) == (
        territory,
        zone,
        alsace,
        "territory",
    )


@pytest.mark.parametrize("code", ["", "99", "20", "00", "96", "979", "FR", "Réunion", "6AE"])
def test_unknown_territory_codes_are_ignored(code: str) -> None:
    assert not valid_territory(code)
    where = locate(parse("0692123456"), territory=code)
    assert where is not None and (where.territory, where.source) == ("RE", "number")


def test_postcode_comes_before_the_territory_code() -> None:
    where = locate(parse("0612345678"), postcode="97410", territory="GP")
    assert where is not None and (where.territory, where.source) == ("RE", "postcode")
