"""Property tests for the time rules (B1, B3, B4, H1-H4, A7): hypothesis explores the instants.

The oracle for no-call days is independent of our calendar code: the `holidays` package for the
consumer's subdivision plus the dates the reference itself lists (H1-H3), written out here.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from dateutil.easter import easter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prospectguard.model import Attempt, Consent, ContactRequest, Facts
from prospectguard.rules import decide

TIME_CODES = {"OUTSIDE_HOURS", "NON_WORKING_DAY", "PUBLIC_HOLIDAY", "FREQUENCY_CAP", "REFUSAL_COOLDOWN"}
WINDOWS = [(time(10), time(13)), (time(14), time(20))]
NPV = "0162000001"

# One number per territory, with its zone and the holiday subdivisions that apply (reference §3-4).
TERRITORIES = {
    "metro": ("0612345678", "Europe/Paris", [None]),
    "alsace": ("0388123456", "Europe/Paris", ["6AE"]),
    "moselle": ("0387123456", "Europe/Paris", ["57"]),
    "RE": ("0692123456", "Indian/Reunion", ["974"]),
    "YT": ("0639123456", "Indian/Mayotte", ["976"]),
    "GP": ("0690123456", "America/Guadeloupe", ["971", "MF", "BL"]),
    "GF": ("0694123456", "America/Cayenne", ["973"]),
    "MQ": ("0696123456", "America/Martinique", ["972"]),
    "PM": ("0508412345", "America/Miquelon", ["PM"]),
}
# H2 and H3 as the reference writes them (MM-DD), per territory key above.
REFERENCE_DAYS = {
    "YT": ["04-27"],
    "MQ": ["05-22"],
    "GP": ["05-27", "10-09"],  # GP and MF 27 May, BL 9 Oct: N11 numbers cannot tell them apart
    "GF": ["06-10"],
    "RE": ["12-20"],
    "alsace": ["12-26"],
    "moselle": ["12-26"],
}


def no_call_days(territory: str, year: int) -> set[date]:
    """The oracle: `holidays` for each subdivision, plus the reference's own dates."""
    _, _, subdivisions = TERRITORIES[territory]
    days: set[date] = set()
    for subdiv in subdivisions:
        days |= set(holidays.country_holidays("FR", subdiv=subdiv, years=year))
    days |= {date(year, int(d[:2]), int(d[3:])) for d in REFERENCE_DAYS.get(territory, [])}
    sunday = easter(year)
    days |= {sunday + timedelta(days=o) for o in (1, 39, 50)}
    days |= {date(year, m, d) for m, d in [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]}
    if territory in ("alsace", "moselle"):
        days.add(sunday - timedelta(days=2))
    return days


def consent_for(at: datetime) -> Facts:
    return Facts(consents=(Consent(collected_at=at - timedelta(days=100), channel="all"),))


def request(to: str, at: datetime) -> ContactRequest:
    return ContactRequest(to=to, at=at, caller=NPV)


def allowed(to: str, at: datetime, facts: Facts) -> bool:
    return decide(request(to, at), facts).allowed


territories = st.sampled_from(sorted(TERRITORIES))
days = st.dates(min_value=date(2026, 8, 11), max_value=date(2031, 12, 31))
PROPS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(territory=territories, day=days, window=st.sampled_from(WINDOWS), offset=st.floats(0, 1, exclude_max=True))
def test_inside_a_window_on_a_working_day_is_never_blocked_for_time(
    territory: str, day: date, window: tuple[time, time], offset: float
) -> None:
    number, zone, _ = TERRITORIES[territory]
    if day.isoweekday() > 5 or day in no_call_days(territory, day.year):
        return
    start = datetime.combine(day, window[0], tzinfo=ZoneInfo(zone))
    end = datetime.combine(day, window[1], tzinfo=ZoneInfo(zone))
    span_us = (end - start) // timedelta(microseconds=1)
    at = start + timedelta(microseconds=int(span_us * offset))  # floor: strictly before the end
    decision = decide(request(number, at), consent_for(at))
    assert not set(decision.codes) & TIME_CODES, (territory, at.isoformat(), decision.codes)
    assert decision.allowed


@PROPS
@given(territory=territories, day=days)
def test_no_call_days_and_weekends_are_blocked(territory: str, day: date) -> None:
    number, zone, _ = TERRITORIES[territory]
    at = datetime.combine(day, time(11), tzinfo=ZoneInfo(zone))
    codes = set(decide(request(number, at), consent_for(at)).codes)
    assert ("PUBLIC_HOLIDAY" in codes) == (day in no_call_days(territory, day.year))
    assert ("NON_WORKING_DAY" in codes) == (day.isoweekday() > 5)


@PROPS
@given(territory=territories, day=days, window=st.sampled_from(WINDOWS))
def test_windows_are_half_open(territory: str, day: date, window: tuple[time, time]) -> None:
    number, zone, _ = TERRITORIES[territory]
    if day.isoweekday() > 5 or day in no_call_days(territory, day.year):
        return
    tz = ZoneInfo(zone)
    start, end = datetime.combine(day, window[0], tzinfo=tz), datetime.combine(day, window[1], tzinfo=tz)
    facts = consent_for(start)
    assert allowed(number, start, facts)
    assert not allowed(number, start - timedelta(microseconds=1), facts)
    assert allowed(number, end - timedelta(microseconds=1), facts)
    assert not allowed(number, end, facts)


attempt_histories = st.lists(
    st.tuples(
        st.floats(min_value=0.01, max_value=70),  # days before the contact
        st.sampled_from(["no_answer", "answered", "busy", "refused", "voicemail"]),
    ),
    max_size=7,
)


@settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    territory=territories,
    at=st.datetimes(
        min_value=datetime(2026, 8, 12), max_value=datetime(2030, 12, 31), timezones=st.just(ZoneInfo("UTC"))
    ),
    history=attempt_histories,
    probes=st.lists(st.floats(0, 1), max_size=4),
)
def test_next_allowed_is_allowed_and_nothing_earlier_is(
    territory: str, at: datetime, history: list[tuple[float, str]], probes: list[float]
) -> None:
    number, _, _ = TERRITORIES[territory]
    facts = dataclasses.replace(
        consent_for(at),
        attempts=tuple(Attempt(at - timedelta(days=d), "voice", outcome) for d, outcome in history),
    )
    decision = decide(request(number, at), facts)
    nxt = decision.next_allowed_at
    assert nxt is not None, decision.codes  # only temporal reasons can block here (consent lasts a year)
    assert nxt >= at and nxt.utcoffset() is not None
    assert allowed(number, nxt, facts)
    if nxt > at:
        assert not decision.allowed
        assert not allowed(number, nxt - timedelta(seconds=1), facts)
        for p in probes:
            probe = at + timedelta(microseconds=int((nxt - at) // timedelta(microseconds=1) * p))
            if probe < nxt:
                assert not allowed(number, probe, facts), probe.isoformat()
    else:
        assert decision.allowed


def test_dst_spring_forward_weekend_opens_monday_at_local_10() -> None:
    paris = ZoneInfo("Europe/Paris")
    at = datetime(2028, 3, 25, 12, tzinfo=paris)  # Saturday before the last Sunday of March
    decision = decide(request("0612345678", at), consent_for(at))
    assert decision.next_allowed_at == datetime(2028, 3, 27, 10, tzinfo=paris)
    assert decision.next_allowed_at.utcoffset() == timedelta(hours=2)


def test_dst_fall_back_weekend_skips_all_saints_monday() -> None:
    paris = ZoneInfo("Europe/Paris")
    at = datetime(2027, 10, 30, 12, tzinfo=paris)  # Saturday; Sunday 31 Oct clocks go back; Monday 1 Nov holiday
    decision = decide(request("0612345678", at), consent_for(at))
    assert decision.next_allowed_at == datetime(2027, 11, 2, 10, tzinfo=paris)
    assert decision.next_allowed_at.utcoffset() == timedelta(hours=1)


@PROPS
@given(day=st.dates(min_value=date(2026, 8, 11), max_value=date(2031, 12, 31)), minutes=st.integers(0, 24 * 60 - 1))
def test_paris_wall_clock_across_dst(day: date, minutes: int) -> None:
    """B1 reads the consumer's wall clock: the same local minute gives the same answer in summer and winter."""
    if day.isoweekday() > 5 or day in no_call_days("metro", day.year):
        return
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=ZoneInfo("Europe/Paris"))
    inside = any(a <= local.time() < b for a, b in WINDOWS)
    assert allowed("0612345678", local, consent_for(local)) == inside
