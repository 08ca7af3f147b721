"""The columns of `batch/history.py` at the edges of every window they compute, against `check`.

The differential test draws random histories; these are the instants where an off-by-one hides: an
event exactly at the campaign's start, a consent expiring exactly then, attempts exactly 30 days
old, a refusal exactly 60 days old, a withdrawal at the very instant of collection, ties between
events. Each number below gets one such history; the scrub must say what `check` says, row by row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prospectguard.batch.campaign import parse_campaign
from prospectguard.batch.classify import Parsed
from prospectguard.batch.history import Events, History, Timed, event_order, national_of_e164, pairs
from prospectguard.batch.scrub import scrub
from prospectguard.batch.source import open_source
from prospectguard.gate import Gate
from prospectguard.law import LAW
from prospectguard.model import ContactRequest, Facts
from prospectguard.numbering import locate, parse
from prospectguard.store import Store

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 12, 1, 11, 0, tzinfo=PARIS)  # a Tuesday, inside the hours
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
CAMPAIGN_TIMES = {"start": START.isoformat(), "end": (START + 60 * DAY).isoformat()}
Setup = Callable[[Store, int, str], None]


def consent(at: datetime, channel: str = "voice", expires: datetime | None = None) -> Setup:
    def go(s: Store, org: int, n: str) -> None:
        s.add_consent(org, n, collected_at=at, channel=channel, method="web", expires_at=expires, proof_text="oui")

    return go


def attempts(*ages: timedelta, outcome: str = "no_answer", channel: str = "voice") -> Setup:
    def go(s: Store, org: int, n: str) -> None:
        for age in ages:
            s.record_attempt(org, n, at=START - age, channel=channel, outcome=outcome)

    return go


def oppose(at: datetime) -> Setup:
    return lambda s, org, n: s.add_opposition(org, n, at=at, source="manual") and None


def unoppose(at: datetime) -> Setup:
    return lambda s, org, n: s.remove_opposition(org, n, at=at) and None


def withdraw(at: datetime) -> Setup:
    return lambda s, org, n: s.withdraw_consent(org, n, at=at, source="stop") and None


OLD = START - 100 * DAY
CASES: dict[str, list[Setup]] = {
    "consent-at-start": [consent(START)],
    "consent-just-after-start": [consent(START + US)],
    "consent-expires-at-start": [consent(OLD, expires=START)],
    "consent-expires-just-after": [consent(OLD, expires=START + US)],
    "consent-expires-before-next-opening": [
        consent(OLD, expires=START + 2 * DAY),
        attempts(*[DAY * k for k in (1, 2, 3, 29)]),
    ],
    "a10-term-ends-at-start": [consent(START - timedelta(days=365 * 3))],
    "sms-consent-does-not-cover-voice": [consent(OLD, channel="sms")],
    "withdrawn-at-collection": [consent(OLD), withdraw(OLD)],
    "withdrawn-at-start": [consent(OLD), withdraw(START)],
    "withdrawn-then-new-consent": [consent(OLD), withdraw(OLD + DAY), consent(OLD + 2 * DAY)],
    "new-consent-at-withdrawal": [consent(OLD), withdraw(OLD + DAY), consent(OLD + DAY)],
    "opposed-at-start": [consent(OLD), oppose(START)],
    "opposed-just-after-start": [consent(OLD), oppose(START + US)],
    "opposed-and-lifted-same-instant": [consent(OLD), oppose(OLD), unoppose(OLD)],
    "lifted-and-opposed-same-instant": [consent(OLD), unoppose(OLD), oppose(OLD)],
    "opposed-later-during-wait": [consent(OLD), oppose(START + 3 * DAY), attempts(*[DAY * k for k in (1, 2, 3, 4)])],
    "four-attempts-oldest-30-days": [consent(OLD), attempts(DAY, 2 * DAY, 3 * DAY, 30 * DAY)],
    "four-attempts-oldest-30-days-less-1us": [consent(OLD), attempts(DAY, 2 * DAY, 3 * DAY, 30 * DAY - US)],
    "five-attempts": [consent(OLD), attempts(DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY)],
    "attempt-at-start": [consent(OLD), attempts(timedelta(0), DAY, 2 * DAY, 3 * DAY)],
    "sms-attempts-not-counted": [consent(OLD), attempts(DAY, 2 * DAY, 3 * DAY, 4 * DAY, channel="sms")],
    "refusal-60-days": [consent(OLD), attempts(60 * DAY, outcome="refused")],
    "refusal-60-days-less-1us": [consent(OLD), attempts(60 * DAY - US, outcome="refused")],
    "refusal-and-cap": [consent(OLD), attempts(DAY, 2 * DAY, 3 * DAY), attempts(10 * DAY, outcome="refused")],
    "refusal-ends-on-saturday": [consent(OLD), attempts(60 * DAY - 4 * DAY + timedelta(hours=2), outcome="refused")],
    "sms-refusal-ignored": [consent(OLD), attempts(5 * DAY, outcome="refused", channel="sms")],
}


@pytest.mark.parametrize(
    "doc",
    [
        {"start": START.isoformat(), "end": (START + 60 * DAY).isoformat()},
        {"start": START.isoformat(), "end": (START + 3 * DAY).isoformat()},
        {"start": START.replace(hour=9).isoformat(), "end": (START + 60 * DAY).isoformat()},
        {"start": datetime(2026, 12, 5, 11, tzinfo=PARIS).isoformat(), "end": (START + 60 * DAY).isoformat()},
    ],
    ids=["in-hours", "short-campaign", "before-hours", "saturday"],
)
def test_history_columns_agree_with_check_at_every_edge(tmp_path: Path, doc: dict[str, str]) -> None:
    campaign = parse_campaign({"caller": "+33162000001", **doc})
    numbers = {name: f"+3361234{i:04d}" for i, name in enumerate(CASES)}
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        org = store.org_id("default")
        store.set_org(org, caller_numbers=["+33162000001"], at=OLD - DAY)
        for name, setups in CASES.items():
            for setup in setups:
                setup(store, org, numbers[name])
        path = tmp_path / "in.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter=";")
            w.writerow(["case", "telephone"])
            for name, number in numbers.items():
                w.writerow([name, number])
        scrub(open_source(path), campaign, tmp_path / "out", store)
        gate = Gate(store, "default")
        got: dict[str, dict[str, str]] = {}
        for kind in ("allowed", "blocked"):
            with (tmp_path / "out" / f"{kind}.csv").open(encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f, delimiter=";"):
                    got[row["case"]] = {"kind": kind, **row}
        assert set(got) == set(CASES)
        for name, number in numbers.items():
            want = gate.check(ContactRequest(to=number, at=campaign.start, caller="+33162000001"))
            opens = want.next_allowed_at is not None and want.next_allowed_at <= campaign.end
            row = got[name]
            assert (row["kind"] == "allowed") == (want.allowed or opens), (name, want, row)
            if row["kind"] == "allowed":
                assert want.next_allowed_at is not None
                assert row["next_allowed_at"] == want.next_allowed_at.isoformat(), (name, want, row)
            else:
                assert set(row["reason_codes"].split("|")) == set(want.codes), (name, want, row)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(-3, 3), st.integers(0, 10**6)),
        max_size=80,
        unique_by=lambda e: e[2],  # ids are a table's primary key
    ),
    st.integers(0, 1 << 31),
)
def test_event_order_is_lexsort(events: list[tuple[int, int, int]], base: int) -> None:
    """Events sorted by number, then instant, then id: numbers with one event or several, ties of
    instant, numbers up to the packing's bound and beyond it (the plain sort)."""
    u = np.array([e[0] + base for e in events], np.int64)
    at = np.array([e[1] * 1_000_000 for e in events], np.int64)
    ids = np.array([e[2] for e in events], np.int64)
    assert event_order(u, at, ids).tolist() == np.lexsort((ids, at, u)).tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=40),  # each event's number
    st.lists(st.integers(0, 6), max_size=40),  # each row's number
)
def test_pairs_are_every_row_with_every_event_of_its_number(event_u: list[int], row_u: list[int]) -> None:
    """By row, then by event; numbers with no event, one (the quick path) or several."""
    u = np.array(event_u, np.int64)
    events = Events.build(u, np.zeros(len(u), np.int64), np.arange(len(u), dtype=np.int64), 7)
    rows, ev = pairs(np.array(row_u, np.int64), events)
    want = [(r, e) for r, n in enumerate(row_u) for e in range(len(u)) if int(events.u[e]) == n]
    assert list(zip(rows.tolist(), ev.tolist(), strict=True)) == want


NUMBERS = st.builds(lambda low, high: low + high * (1 << 27), st.integers(0, 40), st.integers(0, 7))  # < 10**9


@settings(max_examples=300, deadline=None)
@given(st.sets(NUMBERS, max_size=30), st.lists(NUMBERS | st.just(-1), max_size=40))
def test_lookup_finds_each_number_among_keys_that_share_its_low_bits(keys: set[int], national: list[int]) -> None:
    """The look-up's filter keys numbers by their low 27 bits: numbers that share them must still be
    told apart (the binary search settles them), and a number without a national form is never found."""
    ordered = np.array(sorted(keys), np.int64)
    none = Events.build(*(np.zeros(0, np.int64),) * 3, len(ordered))
    history = History(ordered, {}, none, none, none, none, np.zeros(0, np.int64))
    n = len(national)
    parsed = Parsed(np.zeros(n, np.int32), np.array(national, np.int64), {}, np.full(n, -1, np.int64), {})
    where = {int(k): u for u, k in enumerate(ordered.tolist())}
    assert history.lookup(parsed).tolist() == [where.get(x, -1) for x in national]


STEP_PLACES = [
    locate(parse(n))  # metro, Alsace-Moselle, La Réunion, Guadeloupe, Guyane, Martinique, Mayotte
    for n in ("0140000000", "0388000000", "0262201234", "0590201234", "0594201234", "0596201234", "0269601234")
]
STEP_TIMED = {
    channel: Timed(parse_campaign({"caller": "+33162000001", "channel": channel, **CAMPAIGN_TIMES}), Facts(), LAW)
    for channel in ("voice", "sms")
}
# The hours' bounds (B1: 10, 13, 14, 20 h; F6: 8, 20 h), midnight, and the microsecond on each side.
CLOCKS = sorted({(datetime(2000, 1, 3, h) + d).time() for h in (0, 8, 10, 13, 14, 20) for d in (timedelta(0), US, -US)})


@settings(max_examples=400, deadline=None)
@given(
    place=st.integers(0, len(STEP_PLACES) - 1),
    day=st.integers(0, 800),
    clocks=st.lists(st.sampled_from(CLOCKS) | st.times(), min_size=1, max_size=4),
    channel=st.sampled_from(["voice", "sms"]),
)
def test_timed_step_answers_as_timed_at_every_instant(place: int, day: int, clocks: list[time], channel: str) -> None:
    """`Timed.step` evaluates the hours once per stretch between two window bounds of a local day and
    reuses the answer for every instant in it (shared across examples here, so later instants find
    earlier ones' stretches): at each instant it must say what `timed` says, bounds and their
    neighbours, weekends, holidays and DST days included (2026-12 to 2029-02, every territory)."""
    where = STEP_PLACES[place]
    assert where is not None
    timed = STEP_TIMED[channel]
    local_day = date(2026, 12, 1) + timedelta(days=day)
    for clock in clocks:
        at = datetime.combine(local_day, clock, ZoneInfo(where.timezone))
        at_us = (at - datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))) // US
        assert timed.step(where, at_us) == timed.timed(where, at_us)[:2], (where, at)


E164_HEADS = ["+33", "+262", "+590", "+594", "+596", "+508", "+32", "+1", "+3", "33", ""]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(E164_HEADS), st.text(alphabet="0123456789", min_size=4, max_size=11))
        .map("".join)
        .flatmap(lambda s: st.sampled_from([s, s[:-1] + ":", s + "x", "+33" + s[3:].replace("1", "\u00e9", 1)])),
        max_size=40,
    )
)
def test_national_of_e164_keys_a_stored_number_as_parse_reads_it(texts: list[str]) -> None:
    """The stored E.164 text of a French number -> its 10-digit national number (as `classify` keys a
    row's), -1 for the rest: foreign numbers, another territory's number under the wrong head,
    lengths off by one, stray bytes."""
    got = national_of_e164(pa.array(texts, pa.string())).tolist()
    want = []
    for text in texts:
        number = parse(text)
        own = number.e164 == text and number.national is not None and len(number.national) == 10
        want.append(int(number.national) if own and number.national else -1)
    assert got == want
