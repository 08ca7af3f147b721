"""Property tests of the time rules (B1, B3, B4, A7, F6, H1-H4) and of `next_allowed_at`, every zone.

The no-call days come from an oracle written here from the reference, not from the code: H1-H3 as
the reference lists them, plus what the `holidays` package names for the consumer's subdivision(s)
(H4's product decision; 0590/0690/0691 numbers take the union of GP, MF and BL). Hypothesis runs
derandomized with no example database, so every run explores the same cases.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from dateutil.easter import easter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from prospectguard.model import Attempt, Channel, Consent, ContactRequest, Decision, Facts
from prospectguard.rules import decide

NPV = "0162000001"
SENDER = "ACME"
TIME_CODES = frozenset({"OUTSIDE_HOURS", "NON_WORKING_DAY", "PUBLIC_HOLIDAY"})
TEMPORAL = TIME_CODES | {"FREQUENCY_CAP", "REFUSAL_COOLDOWN", "POLICY_SMS_QUIET_HOURS"}
B1_WINDOWS = ((time(10), time(13)), (time(14), time(20)))
F6_WINDOWS = ((time(8), time(20)),)

# H1 as the reference writes it.
H1_FIXED = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
H1_EASTER = (1, 39, 50)  # Easter Monday, Ascension, Whit Monday


@dataclass(frozen=True)
class Place:
    """A consumer's place: the numbers or postcode that lead there, its zone and its calendars."""

    prefixes: tuple[str, ...]
    zone: str
    subdivisions: tuple[str | None, ...]
    h2: tuple[str, ...] = ()  # MM-DD, from the reference's H2
    alsace_moselle: bool = False
    postcode: str | None = None


PLACES: dict[str, Place] = {
    "metro": Place(("06", "075", "0142", "0299", "0556", "0912", "0948"), "Europe/Paris", (None,)),
    "moselle-0387": Place(("0387",), "Europe/Paris", ("57",), alsace_moselle=True),
    "alsace-0388": Place(("0388",), "Europe/Paris", ("6AE",), alsace_moselle=True),
    "alsace-0389": Place(("0389",), "Europe/Paris", ("6AE",), alsace_moselle=True),
    "moselle-postcode": Place(("06",), "Europe/Paris", ("57",), alsace_moselle=True, postcode="57000"),
    "alsace-postcode-67": Place(("077",), "Europe/Paris", ("6AE",), alsace_moselle=True, postcode="67000"),
    "alsace-postcode-68": Place(("06",), "Europe/Paris", ("6AE",), alsace_moselle=True, postcode="68100"),
    "RE": Place(("0262", "0263", "0692", "0693"), "Indian/Reunion", ("974",), ("12-20",)),
    "YT": Place(("0269", "0639"), "Indian/Mayotte", ("976",), ("04-27",)),
    "GP-MF-BL": Place(("0590", "0690", "0691"), "America/Guadeloupe", ("971", "MF", "BL"), ("05-27", "10-09")),
    "GF": Place(("0594", "0694"), "America/Cayenne", ("973",), ("06-10",)),
    "MQ": Place(("0596", "0696", "0697"), "America/Martinique", ("972",), ("05-22",)),
    "PM": Place(("0508",), "America/Miquelon", ("PM",)),
    "GP-postcode": Place(("0690",), "America/Guadeloupe", ("971",), ("05-27",), postcode="97110"),
    "MF-postcode": Place(("0690",), "America/Marigot", ("MF",), ("05-27",), postcode="97150"),
    "BL-postcode": Place(("0590",), "America/St_Barthelemy", ("BL",), ("10-09",), postcode="97133"),
    "RE-postcode": Place(("06",), "Indian/Reunion", ("974",), ("12-20",), postcode="97400"),
    "GF-postcode": Place(("06",), "America/Cayenne", ("973",), ("06-10",), postcode="97300"),
    "PM-postcode": Place(("06",), "America/Miquelon", ("PM",), postcode="97500"),
}


@cache
def no_call_days(place: str, year: int) -> frozenset[date]:
    p = PLACES[place]
    sunday = easter(year)
    days = {date(year, m, d) for m, d in H1_FIXED} | {sunday + timedelta(days=o) for o in H1_EASTER}
    days |= {date(year, int(md[:2]), int(md[3:])) for md in p.h2}
    if p.alsace_moselle:
        days |= {sunday - timedelta(days=2), date(year, 12, 26)}
    for sub in p.subdivisions:
        days |= set(holidays.country_holidays("FR", subdiv=sub, years=year))
    return frozenset(days)


def call_day(place: str, day: date) -> bool:
    return day.isoweekday() <= 5 and day not in no_call_days(place, day.year)


def sms_day(place: str, day: date) -> bool:
    return day.isoweekday() <= 6 and day not in no_call_days(place, day.year)


def next_call_day(place: str, day: date) -> date:
    while not call_day(place, day):
        day += timedelta(days=1)
    return day


def number(place: str, prefix_index: int, tail: int) -> str:
    prefix = PLACES[place].prefixes[prefix_index % len(PLACES[place].prefixes)]
    return prefix + str(tail).zfill(10 - len(prefix))[-(10 - len(prefix)) :]


def request(place: str, to: str, at: datetime, channel: Channel = Channel.VOICE) -> ContactRequest:
    caller = SENDER if channel is Channel.SMS else NPV
    return ContactRequest(to=to, at=at, caller=caller, channel=channel, postcode=PLACES[place].postcode)


def consent_for(at: datetime) -> Facts:
    """One proven `all` consent, valid from 100 days before `at` to 265 days after (A10)."""
    return Facts(consents=(Consent(collected_at=at - timedelta(days=100), channel="all"),))


def judge(place: str, to: str, at: datetime, facts: Facts, channel: Channel = Channel.VOICE) -> Decision:
    return decide(request(place, to, at, channel), facts)


def wall(place: str, day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=ZoneInfo(PLACES[place].zone))


PROPS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
places = st.sampled_from(sorted(PLACES))
days_after_switch = st.dates(min_value=date(2026, 8, 11), max_value=date(2036, 12, 31))
tails = st.integers(0, 99_999_999)


# ---------------------------------------------------------------------------------------------- (a)
@PROPS
@given(
    place=places,
    day=days_after_switch,
    window=st.sampled_from(B1_WINDOWS),
    fraction=st.floats(0, 1, exclude_max=True),
    pick=st.integers(0, 9),
    tail=tails,
)
def test_inside_a_window_on_a_working_day_is_never_blocked_for_time(
    place: str, day: date, window: tuple[time, time], fraction: float, pick: int, tail: int
) -> None:
    day = next_call_day(place, day)
    start, end = wall(place, day, window[0]), wall(place, day, window[1])
    at = start + timedelta(microseconds=int((end - start) // timedelta(microseconds=1) * fraction))
    assert start <= at < end
    to = number(place, pick, tail)
    d = judge(place, to, at, consent_for(at))
    assert not set(d.codes) & TIME_CODES, (place, to, at.isoformat(), d.codes)
    assert d.allowed and d.next_allowed_at == at


@PROPS
@given(place=places, day=days_after_switch, hour=st.integers(0, 23), pick=st.integers(0, 9), tail=tails)
def test_days_and_holidays_match_the_oracle(place: str, day: date, hour: int, pick: int, tail: int) -> None:
    at = wall(place, day, time(hour, 30))
    codes = set(judge(place, number(place, pick, tail), at, consent_for(at)).codes)
    assert ("NON_WORKING_DAY" in codes) == (day.isoweekday() > 5), (place, day)
    assert ("PUBLIC_HOLIDAY" in codes) == (day in no_call_days(place, day.year)), (place, day)
    assert ("OUTSIDE_HOURS" in codes) == (not any(a <= time(hour, 30) < b for a, b in B1_WINDOWS))


# ---------------------------------------------------------------------------------------------- (b)
history = st.lists(
    st.tuples(
        st.integers(-5 * 86_400, 70 * 86_400),  # seconds before the contact (negative: recorded later)
        st.sampled_from(["voice", "voice", "voice", "sms"]),
        st.sampled_from(["no_answer", "answered", "busy", "voicemail", "failed", "refused"]),
    ),
    max_size=8,
)
slots = st.none() | st.tuples(st.integers(-2 * 86_400, 6 * 86_400), st.integers(5, 180))


@settings(PROPS, max_examples=600)
@given(
    place=places,
    at=st.datetimes(min_value=datetime(2026, 8, 11, 12), max_value=datetime(2033, 12, 31), timezones=st.just(UTC)),
    channel=st.sampled_from([Channel.VOICE, Channel.VOICE, Channel.SMS]),
    attempts=history,
    slot=slots,
    probes=st.lists(st.floats(0, 1, exclude_max=True), max_size=4),
    pick=st.integers(0, 9),
)
def test_next_allowed_at_is_allowed_and_nothing_earlier_is(
    place: str,
    at: datetime,
    channel: Channel,
    attempts: list[tuple[int, str, str]],
    slot: tuple[int, int] | None,
    probes: list[float],
    pick: int,
) -> None:
    to = number(place, pick, 12345678)
    facts = dataclasses.replace(
        consent_for(at),
        attempts=tuple(Attempt(at - timedelta(seconds=s), ch, outcome) for s, ch, outcome in attempts),
    )
    if slot is not None:
        start = at + timedelta(seconds=slot[0])
        agreed = Consent(
            collected_at=at - timedelta(days=50),
            channel="voice",
            slot_start=start,
            slot_end=start + timedelta(minutes=slot[1]),
        )
        facts = dataclasses.replace(facts, consents=(*facts.consents, agreed))
    d = judge(place, to, at, facts, channel)
    nxt = d.next_allowed_at
    event("allowed" if d.allowed else "blocked: " + ", ".join(sorted(set(d.codes))))
    assert set(d.codes) <= TEMPORAL, d.codes  # the consent outlives every pause here: time alone blocks
    assert nxt is not None, (place, at.isoformat(), d.codes)
    assert nxt.utcoffset() is not None and nxt >= at
    assert judge(place, to, nxt, facts, channel).allowed, f"{place} {at.isoformat()}: not allowed at {nxt}"
    if d.allowed:
        assert nxt == at
        return
    assert nxt > at
    earlier = [max(at, nxt - timedelta(seconds=1))]
    span = (nxt - at) // timedelta(microseconds=1)
    earlier += [at + timedelta(microseconds=int(span * p)) for p in probes]
    for probe in earlier:
        assert probe < nxt
        assert not judge(place, to, probe, facts, channel).allowed, f"{place}: allowed at {probe}, next is {nxt}"


# ---------------------------------------------------------------------------------------------- (c)
def last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=day.isoweekday() % 7)


DST_SUNDAYS = [last_sunday(y, m) for y in range(2027, 2037) for m in (3, 10)]


@pytest.mark.parametrize("sunday", DST_SUNDAYS, ids=str)
def test_paris_dst_weekends_keep_wall_clock_windows(sunday: date) -> None:
    paris = ZoneInfo("Europe/Paris")
    friday, monday = sunday - timedelta(days=2), sunday + timedelta(days=1)
    assert (friday.month, monday.month) in ((3, 3), (3, 4), (10, 10), (10, 11))
    offsets = {
        d: datetime.combine(d, time(12), tzinfo=paris).utcoffset() for d in (friday, monday)
    }  # the change between them
    assert offsets[friday] != offsets[monday]
    for day in (friday, monday):
        if not call_day("metro", day):
            continue
        for t, ok in [
            (time(9, 59, 59), False),
            (time(10), True),
            (time(12, 59, 59), True),
            (time(13), False),
            (time(14), True),
            (time(19, 59, 59), True),
            (time(20), False),
        ]:
            at = datetime.combine(day, t, tzinfo=paris)
            assert judge("metro", "0612345678", at, consent_for(at)).allowed == ok, at.isoformat()
    # From anywhere in the weekend (the change itself included), the next call is at 10:00 wall clock.
    expected = datetime.combine(next_call_day("metro", monday), time(10), tzinfo=paris)
    for hour in range(0, 24, 3):
        at = datetime.combine(sunday, time(hour, 30), tzinfo=paris)
        d = judge("metro", "0612345678", at, consent_for(at))
        assert "NON_WORKING_DAY" in d.codes
        assert d.next_allowed_at == expected, (at.isoformat(), d.next_allowed_at)
        assert d.next_allowed_at is not None and d.next_allowed_at.astimezone(paris).time() == time(10)


@PROPS
@given(
    sunday=st.sampled_from(DST_SUNDAYS),
    shift=st.integers(-3, 3),
    seconds=st.integers(0, 86_399),
)
def test_paris_days_around_dst_follow_wall_clock(sunday: date, shift: int, seconds: int) -> None:
    """Every second of the days around a change: allowed iff the wall clock is inside a window."""
    day = sunday + timedelta(days=shift)
    utc_midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
    at = (utc_midnight + timedelta(seconds=seconds)).astimezone(ZoneInfo("Europe/Paris"))
    local = at.time()
    expected = call_day("metro", at.date()) and any(a <= local < b for a, b in B1_WINDOWS)
    assert judge("metro", "0612345678", at, consent_for(at)).allowed == expected, at.isoformat()


MIQUELON_CHANGES = [
    d
    for y in range(2027, 2033)
    for d in (
        date(y, 3, 8) + timedelta(days=(7 - date(y, 3, 8).isoweekday()) % 7),  # 2nd Sunday of March
        date(y, 11, 1) + timedelta(days=(7 - date(y, 11, 1).isoweekday()) % 7),  # 1st Sunday of November
    )
]


@pytest.mark.parametrize("sunday", MIQUELON_CHANGES, ids=str)
def test_miquelon_dst_weekends_keep_wall_clock_windows(sunday: date) -> None:
    pm = ZoneInfo("America/Miquelon")
    saturday = sunday - timedelta(days=1)
    assert saturday.isoweekday() == 6
    before = datetime.combine(sunday - timedelta(days=2), time(12), tzinfo=pm).utcoffset()
    after = datetime.combine(sunday + timedelta(days=1), time(12), tzinfo=pm).utcoffset()
    assert before != after
    at = datetime.combine(saturday, time(12), tzinfo=pm)
    d = judge("PM", "0508412345", at, consent_for(at))
    assert d.next_allowed_at == datetime.combine(next_call_day("PM", sunday), time(10), tzinfo=pm)
    monday = next_call_day("PM", sunday)
    for t, ok in [(time(9, 59, 59), False), (time(10), True), (time(19, 59, 59), True), (time(20), False)]:
        at = datetime.combine(monday, t, tzinfo=pm)
        assert judge("PM", "0508412345", at, consent_for(at)).allowed == ok, at.isoformat()


# ---------------------------------------------------------------------------------------------- (d)
@pytest.mark.parametrize("place", sorted(PLACES))
def test_every_zone_opens_at_its_own_10h(place: str) -> None:
    """For each place, on a run of working days: 09:59:59 local is blocked and points to 10:00 local."""
    zone = ZoneInfo(PLACES[place].zone)
    day = date(2027, 2, 1)
    for _ in range(20):
        day = next_call_day(place, day)
        to = number(place, day.toordinal(), 12345678)
        at = datetime.combine(day, time(9, 59, 59), tzinfo=zone)
        d = judge(place, to, at, consent_for(at))
        assert set(d.codes) == {"OUTSIDE_HOURS"}, (place, at.isoformat(), d.codes)
        assert d.next_allowed_at == datetime.combine(day, time(10), tzinfo=zone)
        assert d.at.utcoffset() == at.utcoffset(), "the decision's instant is shown in the consumer's zone"
        day += timedelta(days=1)


@PROPS
@given(place=places, at=st.datetimes(min_value=datetime(2026, 8, 11, 12), max_value=datetime(2033, 12, 31)))
def test_one_utc_instant_is_judged_in_each_consumers_zone(place: str, at: datetime) -> None:
    instant = at.replace(tzinfo=UTC)
    local = instant.astimezone(ZoneInfo(PLACES[place].zone))
    inside = call_day(place, local.date()) and any(a <= local.time() < b for a, b in B1_WINDOWS)
    to = number(place, 0, 12345678)
    assert judge(place, to, instant, consent_for(instant)).allowed == inside, (place, local.isoformat())


@PROPS
@given(place=places, at=st.datetimes(min_value=datetime(2026, 8, 11, 12), max_value=datetime(2033, 12, 31)))
def test_sms_quiet_hours_in_each_consumers_zone(place: str, at: datetime) -> None:
    """F6: SMS Mon-Sat 08:00-20:00 local, no holidays, half-open."""
    instant = at.replace(tzinfo=UTC)
    local = instant.astimezone(ZoneInfo(PLACES[place].zone))
    inside = sms_day(place, local.date()) and any(a <= local.time() < b for a, b in F6_WINDOWS)
    d = judge(place, number(place, 0, 12345678), instant, consent_for(instant), Channel.SMS)
    assert set(d.codes) == (set() if inside else {"POLICY_SMS_QUIET_HOURS"}), (place, local.isoformat())


# ---------------------------------------------------------------------------------------------- (e)
@PROPS
@given(place=places, day=days_after_switch, window=st.sampled_from(B1_WINDOWS), pick=st.integers(0, 9))
def test_b1_windows_are_half_open(place: str, day: date, window: tuple[time, time], pick: int) -> None:
    day = next_call_day(place, day)
    to = number(place, pick, 12345678)
    start, end = wall(place, day, window[0]), wall(place, day, window[1])
    facts = consent_for(start)
    tick = timedelta(microseconds=1)
    assert judge(place, to, start, facts).allowed
    assert judge(place, to, end - tick, facts).allowed
    before, at_end = judge(place, to, start - tick, facts), judge(place, to, end, facts)
    assert set(before.codes) == {"OUTSIDE_HOURS"} and before.next_allowed_at == start
    assert set(at_end.codes) == {"OUTSIDE_HOURS"}
    if window == B1_WINDOWS[0]:
        assert at_end.next_allowed_at == wall(place, day, time(14))
    else:
        assert at_end.next_allowed_at == wall(place, next_call_day(place, day + timedelta(days=1)), time(10))


@PROPS
@given(place=places, day=days_after_switch, pick=st.integers(0, 9))
def test_f6_window_is_half_open(place: str, day: date, pick: int) -> None:
    while not sms_day(place, day):
        day += timedelta(days=1)
    to = number(place, pick, 12345678)
    start, end = wall(place, day, time(8)), wall(place, day, time(20))
    facts = consent_for(start)
    tick = timedelta(microseconds=1)
    assert judge(place, to, start, facts, Channel.SMS).allowed
    assert judge(place, to, end - tick, facts, Channel.SMS).allowed
    assert not judge(place, to, start - tick, facts, Channel.SMS).allowed
    assert not judge(place, to, end, facts, Channel.SMS).allowed


@PROPS
@given(
    at=st.datetimes(min_value=datetime(2026, 8, 11, 12), max_value=datetime(2033, 12, 31), timezones=st.just(UTC)),
    ages=st.lists(st.integers(1, 40 * 86_400), min_size=0, max_size=8),
)
def test_b3_counts_voice_attempts_in_the_last_30_days(at: datetime, ages: list[int]) -> None:
    """B3: blocked iff at least 4 voice attempts fall in (at - 30 days, at] (elapsed time)."""
    facts = dataclasses.replace(
        consent_for(at),
        attempts=tuple(Attempt(at - timedelta(seconds=s), "voice", "no_answer") for s in ages),
    )
    recent = sum(1 for s in ages if s < 30 * 86_400)
    codes = set(judge("metro", "0612345678", at, facts).codes)
    assert ("FREQUENCY_CAP" in codes) == (recent >= 4), (sorted(ages), codes)
