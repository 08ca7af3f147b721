"""`holidays` as the oracle for the no-call days of H1-H3, every French subdivision, 2023-2040.

Our days are rebuilt here from the law data alone (`LAW.at(day).value("H1", ...)`, H2, H3) and
`dateutil.easter`; the package is maintained independently. Every difference between the two must be
one of the justified exceptions below, and every exception must still occur, so the list stays honest.
H4 then makes the union of both a no-call day: the engine is checked on every day of that union in a
sample of years, through each way of reaching the territory (number and postcode), and on the day
after each one when that day is in neither source.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from dateutil.easter import easter

from prospectguard.law import LAW
from prospectguard.model import Consent, ContactRequest, Facts
from prospectguard.rules import decide

YEARS = range(2023, 2041)


# key -> (`holidays` subdivision or None, our territory for H2, Alsace-Moselle)
SUBDIVISIONS: dict[str, tuple[str | None, str, bool]] = {
    "metro": (None, "FR-metro", False),
    "57": ("57", "FR-metro", True),
    "6AE": ("6AE", "FR-metro", True),
    "971": ("971", "GP", False),
    "972": ("972", "MQ", False),
    "973": ("973", "GF", False),
    "974": ("974", "RE", False),
    "976": ("976", "YT", False),
    "MF": ("MF", "MF", False),
    "BL": ("BL", "BL", False),
    "PM": ("PM", "PM", False),
}

# (subdivision key, side that has the day, label) -> why the difference is justified. The label is
# "MM-DD" for a fixed day or "easter-N" / "easter+N" for a day relative to Easter Sunday.
EXCEPTIONS: dict[tuple[str, str, str], str] = {
    ("971", "package", "easter-2"): "Good Friday: a Guadeloupe local day the reference's H1-H3 omit; blocked via H4",
    ("971", "package", "easter-24"): "Mi-Carême: a Guadeloupe local day the reference omits; blocked via H4",
    ("971", "package", "07-21"): "Victor Schoelcher day: not in the reference's H2; blocked via H4",
    ("972", "package", "07-21"): "Victor Schoelcher day: not in the reference's H2; blocked via H4",
    ("MF", "package", "07-21"): "Victor Schoelcher day: not in the reference's H2; blocked via H4",
    ("MF", "package", "05-28"): "the package puts Saint-Martin's abolition day on 28 May; both days are blocked",
    ("MF", "reference", "05-27"): "the reference (L3422-2) puts Saint-Martin's day on 27 May; both are blocked",
}


def labels(day: date) -> set[str]:
    return {day.strftime("%m-%d"), f"easter{(day - easter(day.year)).days:+d}"}


@cache
def reference_days(key: str, year: int) -> frozenset[date]:
    """H1 + H2 (the territory's day) + H3 (Alsace-Moselle), from the law data in force that year."""
    _, territory, alsace = SUBDIVISIONS[key]
    days: set[date] = set()
    sunday = easter(year)
    for day in (date(year, 1, 1), date(year, 7, 1), date(year, 12, 31)):  # any change within the year
        law = LAW.at(day)

        def md(text: str) -> date:
            month, dom = text.split("-")
            return date(year, int(month), int(dom))

        days |= {md(d) for d in law.value("H1", "fixed")}
        days |= {sunday + timedelta(days=o) for o in law.value("H1", "easter_offsets")}
        h2 = law.value("H2", "days")
        if territory in h2:
            days.add(md(h2[territory]))
        if alsace:
            days |= {md(d) for d in law.value("H3", "fixed")}
            days |= {sunday + timedelta(days=o) for o in law.value("H3", "easter_offsets")}
    return frozenset(days)


@cache
def package_days(key: str, year: int) -> frozenset[date]:
    subdiv, _, _ = SUBDIVISIONS[key]
    return frozenset(holidays.country_holidays("FR", subdiv=subdiv, years=year))


def differences() -> Counter[tuple[str, str, str]]:
    """Every (subdivision, side, label) where one source names a day the other does not."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for key in SUBDIVISIONS:
        for year in YEARS:
            ours, theirs = reference_days(key, year), package_days(key, year)
            for side, extra in (("package", theirs - ours), ("reference", ours - theirs)):
                for day in extra:
                    matched = [(key, side, label) for label in labels(day) if (key, side, label) in EXCEPTIONS]
                    seen[matched[0] if matched else (key, side, f"{day.isoformat()} unexplained")] += 1
    return seen


def test_law_data_holds_the_reference_days() -> None:
    """H1-H3 as the reference lists them; PM has no H2 day."""
    law = LAW.at(date(2027, 1, 1))
    assert sorted(law.value("H1", "fixed")) == ["01-01", "05-01", "05-08", "07-14", "08-15", "11-01", "11-11", "12-25"]
    assert sorted(law.value("H1", "easter_offsets")) == [1, 39, 50]
    assert law.value("H2", "days") == {
        "YT": "04-27",
        "MQ": "05-22",
        "GP": "05-27",
        "MF": "05-27",
        "GF": "06-10",
        "BL": "10-09",
        "RE": "12-20",
    }
    assert "PM" not in law.value("H2", "days")
    assert law.value("H3", "fixed") == ["12-26"] and law.value("H3", "easter_offsets") == [-2]


def test_reference_and_package_differ_only_where_justified() -> None:
    seen = differences()
    unexplained = {k: n for k, n in seen.items() if k not in EXCEPTIONS}
    assert not unexplained, f"differences no exception explains: {unexplained}"
    never = set(EXCEPTIONS) - set(seen)
    assert not never, f"exceptions that never occur (remove them): {sorted(never)}"


def test_pm_and_the_other_territories_match_exactly() -> None:
    """Saint-Pierre-et-Miquelon has no H2 day and the package none either; same for the rest below."""
    for key in ("metro", "57", "6AE", "973", "974", "976", "BL", "PM"):
        for year in YEARS:
            assert reference_days(key, year) == package_days(key, year), (key, year)


def test_each_exception_is_systematic() -> None:
    """Each justified difference shows up in most years (it can vanish only when it hits an H1 day)."""
    seen = differences()
    for key in EXCEPTIONS:
        assert seen[key] >= len(YEARS) - 3, (key, seen[key])


# ---------------------------------------------------------------------------------------------- engine
# How the engine reaches each subdivision: (door id, number, postcode, zone, the subdivisions whose
# calendars apply). 0590/0690/0691 numbers take the union of GP, MF and BL.
DOORS: dict[str, list[tuple[str, str, str | None, str, tuple[str, ...]]]] = {
    "metro": [("0142", "0142123456", None, "Europe/Paris", ("metro",))],
    "57": [
        ("0387", "0387123456", None, "Europe/Paris", ("57",)),
        ("postcode-57", "0612345678", "57000", "Europe/Paris", ("57",)),
    ],
    "6AE": [
        ("0388", "0388123456", None, "Europe/Paris", ("6AE",)),
        ("0389", "0389123456", None, "Europe/Paris", ("6AE",)),
        ("postcode-67", "0612345678", "67000", "Europe/Paris", ("6AE",)),
        ("postcode-68", "0612345678", "68100", "Europe/Paris", ("6AE",)),
    ],
    "971": [
        ("0590", "0590123456", None, "America/Guadeloupe", ("971", "MF", "BL")),
        ("0691", "0691123456", None, "America/Guadeloupe", ("971", "MF", "BL")),
        ("postcode-971", "0690123456", "97110", "America/Guadeloupe", ("971",)),
    ],
    "972": [("0596", "0596123456", None, "America/Martinique", ("972",))],
    "973": [("0594", "0594123456", None, "America/Cayenne", ("973",))],
    "974": [("0262", "0262123456", None, "Indian/Reunion", ("974",))],
    "976": [("0269", "0269123456", None, "Indian/Mayotte", ("976",))],
    "MF": [("postcode-97150", "0690123456", "97150", "America/Marigot", ("MF",))],
    "BL": [("postcode-97133", "0590123456", "97133", "America/St_Barthelemy", ("BL",))],
    "PM": [
        ("0508", "0508412345", None, "America/Miquelon", ("PM",)),
        ("postcode-975", "0612345678", "97500", "America/Miquelon", ("PM",)),
    ],
}
ENGINE_YEARS = (2027, 2030, 2034, 2040)
DOOR_PARAMS = [(key, *door) for key, doors in DOORS.items() for door in doors]


def union(subdivisions: tuple[str, ...], year: int) -> frozenset[date]:
    days: set[date] = set()
    for key in subdivisions:
        days |= reference_days(key, year) | package_days(key, year)
    return frozenset(days)


def test_doors_cover_every_subdivision() -> None:
    assert set(DOORS) == set(SUBDIVISIONS)


@pytest.mark.parametrize(
    ("key", "door", "to", "postcode", "zone", "subdivisions"), DOOR_PARAMS, ids=[f"{p[0]}-{p[1]}" for p in DOOR_PARAMS]
)
def test_engine_blocks_the_union_of_both(
    key: str, door: str, to: str, postcode: str | None, zone: str, subdivisions: tuple[str, ...]
) -> None:
    tz = ZoneInfo(zone)
    checked = 0
    for year in ENGINE_YEARS:
        facts = Facts(consents=(Consent(collected_at=datetime(year - 1, 12, 1, tzinfo=tz), channel="all"),))
        days = union(subdivisions, year)
        for day in sorted(days):
            at = datetime.combine(day, time(11), tzinfo=tz)
            d = decide(ContactRequest(to=to, at=at, caller="0162000001", postcode=postcode), facts)
            assert "PUBLIC_HOLIDAY" in d.codes, (door, day.isoformat(), d.codes)
            after = day + timedelta(days=1)
            if after not in days and after.year == year:
                at = datetime.combine(after, time(11), tzinfo=tz)
                d = decide(ContactRequest(to=to, at=at, caller="0162000001", postcode=postcode), facts)
                assert "PUBLIC_HOLIDAY" not in d.codes, (door, after.isoformat(), d.codes)
            checked += 1
    assert checked >= 11 * len(ENGINE_YEARS)
