"""`holidays` as the oracle for the no-call days of H1-H3, every French subdivision, 2023-2040.

Our days come from the law data (H1-H3); the package is maintained independently. Every difference
must be one of the explained exceptions below, and each exception must still occur, so the list
stays honest. Whatever the package adds is blocked too (H4's conservative product decision), and
the engine's union is checked on a sample.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from dateutil.easter import easter

from prospectguard.law import LAW
from prospectguard.model import Consent, ContactRequest, Facts
from prospectguard.rules import decide

YEARS = range(2023, 2041)
# key: (holidays subdivision or None, our territory for H2, Alsace-Moselle)
SUBDIVISIONS = {
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
# (subdivision, "package" or "reference", the day's name or MM-DD) -> why it differs.
EXCEPTIONS = {
    ("971", "package", "Good Friday"): "a Guadeloupe local holiday outside the reference's H1-H3; blocked (H4)",
    ("971", "package", "Mi-Careme"): "a Guadeloupe local holiday outside the reference's H1-H3; blocked (H4)",
    ("971", "package", "Victor Schoelcher Day"): "21 July, not in the reference's H2; blocked (H4)",
    ("972", "package", "Victor Schoelcher Day"): "21 July, not in the reference's H2; blocked (H4)",
    ("MF", "package", "Victor Schoelcher Day"): "21 July, not in the reference's H2; blocked (H4)",
    ("MF", "package", "Abolition of Slavery"): "the package puts Saint-Martin's day on 28 May; both are blocked",
    ("MF", "reference", "05-27"): "the reference puts Saint-Martin's day on 27 May; both are blocked",
}


def reference_days(year: int, territory: str, alsace_moselle: bool) -> set[date]:
    law = LAW.at(date(year, 6, 1))

    def md(text: str) -> date:
        return date(year, int(text[:2]), int(text[3:]))

    sunday = easter(year)
    days = {md(d) for d in law.value("H1", "fixed")} | {
        sunday + timedelta(days=o) for o in law.value("H1", "easter_offsets")
    }
    h2 = law.value("H2", "days")
    if territory in h2:
        days.add(md(h2[territory]))
    if alsace_moselle:
        days |= {md(d) for d in law.value("H3", "fixed")}
        days |= {sunday + timedelta(days=o) for o in law.value("H3", "easter_offsets")}
    return days


def test_reference_and_package_differ_only_where_explained() -> None:
    seen: Counter[tuple[str, str, str]] = Counter()
    for key, (subdiv, territory, alsace) in SUBDIVISIONS.items():
        for year in YEARS:
            ours = reference_days(year, territory, alsace)
            package = holidays.country_holidays("FR", subdiv=subdiv, years=year)
            for day in set(package) - ours:
                seen[(key, "package", str(package[day]))] += 1
            for day in ours - set(package):
                seen[(key, "reference", day.strftime("%m-%d"))] += 1
    unexplained = {k: n for k, n in seen.items() if k not in EXCEPTIONS}
    assert not unexplained, unexplained
    assert set(EXCEPTIONS) <= set(seen), f"exceptions that no longer occur: {set(EXCEPTIONS) - set(seen)}"


NUMBERS = {"metro": "0612345678", "57": "0387123456", "6AE": "0388123456", "971": "0590123456",
           "972": "0596123456", "973": "0594123456", "974": "0262123456", "976": "0269123456",
           "PM": "0508412345"}  # fmt: skip
POSTCODES = {"MF": "97150", "BL": "97133"}


def test_engine_blocks_the_union_of_both() -> None:
    """Every day either source names is a no-call day for a consumer there (2027-2029)."""
    checked = 0
    for key, (subdiv, territory, alsace) in SUBDIVISIONS.items():
        number = NUMBERS.get(key, "0612345678")
        postcode = POSTCODES.get(key)
        for year in (2027, 2028, 2029):
            union = reference_days(year, territory, alsace) | set(
                holidays.country_holidays("FR", subdiv=subdiv, years=year)
            )
            for day in sorted(union):
                decision = decide(
                    ContactRequest(
                        to=number,
                        at=datetime.combine(day, time(11), tzinfo=ZoneInfo("UTC")),
                        caller="0162000001",
                        postcode=postcode,
                    ),
                    Facts(
                        consents=(
                            Consent(collected_at=datetime(year - 1, 12, 1, tzinfo=ZoneInfo("UTC")), channel="all"),
                        )
                    ),
                )
                local_day = decision.at.date()
                if local_day == day:
                    assert "PUBLIC_HOLIDAY" in decision.codes, (key, day)
                    checked += 1
    assert checked > 300
