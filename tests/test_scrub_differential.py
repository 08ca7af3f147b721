"""`scrub` says, row by row, what `check` says for the same contact at the campaign's start.

A differential test: random rows (every usual writing of French, overseas, special, short, foreign
and junk numbers, with or without a postcode and a territory column), random evidence in a fresh
SQLite store, and random campaigns. For each row, the verdict read back from allowed.csv or
blocked.csv must agree with `Gate.check` (the `prospectguard check` path):

- same reason codes as a set (DUPLICATE_IN_FILE aside),
- allowed iff check allowed, or check's next_allowed_at is set and not after the campaign's end,
- an allowed row carries check's next_allowed_at, E.164, territory and time zone,
- a row blocked only because it opens after the end carries check's temporal codes,
- DUPLICATE_IN_FILE marks exactly the later occurrences of a number (unless switched off).

The location `check` is asked with is the row's postcode when it is a valid one (four digits are a
postcode whose leading 0 a spreadsheet dropped), else nothing; likewise the territory column.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from prospectguard.batch.campaign import parse_campaign
from prospectguard.batch.scrub import scrub
from prospectguard.batch.source import open_source
from prospectguard.gate import Gate
from prospectguard.model import Audience, Channel, ContactRequest, NumberType, Outcome, Sector
from prospectguard.numbering import parse, valid_postcode, valid_territory
from prospectguard.rules.catalogue import SWITCHABLE, TEMPORAL
from prospectguard.store import Store
from prospectguard.store.schema import consents

PARIS = ZoneInfo("Europe/Paris")
DUP = "DUPLICATE_IN_FILE"
GATE_BUG = "BLOCTEL_LIST_STALE"  # check's spurious code for numbers without E.164 (a known gate bug)

# National forms of the numbers the rows are written from (and the store's facts are about).
NATIONALS = [
    "0612345678",  # metro mobile
    "0781234567",
    "0142345678",  # Paris fixed
    "0388123456",  # Alsace-Moselle fixed
    "0692123456",  # Réunion mobile
    "0262123456",  # Réunion fixed
    "0590123456",  # Guadeloupe fixed
    "0690123456",  # Guadeloupe mobile
    "0696123456",  # Martinique mobile
    "0594123456",  # Guyane fixed
    "0639123456",  # Mayotte mobile
    "0508551234",  # Saint-Pierre-et-Miquelon
    "0162000001",  # NPV
    "0912345678",  # polyvalent
    "0800123456",  # 08 free
    "0899123456",  # 08 premium
    "07001234567890",  # M2M (14 digits)
]
FOREIGN = ["+32 470 12 34 56", "+44 20 7946 0958"]
OTHERS = ["3010", "36111", "118712", "112", "15", "0700123456", "0612345", "06123456789", "junk", "", "+", "06"]
COUNTRY_CODES = ["33", "262", "590", "594", "596", "508"]

POSTCODES = [
    "75011",
    "97410",
    "97133",
    "97150",
    "97200",
    "97300",
    "97610",
    "97500",
    "57000",
    "67000",
    "20000",
    "1000",  # 01000 with its leading 0 eaten
    "7501",  # 07501
    " 97410 ",
    "98000",
    "00000",
    "2A000",
    "abc",
    "",
]
TERRITORIES = ["RE", "re", "GP", "MQ", "GF", "YT", "PM", "MF", "BL", "974", "976", "57", "67", "2A", "FR-metro"]
TERRITORIES += ["99", "20", "xx", ""]

# Campaign starts, Paris wall clock: weekdays in and out of hours, weekends, holidays (national,
# overseas, Alsace-Moselle), and both sides of the 2026-08-11 reform (Bloctel before, consent after).
STARTS = [
    datetime(2026, 12, 1, 9, 0),
    datetime(2026, 12, 1, 11, 0),
    datetime(2026, 12, 1, 13, 30),
    datetime(2026, 12, 1, 19, 59),
    datetime(2026, 12, 1, 20, 30),
    datetime(2026, 12, 4, 19, 50),  # Friday evening
    datetime(2026, 12, 5, 11, 0),  # Saturday
    datetime(2026, 12, 6, 15, 0),  # Sunday
    datetime(2026, 11, 11, 10, 30),  # Armistice
    datetime(2026, 12, 18, 16, 0),  # Réunion's 20 December is a Sunday in 2026
    datetime(2026, 12, 24, 18, 0),  # before Christmas and Alsace's 26 December
    datetime(2027, 1, 1, 10, 0),
    datetime(2027, 3, 26, 11, 0),  # Good Friday: a holiday in Alsace-Moselle only
    datetime(2027, 5, 27, 11, 0),  # Abolition day in Guadeloupe
    datetime(2026, 7, 14, 11, 0),  # pre-reform holiday
    datetime(2026, 8, 7, 19, 30),  # pre-reform Friday evening: next opening after the reform
    datetime(2026, 8, 10, 10, 0),  # last pre-reform day
    datetime(2026, 8, 11, 10, 0),  # reform day
    datetime(2026, 8, 15, 10, 0),  # Assumption, a Saturday
]
LENGTHS = [timedelta(0), timedelta(hours=2), timedelta(days=1), timedelta(days=3), timedelta(days=10)]
LENGTHS += [timedelta(days=40), timedelta(days=70)]

NPV = "+33 1 62 00 00 01"
CALLERS: list[str | None] = [NPV, NPV, NPV, "0162000001", "0612345678", "0899123456", "3010", "+33 1 42 34 56 78", None]
SENDERS: list[str | None] = ["ACME", "ACME", "ACME", "Other Co", "0162000001", "36111", None]
MESSAGES: list[str | None] = [
    None,
    "ACME: -20% cette semaine. STOP au 36111",
    "ACME: -20% cette semaine. STOP au 36111",
    "ACME: -20% cette semaine. STOP au 36111",
    "ACME: -20% cette semaine",
    "Promo -20%. STOP au 36111",
    "Promo -20%",
]


def writings(national: str) -> st.SearchStrategy[str]:
    """The ways people write one national number: mostly right, sometimes with the wrong country code."""
    body = national[1:]
    pairs = [national[i : i + 2] for i in range(0, len(national), 2)]
    e164 = e164_of(national)
    country = e164[: len(e164) - len(body)]  # +262 for 0692...
    if country == "+":  # Saint-Pierre-et-Miquelon: 0508 551234 is +508 551234
        country, body = "+508", national[4:]
    right = [
        national,
        " ".join(pairs),
        ".".join(pairs),
        "-".join(pairs),
        body,  # a spreadsheet ate the leading 0
        e164,
        f"{country} {body[0]} {' '.join(body[i : i + 2] for i in range(1, len(body), 2))}",
        "00" + e164[1:],
        e164[1:],
        f"{country} (0){body}",
        f" {national}\u00a0",
    ]
    wrong = [f"+{cc} {body}" for cc in COUNTRY_CODES if f"+{cc}" != country]
    return st.sampled_from(right * 6 + wrong)


def phones(pool: list[str]) -> st.SearchStrategy[str]:
    pooled = st.sampled_from(pool).flatmap(writings)
    return st.integers(0, 9).flatmap(lambda k: pooled if k else st.sampled_from(FOREIGN + OTHERS))


@dataclass
class World:
    """One example: the rows, the store's facts and the campaign."""

    rows: list[tuple[str, str | None, str | None]]
    postcode_column: bool
    territory_column: bool
    org: str
    doc: dict[str, Any]
    start: datetime
    end: datetime
    facts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (org, kind, kwargs)
    settings: dict[str, Any] = field(default_factory=dict)
    bloctel: list[tuple[date, list[str]]] = field(default_factory=list)


def e164_of(national: str) -> str:
    number = parse(national).e164
    assert number is not None, national
    return number


@st.composite
def worlds(draw: st.DrawFn) -> World:
    pool = draw(st.lists(st.sampled_from(NATIONALS), min_size=1, max_size=5, unique=True))
    postcode_column, territory_column = draw(st.booleans()), draw(st.booleans())
    rows = draw(
        st.lists(
            st.tuples(
                phones(pool),
                st.sampled_from(POSTCODES) if postcode_column else st.none(),
                st.sampled_from(TERRITORIES) if territory_column else st.none(),
            ),
            min_size=3,
            max_size=14,
        )
    )
    start = draw(st.sampled_from(STARTS)) + timedelta(minutes=draw(st.sampled_from([0, 0, 1, 59])))
    start = start.replace(tzinfo=PARIS)
    if draw(st.booleans()):
        end = start + draw(st.sampled_from(LENGTHS))
    else:  # an end on an opening instant (Paris or overseas): next_allowed_at == end is still in time
        day = start.date() + timedelta(days=draw(st.integers(1, 4)))
        zone = ZoneInfo(draw(st.sampled_from(["Europe/Paris", "Europe/Paris", "Indian/Reunion", "America/Martinique"])))
        end = datetime.combine(day, time(draw(st.sampled_from([10, 14])), 0), tzinfo=zone).astimezone(PARIS)
        end = max(end, start)
    channel = draw(st.sampled_from([Channel.VOICE, Channel.VOICE, Channel.SMS]))
    caller = draw(st.sampled_from(CALLERS if channel is Channel.VOICE else SENDERS))
    org = draw(st.sampled_from(["default", "acme"]))
    utc = draw(st.booleans())  # the same instants written with another offset
    doc: dict[str, Any] = {
        "organisation": org,
        "channel": channel.value,
        "automated": draw(st.sampled_from([False, False, False, True])),
        "audience": draw(st.sampled_from([Audience.CONSUMER, Audience.CONSUMER, Audience.BUSINESS])).value,
        "sector": draw(st.sampled_from([Sector.GENERAL] * 16 + list(Sector))).value,
        "about_contract": draw(st.booleans()),
        "start": (start.astimezone(UTC) if utc else start).isoformat(),
        "end": (end.astimezone(UTC) if utc else end).isoformat(),
    }
    if caller is not None:
        doc["caller"] = caller
    if channel is Channel.SMS:
        message = draw(st.sampled_from(MESSAGES))
        if message is not None:
            doc["message"] = message
    world = World(rows, postcode_column, territory_column, org, doc, start, end)

    numbers = [e164_of(n) for n in pool] + ["+32470123456", "+442079460958"]

    def instant(lo: int, hi: int) -> datetime:
        days = draw(st.integers(lo, hi))
        hours = draw(st.sampled_from([0, 3, 9, 11, 15, 21]))
        return (start + timedelta(days=days, hours=hours)).astimezone(UTC)

    for number in numbers:
        if draw(st.booleans()):  # a plain valid consent, so that many rows get past A1/F1
            collected = (start - timedelta(days=30)).astimezone(UTC)
            world.facts.append(
                (
                    org,
                    "consent",
                    {"e164": number, "collected_at": collected, "channel": "all", "expires_at": None, "proof": True},
                )
            )
        for _ in range(draw(st.integers(0, 3))):
            owner = draw(st.sampled_from([org, org, org, "other"]))  # facts of another org must not count
            kind = draw(st.sampled_from(["consent", "withdraw", "oppose", "unoppose", "contract", "attempts"]))
            if kind == "consent":
                collected = instant(-500, 5)
                kwargs: dict[str, Any] = {
                    "collected_at": collected,
                    "channel": draw(st.sampled_from(["voice", "sms", "all"])),
                    "expires_at": draw(
                        st.sampled_from([None, collected + timedelta(days=30), collected + timedelta(days=400)])
                    ),
                    "proof": draw(st.sampled_from([True, True, False])),
                }
                if draw(st.booleans()):
                    slot_start = instant(-1, 3).replace(minute=0)
                    kwargs["slot_start"] = slot_start
                    kwargs["slot_end"] = slot_start + timedelta(hours=1)
                world.facts.append((owner, "consent", {"e164": number, **kwargs}))
            elif kind == "withdraw":
                world.facts.append((owner, "withdraw", {"e164": number, "at": instant(-200, 5)}))
            elif kind == "oppose":
                world.facts.append((owner, "oppose", {"e164": number, "at": instant(-300, 5)}))
            elif kind == "unoppose":
                world.facts.append((owner, "unoppose", {"e164": number, "at": instant(-300, 5)}))
            elif kind == "contract":
                begin = instant(-400, 5)
                stop = draw(st.sampled_from([None, begin + timedelta(days=20), begin + timedelta(days=800)]))
                world.facts.append((owner, "contract", {"e164": number, "start": begin, "end": stop}))
            else:
                for _ in range(draw(st.integers(1, 6))):
                    world.facts.append(
                        (
                            owner,
                            "attempt",
                            {
                                "e164": number,
                                "at": instant(*draw(st.sampled_from([(-100, 2), (-29, 0), (-29, 0)]))),
                                "channel": draw(st.sampled_from(["voice", "voice", "sms"])),
                                "outcome": draw(st.sampled_from(list(Outcome))).value,
                            },
                        )
                    )
    for _ in range(draw(st.integers(0, 2))):
        as_of = start.astimezone(PARIS).date() - timedelta(days=draw(st.sampled_from([-1, 0, 5, 29, 31, 45])))
        listed = draw(st.lists(st.sampled_from(numbers), max_size=4, unique=True))
        world.bloctel.append((as_of, listed))
    world.settings = {
        "caller_numbers": draw(st.sampled_from([None, None, None, [], ["+33162000001"], ["+33142345678"]])),
        "sms_senders": draw(st.sampled_from([None, ["ACME"], ["ACME"], ["Other Co"]])),
        "policies": {code: False for code in draw(st.lists(st.sampled_from(sorted(SWITCHABLE)), max_size=2))},
    }
    return world


def fill(store: Store, world: World) -> None:
    ids = {name: store.org_id(name) for name in (world.org, "other")}
    org_id = ids[world.org]
    before = world.start - timedelta(days=600)
    s = world.settings
    if s["caller_numbers"] is not None or s["sms_senders"] is not None or s["policies"]:
        store.set_org(
            org_id, caller_numbers=s["caller_numbers"], sms_senders=s["sms_senders"], policies=s["policies"], at=before
        )
    for owner, kind, kw in world.facts:
        oid, number = ids[owner], kw["e164"]
        if kind == "consent":
            slots = {k: kw[k] for k in ("slot_start", "slot_end") if k in kw}
            if kw["proof"]:
                store.add_consent(
                    oid,
                    number,
                    collected_at=kw["collected_at"],
                    channel=kw["channel"],
                    method="web form",
                    expires_at=kw["expires_at"],
                    proof_text="J'accepte d'être appelé",
                    **slots,
                )
            else:  # the API always hashes a proof: a consent without one is a legacy row, written directly
                with store.engine.begin() as conn:
                    conn.execute(
                        consents.insert().values(
                            org_id=oid,
                            e164=number,
                            collected_at=kw["collected_at"],
                            channel=kw["channel"],
                            expires_at=kw["expires_at"],
                            method="legacy import",
                            proof_sha256="",
                            **slots,
                        )
                    )
        elif kind == "withdraw":
            store.withdraw_consent(oid, number, at=kw["at"], source="stop")
        elif kind == "oppose":
            store.add_opposition(oid, number, at=kw["at"], source="manual")
        elif kind == "unoppose":
            store.remove_opposition(oid, number, at=kw["at"])
        elif kind == "contract":
            store.add_contract(oid, number, object="box", start=kw["start"], end=kw["end"])
        else:
            store.record_attempt(oid, number, at=kw["at"], channel=kw["channel"], outcome=kw["outcome"])
    for k, (as_of, listed) in enumerate(world.bloctel):
        store.import_bloctel(org_id, listed, as_of=as_of, file_sha256=hashlib.sha256(str(k).encode()).hexdigest())


def expected_postcode(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip()
    if len(code) == 4 and code.isdigit():
        code = "0" + code
    return code if valid_postcode(code) else None


def expected_territory(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip()
    return code if code and valid_territory(code) else None


def write_rows(path: Path, world: World) -> None:
    header = ["id", "Téléphone"]
    if world.postcode_column:
        header.append("code_postal")
    if world.territory_column:
        header.append("département")
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, delimiter=";", lineterminator="\r\n")
        out.writerow(header)
        for i, (phone, pc, terr) in enumerate(world.rows):
            row = [f"r{i}", phone]
            if world.postcode_column:
                row.append(pc or "")
            if world.territory_column:
                row.append(terr or "")
            out.writerow(row)


def read_back(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f, delimiter=";")}


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """An empty, migrated store, copied for each example (migrating costs more than copying)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "template.db"
        Store.open(f"sqlite:///{path}").close()
        yield path


def dup_key(raw: str) -> str | None:
    """What makes two writings the same number, for the numbers that have an E.164 form."""
    return parse(raw).e164


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=worlds())
def test_scrub_agrees_with_check_row_by_row(template: Path, world: World) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        shutil.copy(template, tmp / "store.db")
        with Store.open(f"sqlite:///{tmp / 'store.db'}") as store:
            fill(store, world)
            campaign = parse_campaign(world.doc)
            write_rows(tmp / "in.csv", world)
            src = open_source(tmp / "in.csv")
            summary = scrub(src, campaign, tmp / "out", store, fmt="csv", chunk_rows=5)
            allowed = read_back(tmp / "out" / "allowed.csv")
            blocked = read_back(tmp / "out" / "blocked.csv")
            assert len(allowed) + len(blocked) == len(world.rows) == summary["rows"]
            assert summary["allowed"] == len(allowed) and summary["blocked"] == len(blocked)

            gate = Gate(store, world.org)
            doc = world.doc
            dup_off = DUP in world.settings["policies"]
            seen: set[str] = set()
            for i, (phone, pc, terr) in enumerate(world.rows):
                rid = f"r{i}"
                assert (rid in allowed) != (rid in blocked), rid
                req = ContactRequest(
                    to=phone,
                    at=world.start,
                    channel=Channel(doc["channel"]),
                    caller=doc.get("caller"),
                    automated=doc["automated"],
                    audience=Audience(doc["audience"]),
                    sector=Sector(doc["sector"]),
                    about_contract=doc["about_contract"],
                    message=doc.get("message"),
                    postcode=expected_postcode(pc),
                    territory=expected_territory(terr),
                )
                want = gate.check(req)
                want_codes = set(want.codes)
                if want.callee.e164 is None and want.callee.type is not NumberType.INVALID:
                    want_codes.discard(GATE_BUG)  # see test_check_reads_the_bloctel_snapshot_for_short_numbers
                key = dup_key(phone)
                repeat = key is not None and key in seen
                if key is not None:
                    seen.add(key)
                context = (rid, req, want)
                event("allowed" if rid in allowed else "blocked")
                if want.next_allowed_at is not None and want.next_allowed_at > world.start:
                    event(
                        "opens later, "
                        + ("within the campaign" if want.next_allowed_at <= world.end else "after its end")
                    )
                if rid in allowed:
                    got = allowed[rid]
                    assert not (repeat and not dup_off), context
                    assert want.next_allowed_at is not None, context
                    assert want.next_allowed_at <= world.end, context
                    assert want_codes <= TEMPORAL, context
                    assert got["next_allowed_at"] == want.next_allowed_at.isoformat(), context
                    assert got["e164"] == (want.callee.e164 or ""), context
                    assert got["territory"] == (want.callee.territory or ""), context
                    assert got["timezone"] == (want.callee.timezone or ""), context
                    assert phone == got["Téléphone"], context
                else:
                    got = blocked[rid]
                    listed = got["reason_codes"].split("|")
                    if want.callee.e164 is None and want.callee.type is not NumberType.INVALID:
                        listed = [c for c in listed if c != GATE_BUG]
                    codes = set(listed)
                    # The same codes in the same order (check's rule order), DUPLICATE_IN_FILE last.
                    in_order = list(dict.fromkeys(c for c in want.codes if c in want_codes))
                    assert [c for c in listed if c != DUP] == in_order, (context, got)
                    assert DUP not in listed[:-1], (context, got)
                    if key is not None:
                        assert (DUP in codes) == (repeat and not dup_off), (context, got)
                    elif DUP in codes:
                        assert not dup_off, (context, got)
                    if DUP not in codes:
                        opens_in_time = want.next_allowed_at is not None and want.next_allowed_at <= world.end
                        assert not want.allowed and not opens_in_time, (context, got)
                        if want.next_allowed_at is not None:  # blocked only because it opens after the end
                            assert want_codes and want_codes <= TEMPORAL, context
                            assert want.next_allowed_at.isoformat() in got["reasons"], (context, got)


def test_check_reads_the_bloctel_snapshot_for_short_numbers(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.import_bloctel(store.org_id("default"), [], as_of=date(2026, 7, 13), file_sha256="0" * 64)
        start = datetime(2026, 7, 13, 11, 0, tzinfo=PARIS)  # a Monday under the Bloctel regime
        req = ContactRequest(to="3010", at=start, caller=NPV)
        assert set(Gate(store).check(req).codes) == {"CALLEE_NOT_PROSPECTABLE"}


def scrub_and_check(tmp_path: Path, doc: dict[str, Any], phones: list[str], setup: Any) -> list[tuple[str, str]]:
    """(check's codes, scrub's codes) per row, "|"-joined; allowed rows give ""."""
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        setup(store, store.org_id("default"))
        campaign = parse_campaign(doc)
        path = tmp_path / "in.csv"
        path.write_text("id;Téléphone\n" + "".join(f"r{i};{p}\n" for i, p in enumerate(phones)), encoding="utf-8")
        scrub(open_source(path), campaign, tmp_path / "out", store)
        with (tmp_path / "out" / "blocked.csv").open(encoding="utf-8", newline="") as f:
            blocked = {r["id"]: r["reason_codes"] for r in csv.DictReader(f, delimiter=";")}
        gate = Gate(store)
        pairs = []
        for i, phone in enumerate(phones):
            req = ContactRequest(
                to=phone, at=campaign.start, channel=campaign.channel, caller=campaign.caller, message=campaign.message
            )
            want = gate.check(req)
            opens = want.next_allowed_at is not None and want.next_allowed_at <= campaign.end
            pairs.append(("" if opens else "|".join(dict.fromkeys(want.codes)), blocked.get(f"r{i}", "")))
        return pairs


def test_history_rows_list_reasons_in_checks_order(tmp_path: Path) -> None:
    """An SMS without STOP nor sender, to a number with a consent on record (judged over columns)
    and to one without: both in check's order (F4 opt-out, then sender)."""
    start = datetime(2026, 12, 1, 11, 0, tzinfo=PARIS)
    doc = {"channel": "sms", "caller": "ACME", "message": "Promo -20%", "start": start.isoformat()}
    doc["end"] = (start + timedelta(days=1)).isoformat()

    def setup(store: Store, org: int) -> None:
        store.add_consent(
            org, "+33612345678", collected_at=start - timedelta(days=10), channel="all", method="web", proof_text="ok"
        )

    pairs = scrub_and_check(tmp_path, doc, ["0612345678", "0781234567"], setup)
    assert pairs[0][0].startswith("SMS_OPT_OUT_MISSING|SMS_SENDER_MISSING")
    assert [got for _, got in pairs] == [want for want, _ in pairs]


def test_facts_under_another_writing_of_a_number_count_for_neither(tmp_path: Path) -> None:
    """The store takes any E.164-shaped text. check reads a number's facts under its own E.164 only;
    so must the batch: an opposition under +33 692... (a Réunion mobile is +262 692...) and a consent
    under +590 612... (a metro mobile is +33 6...) are not the rows' numbers."""
    start = datetime(2026, 12, 1, 11, 0, tzinfo=PARIS)
    doc = {"caller": NPV, "start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}

    def setup(store: Store, org: int) -> None:
        at = start - timedelta(days=10)
        store.add_consent(org, "+262692123456", collected_at=at, channel="all", method="web", proof_text="ok")
        store.add_opposition(org, "+33692123456", at=start - timedelta(days=5), source="manual")
        store.add_consent(org, "+590612345678", collected_at=at, channel="all", method="web", proof_text="ok")

    pairs = scrub_and_check(tmp_path, doc, ["0692123456", "0612345678"], setup)
    assert pairs == [("", ""), ("NO_CONSENT", "NO_CONSENT")]
