"""No-call days for a consumer's location (B1 with H1-H4).

H1-H3 come from the law data; H4's product decision adds every day the `holidays` package lists for
the consumer's French subdivision. The union is conservative: a day either source names is blocked.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
from dateutil.easter import easter

from prospectguard.law import LawAt
from prospectguard.model import Location

# Subdivisions of `holidays`' France -> our territory codes (for H2's table).
_SUBDIV_TERRITORY = {"971": "GP", "972": "MQ", "973": "GF", "974": "RE", "976": "YT", "MF": "MF", "BL": "BL"}


def no_call_days(law: LawAt, location: Location, year: int) -> frozenset[date]:
    """Every public holiday of `year` at `location`, under the law in force `law`."""
    return _no_call_days(law, location.territory, location.holiday_subdivisions, location.alsace_moselle, year)


@lru_cache(maxsize=4096)
def _no_call_days(
    law: LawAt, territory: str, subdivisions: tuple[str, ...], alsace_moselle: bool, year: int
) -> frozenset[date]:
    days: set[date] = set()
    sunday = easter(year)

    def fixed(mmdd: str) -> date:
        month, day = mmdd.split("-")
        return date(year, int(month), int(day))

    days.update(fixed(d) for d in law.value("H1", "fixed") or ())
    days.update(sunday + timedelta(days=o) for o in law.value("H1", "easter_offsets") or ())
    territories = {territory} | {_SUBDIV_TERRITORY[s] for s in subdivisions if s in _SUBDIV_TERRITORY}
    h2 = law.value("H2", "days") or {}
    days.update(fixed(h2[t]) for t in territories if t in h2)
    if alsace_moselle:
        days.update(fixed(d) for d in law.value("H3", "fixed") or ())
        days.update(sunday + timedelta(days=o) for o in law.value("H3", "easter_offsets") or ())
    if law.value("H4", "use_holidays_package"):
        for subdiv in subdivisions or (None,):
            days.update(holidays.country_holidays("FR", subdiv=subdiv, years=year).keys())
    return frozenset(days)
