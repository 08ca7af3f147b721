"""Judging numbers with a history (consents, withdrawals, oppositions, attempts) over columns.

This is `rules.engine.decide` for the rows of a batch whose number has facts of its own, rewritten
over arrays: the same rules at the same instants, the same search for the earliest allowed instant
(re-evaluate everything at the latest instant a temporal reason clears, until nothing blocks or
something waiting cannot cure does). The rules that do not read the number's history (callee,
caller, content, sector, days and hours) are evaluated by the scalar code itself, once per
place and instant. Rows this module does not cover go to the scalar engine with their own facts:
an agreed out-of-hours slot (A7), a contract when the offers relate to contracts (A4, F2), the
Bloctel regime (A11), a law that changes before the row opens. The differential test
(tests/test_scrub_differential.py) holds both engines to the same reason codes and instants.
"""

from __future__ import annotations

from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prospectguard.batch.campaign import Campaign
from prospectguard.batch.classify import Parsed, canonical_head
from prospectguard.batch.csvbytes import value_bytes
from prospectguard.law import Law, LawAt
from prospectguard.model import Audience, Channel, Facts, Location, NumberType, PhoneNumber, Reason
from prospectguard.rules.callee import check_callee
from prospectguard.rules.caller_id import check_caller_id
from prospectguard.rules.catalogue import CODES, TEMPORAL
from prospectguard.rules.consent import consent_law
from prospectguard.rules.content import check_sms_content
from prospectguard.rules.context import Context
from prospectguard.rules.engine import _HORIZON, _MAX_STEPS, parse_caller
from prospectguard.rules.sector import check_sector
from prospectguard.rules.timing import check_call_hours, check_sms_quiet_hours, hours_of

_ANY = PhoneNumber("0612345678", "+33612345678", NumberType.MOBILE, "FR-metro", "Europe/Paris", "0612345678")
NONE = np.iinfo(np.int64).max  # "no instant": no expiry, no end
NEVER = -1  # a temporal reason that does not clear
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="history-load")
BIT = {code: 1 << i for i, code in enumerate(CODES)}
TEMPORAL_BITS = sum(BIT[c] for c in TEMPORAL)
# The order `decide` reports reasons in: the order its rules run.
ORDER = (
    "CALLEE_INVALID",
    "CALLEE_FOREIGN",
    "CALLEE_NOT_PROSPECTABLE",
    "CALLER_ID_MASKED",
    "CALLER_ID_INVALID",
    "CALLER_ID_MOBILE",
    "CALLER_ID_FORBIDDEN_RANGE",
    "CALLER_ID_NOT_NPV",
    "CALLER_ID_NOT_ASSIGNED",
    "SMS_OPT_OUT_MISSING",
    "SMS_SENDER_MISSING",
    "SECTOR_BANNED",
    "OPPOSITION",
    "NO_CONSENT",
    "CONSENT_EXPIRED",
    "CONSENT_WITHDRAWN",
    "BLOCTEL_REGISTERED",
    "BLOCTEL_LIST_STALE",
    "NON_WORKING_DAY",
    "PUBLIC_HOLIDAY",
    "OUTSIDE_HOURS",
    "POLICY_SMS_QUIET_HOURS",
    "FREQUENCY_CAP",
    "REFUSAL_COOLDOWN",
)


def us(values: list[Any]) -> np.ndarray:
    """Instants as the store's driver returns them (aware datetimes, or SQLite's UTC text), None
    allowed -> int64 microseconds since the epoch, UTC; None -> NONE."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, str):
        arr = pa.array(values, pa.string()).cast(pa.timestamp("us"))
    else:
        arr = pa.array(values, pa.timestamp("us", tz="UTC"))
    out: np.ndarray = arr.cast(pa.int64()).fill_null(NONE).to_numpy()
    return out


# E.164 heads of the French plan and what precedes the last digits in the national form.
_FR_HEADS = (("+33", 9, 0), ("+262", 9, 0), ("+590", 9, 0), ("+594", 9, 0), ("+596", 9, 0), ("+508", 6, 508_000_000))


def national_of_e164(e164: pa.Array) -> np.ndarray:
    """Stored E.164 numbers -> the 10-digit national number as an integer, as `classify` keys a row's
    number (+33 6 12 34 56 78 -> 612345678; +262 692... -> 692...; +508 41 23 45 -> 508412345);
    -1 for the rest: foreign numbers, and writings that are not the number's own E.164 (the store
    takes any E.164-shaped text: +33 692..., a Réunion mobile under the wrong code, is not the
    number `check` looks up, so the batch must not find it either)."""
    out = np.full(len(e164), -1, np.int64)
    # Over the text's bytes, each head and digit where it must sit: a stray byte among the digits
    # makes the number unknown here (-1), where a cast of the text to an integer raised.
    data, offsets = value_bytes(pc.fill_null(e164, ""))
    starts, lengths = offsets[:-1], np.diff(offsets)
    for head, digits, offset in _FR_HEADS:
        cand = np.flatnonzero(lengths == len(head) + digits)
        if not len(cand):
            continue
        at = starts[cand]
        ok = np.ones(len(cand), bool)
        for k, byte in enumerate(head.encode()):
            ok &= data[at + k] == byte
        value = np.zeros(len(cand), np.int64)
        for k in range(len(head), len(head) + digits):
            digit = data[at + k] - np.uint8(48)  # wraps below '0': > 9 for every non-digit
            ok &= digit <= 9
            value = value * 10 + digit
        idx, national = cand[ok], value[ok] + offset
        own = canonical_head(national) == head
        out[idx[own]] = national[own]
    return out


class Numbers(NamedTuple):
    """A history table's numbers: as stored (E.164 text) and as `national_of_e164` keys them."""

    e164: pa.Array
    national: np.ndarray


def numbers_of(name: str, table: pa.Table) -> Numbers:
    """The numbers of one table of `store.arrow.history_tables` (`name` unused: the shape of its
    `each` hook)."""
    e164 = table["e164"].combine_chunks().cast(pa.string())
    return Numbers(e164, national_of_e164(e164))


def national_to_e164(national: int) -> str:
    """The inverse of `national_of_e164` for one number (through the plan, as `parse` does)."""
    from prospectguard.numbering import parse

    number = parse(f"0{national:09d}")
    assert number.e164 is not None, national
    return number.e164


def instant(value: int, zone: str) -> datetime:
    return (EPOCH + timedelta(microseconds=int(value))).astimezone(ZoneInfo(zone))


@dataclass
class Events:
    """One table of a history, sorted by (number index u, time, id): `decide`'s order per number."""

    u: np.ndarray
    at: np.ndarray
    extra: dict[str, np.ndarray]
    first: np.ndarray  # first[u]: index of number u's first event; first[u + 1] - first[u] events

    @classmethod
    def build(cls, u: np.ndarray, at: np.ndarray, ids: np.ndarray, numbers: int, **extra: np.ndarray) -> Events:
        order = event_order(u, at, ids)
        first = np.zeros(numbers + 1, np.int64)
        np.cumsum(np.bincount(u, minlength=numbers), out=first[1:])
        return cls(u[order], at[order], {k: v[order] for k, v in extra.items()}, first)


def event_order(u: np.ndarray, at: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """`np.lexsort((ids, at, u))`, in a fraction of its time when most numbers have one event (the
    usual history: 2 million oppositions, 1.0 s -> about 0.2 s). One plain sort of u packed with the
    row index orders by number; only the numbers with several events are sorted again by instant and id."""
    n = len(u)
    if n == 0:
        return np.zeros(0, np.int64)
    if n >= 1 << 33 or int(u.min()) < 0 or int(u.max()) >= 1 << 30:  # beyond the packing: the plain way
        out: np.ndarray = np.lexsort((ids, at, u))
        return out
    packed = np.sort((u.astype(np.int64) << 33) | np.arange(n, dtype=np.int64))
    order: np.ndarray = packed & ((1 << 33) - 1)
    number = packed >> 33
    same = number[1:] == number[:-1]
    if not same.any():
        return order
    shared = np.zeros(n, bool)  # rows of a number with several events: contiguous runs in `order`
    shared[1:] |= same
    shared[:-1] |= same
    where = np.flatnonzero(shared)
    if len(where) > n // 2:  # mostly numbers with several events: the plain way is then quicker
        plain: np.ndarray = np.lexsort((ids, at, u))
        return plain
    rows = order[where]
    order[where] = rows[np.lexsort((ids[rows], at[rows], u[rows]))]
    return order


_LOW = (1 << 27) - 1  # the bits of a number `History.lookup`'s filter is indexed by


def _bits_set(bits: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether bit `v` of the bit array `bits` (bit k of byte b is value 8b + k) is set, per value."""
    found: np.ndarray = ((bits[values >> 3] >> (values & 7).astype(np.uint8)) & 1).astype(bool)
    return found


def pairs(row_u: np.ndarray, events: Events) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, event) of the same number, sorted by row then event."""
    start = events.first[row_u]
    counts = events.first[row_u + 1] - start
    has = np.flatnonzero(counts)
    start, counts = start[has], counts[has]
    if not len(has) or int(counts.max()) == 1:  # one event a number at most (the usual table): no repeat
        return has, start
    rows = np.repeat(has, counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(start, counts) + offsets


def last_per_row(rows: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among pairs sorted by row, the last pair where `mask` holds, per row: (rows, pair index)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return idx, idx
    r = rows[idx]
    last = np.r_[r[1:] != r[:-1], True]
    return r[last], idx[last]


@dataclass
class History:
    """An organisation's history (from `Store.history_columns`) indexed by number for a batch.

    Numbers are keyed as the batch keys its rows (`classify`): the 10-digit national number as an
    integer for French numbers, the E.164 text for the rest; `u` is a number's index here.
    """

    keys: np.ndarray  # sorted int64 national numbers; u = position
    others: dict[str, int]  # E.164 -> u (>= len(keys)) for numbers without a national integer
    consents: Events  # extra: covers (bool, the campaign's channel), proof (bool), expires_at, slot (bool)
    withdrawals: Events
    oppositions: Events  # extra: active
    attempts: Events  # extra: voice, refused
    contract_u: np.ndarray  # numbers with a contract (sorted unique u)
    _filter: np.ndarray | None = field(default=None, repr=False)  # see `lookup`

    @classmethod
    def of_numbered(cls, numbered: dict[str, tuple[pa.Table, Numbers]], channel: Channel) -> History:
        """From `store.arrow.history_tables_with(..., numbers_of)`, each table with its numbers (read
        while the next table was fetched): every number keyed, every table sorted, over columns."""
        tables = {name: table for name, (table, _) in numbered.items()}
        e164_of = {name: numbers.e164 for name, (_, numbers) in numbered.items()}
        national_of = {name: numbers.national for name, (_, numbers) in numbered.items()}
        # Keys and every event's u in one sort of all the numbers (a binary search per event, in
        # random order, costs several times more). The tables' own work (events sorted) runs on two
        # threads: numpy and Arrow release the GIL, and the scrub's other threads wait for this history.
        names = list(national_of)
        every = np.concatenate([national_of[n] for n in names] or [np.zeros(0, np.int64)])
        french = np.flatnonzero(every >= 0)
        # Numbers are below 10**9 < 2**30 (`national_of_e164` keeps no other), positions below 2**33:
        # one plain sort of both packed in an int64 is an argsort in half its time.
        if len(french) and (int(every.max()) >= 1 << 30 or len(french) >= 1 << 33):
            order = np.argsort(every[french])  # beyond the packing (not met: the plain way)
            ordered = every[french][order]
        else:
            packed = np.sort((every[french] << 33) | np.arange(len(french), dtype=np.int64))
            order = packed & ((1 << 33) - 1)
            ordered = packed >> 33
            del packed
        new = np.empty(len(ordered), bool)
        new[:1] = True
        new[1:] = ordered[1:] != ordered[:-1]
        keys = ordered[new]
        u_all = np.full(len(every), -1, np.int64)
        u_all[french[order]] = np.cumsum(new) - 1
        # Numbers without a national form (foreign): few; keyed by their E.164 text after the French ones.
        others: dict[str, int] = {}
        for name, arr in e164_of.items():
            idx = np.flatnonzero(national_of[name] < 0)
            for number in pc.take(arr, pa.array(idx)).to_pylist() if len(idx) else []:
                others.setdefault(number, len(keys) + len(others))
        bounds = np.cumsum([0, *(len(national_of[n]) for n in names)])
        u_of_name = {n: u_all[bounds[i] : bounds[i + 1]] for i, n in enumerate(names)}

        def u_of(table: pa.Table) -> np.ndarray:
            name = next(k for k, t in tables.items() if t is table)
            nat = national_of[name]
            u = u_of_name[name].copy()
            foreign = np.flatnonzero(nat < 0)
            if len(foreign):
                texts = pc.take(e164_of[name], pa.array(foreign)).to_pylist()
                u[foreign] = [others[x] for x in texts]
            return u

        def col(table: pa.Table, name: str) -> np.ndarray:
            out: np.ndarray = table[name].to_numpy()
            return out

        numbers = len(keys) + len(others)
        c = tables["consents"]
        channels = c["channel"].cast(pa.string())
        covers = pc.or_(pc.equal(channels, "all"), pc.equal(channels, channel.value))
        o, a, w = tables["oppositions"], tables["attempts"], tables["withdrawals"]
        built = {
            "consents": _POOL.submit(
                Events.build,
                u_of(c),
                col(c, "at"),
                col(c, "id"),
                numbers,
                covers=covers.to_numpy(zero_copy_only=False).astype(bool),
                proof=col(c, "proof").astype(bool),
                expires_at=c["expires_at"].fill_null(NONE).to_numpy(),
                slot=col(c, "slot").astype(bool),
            ),
            "withdrawals": _POOL.submit(Events.build, u_of(w), col(w, "at"), col(w, "id"), numbers),
            "oppositions": _POOL.submit(
                Events.build, u_of(o), col(o, "at"), col(o, "id"), numbers, active=col(o, "active").astype(bool)
            ),
            "attempts": _POOL.submit(
                Events.build,
                u_of(a),
                col(a, "at"),
                col(a, "id"),
                numbers,
                voice=pc.equal(a["channel"].cast(pa.string()), "voice").to_numpy(zero_copy_only=False).astype(bool),
                refused=pc.equal(a["outcome"].cast(pa.string()), "refused").to_numpy(zero_copy_only=False).astype(bool),
            ),
        }
        history = cls(
            keys=keys,
            others=others,
            consents=built["consents"].result(),
            withdrawals=built["withdrawals"].result(),
            oppositions=built["oppositions"].result(),
            attempts=built["attempts"].result(),
            contract_u=np.unique(u_of(tables["contracts"])),
        )
        history._bits()  # built with the history, on its thread, rather than in the first look-up
        return history

    def _bits(self) -> np.ndarray:
        if self._filter is None:
            low = self.keys & _LOW
            bits = np.zeros((_LOW + 1) // 8, np.uint8)
            np.bitwise_or.at(bits, low >> 3, (1 << (low & 7)).astype(np.uint8))
            self._filter = bits
        return self._filter

    def number_of(self, u: int) -> str:
        """The E.164 form of number u (to read its facts as objects for `decide`)."""
        if u < len(self.keys):
            return national_to_e164(int(self.keys[u]))
        return next(number for number, v in self.others.items() if v == u)

    def lookup(self, parsed: Parsed) -> np.ndarray:
        """u of each row's number, -1 when it has no history."""
        u = np.full(len(parsed.national), -1, np.int64)
        if len(self.keys):
            rows, ordered = parsed.by_number()  # sorted needles: the binary searches walk the keys in order
            # Most rows have no history: a bit per value of a number's low 27 bits (16 MB, set for the
            # keys) rules them out at the cost of one look-up each, a binary search a third as many
            # (2.4 million keys: false positives ~2 %, and a search then settles them).
            maybe = np.flatnonzero(_bits_set(self._bits(), ordered & _LOW))
            rows, ordered = rows[maybe], ordered[maybe]
            pos = np.minimum(np.searchsorted(self.keys, ordered), len(self.keys) - 1)
            hit = self.keys[pos] == ordered
            u[rows[hit]] = pos[hit]
        for i, key in parsed.other_key.items():
            found = self.others.get(key)
            if found is not None:
                u[i] = found
        return u


@dataclass(frozen=True, slots=True)
class Outcome:
    """Per row: the reasons at the campaign's start (bits, plus what their messages need) and the
    earliest allowed instant (NONE: none); `scalar` rows must go through `decide`."""

    bits: np.ndarray
    attempts_30d: np.ndarray
    unproven: np.ndarray
    next_at: np.ndarray
    scalar: np.ndarray


class Timed:
    """The rules that read no history, evaluated by the scalar code once per (place, instant)."""

    def __init__(self, campaign: Campaign, org: Facts, law: Law) -> None:
        self.campaign = campaign
        self.org = org
        self.law = law
        self._timed: dict[tuple[Location, int], tuple[int, int, list[Reason]]] = {}
        self._static: dict[tuple[object, ...], tuple[int, list[Reason], LawAt]] = {}
        self._steps: dict[tuple[Location, date, int], tuple[int, int]] = {}
        self._bounds: dict[LawAt, list[time]] = {}

    def context(self, callee: PhoneNumber | None, location: Location, at_us: int) -> Context:
        at = EPOCH + timedelta(microseconds=at_us)
        number = callee or _ANY
        req = self.campaign.request(number.raw)
        caller = parse_caller(req)
        return Context(req, at, self.org, number, caller, location, self.law)

    def static(self, callee: PhoneNumber, location: Location, at_us: int) -> tuple[int, list[Reason], LawAt]:
        """Callee, caller, content (timeless) and sector at the start: non-temporal reasons."""
        key = (callee.type, callee.territory, callee.national and callee.national[:5], location)
        found = self._static.get(key)
        if found is None:
            ctx = self.context(callee, location, at_us)
            for rule in (check_callee, check_caller_id, check_sms_content, check_sector):
                rule(ctx)
            found = self._static[key] = (sum(BIT[r.code] for r in ctx.reasons), list(ctx.reasons), ctx.law)
        return found

    def timed(self, location: Location, at_us: int) -> tuple[int, int, list[Reason]]:
        """Days and hours at `at_us`: (bits, when they clear (NEVER: they do not), reasons)."""
        key = (location, at_us)
        found = self._timed.get(key)
        if found is None:
            ctx = self.context(None, location, at_us)
            check_call_hours(ctx)
            check_sms_quiet_hours(ctx)
            bits = sum(BIT[r.code] for r in ctx.reasons)
            if None in ctx.clears:
                clears = NEVER
            else:
                clears = max((int((c - EPOCH) / timedelta(microseconds=1)) for c in ctx.clears if c), default=0)
            found = self._timed[key] = (bits, clears, list(ctx.reasons))
        return found

    def step(self, location: Location, at_us: int) -> tuple[int, int]:
        """`timed(location, at_us)`'s (bits, when they clear), evaluated once per stretch of a local
        day between two consecutive window bounds of the law in force that day (B1's and F6's): in one
        stretch the day and the side of every bound are the same, and so are both rules' answers.
        Why: the instants `judge_history` steps to are mostly each row's own (a call's 30th day),
        and `timed` costs ~70 µs an instant, ~8,000 of them on the benchmark file."""
        local = instant(at_us, location.timezone)
        day = local.date()
        law = self.law.at(day)  # the law of the consumer's day, as Context reads it
        bounds = self._bounds.get(law)
        if bounds is None:
            hours = [hours_of(law, rule) for rule in ("B1", "F6")]
            bounds = self._bounds[law] = sorted({t for h in hours if h for w in h.windows for t in w})
        key = (location, day, bisect_right(bounds, local.time()))
        found = self._steps.get(key)
        if found is None:
            bits, clears, _ = self.timed(location, at_us)
            found = self._steps[key] = (bits, clears)
        return found


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values in order of appearance, each value's index among them): a hash, not a sort."""
    encoded = pa.array(values).dictionary_encode()
    distinct: np.ndarray = encoded.dictionary.to_numpy(zero_copy_only=False)
    index: np.ndarray = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return distinct, index


def groups(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs of two int64 columns (a 2-D array, one row per group) and each row's group."""
    a_values, a_index = factorize(a.astype(np.int64))
    b_values, b_index = factorize(b.astype(np.int64))
    width = max(len(b_values), 1)
    codes, group = factorize(a_index * width + b_index)
    keys = np.empty((len(codes), 2), np.int64)
    keys[:, 0] = a_values[codes // width]
    keys[:, 1] = b_values[codes % width]
    return keys, group


def judge_history(
    campaign: Campaign,
    timed: Timed,
    cls: np.ndarray,
    reps: list[PhoneNumber],
    loc: np.ndarray,
    places: list[Location],
    row_u: np.ndarray,
    history: History,
) -> Outcome:
    """The decisions of rows with histories, over arrays. Row i: callee class `cls[i]` (`reps`), the
    consumer's location `loc[i]` (`places`), number index `row_u[i]` in `history`."""
    n = len(row_u)
    start = int((campaign.start - EPOCH) / timedelta(microseconds=1))
    voice = campaign.channel is Channel.VOICE
    consumer = campaign.audience is Audience.CONSUMER
    h = history

    # Rows the columns do not cover go to `decide`.
    scalar = np.zeros(n, bool)
    cp_rows, cp_ev = pairs(row_u, h.consents)
    if h.consents.extra["slot"].any():
        scalar[np.unique(cp_rows[h.consents.extra["slot"][cp_ev]])] = True
    if campaign.about_contract and len(h.contract_u):
        scalar |= np.isin(row_u, h.contract_u)
    op_rows, op_ev = pairs(row_u, h.oppositions)
    wd_rows, wd_ev = pairs(row_u, h.withdrawals)
    at_rows, at_ev = pairs(row_u, h.attempts)

    static_bits = np.zeros(n, np.int64)
    laws: list[LawAt] = []
    if n:
        keys, group = groups(cls, loc)
        group_bits = np.zeros(len(keys), np.int64)
        for g, (c, l_) in enumerate(keys.tolist()):
            if reps[c].type is NumberType.INVALID:
                group_bits[g] = -1
                continue
            found_bits, _, law_g = timed.static(reps[c], places[l_], start)
            group_bits[g] = found_bits
            if law_g not in laws:
                laws.append(law_g)
        static_bits = group_bits[group]
        scalar |= static_bits < 0
    if len(laws) > 1 or (laws and consent_law(laws[0]).a11):
        scalar[:] = True  # the law differs between the rows' places, or the Bloctel regime (A11)
    if scalar.all() or not laws:
        empty = np.zeros(n, np.int64)
        return Outcome(empty, empty, np.zeros(n, bool), np.full(n, NONE, np.int64), np.ones(n, bool))
    law = laws[0]
    cl = consent_law(law)
    cap = law.value("B3", "max_attempts")
    window = int(law.value("B3", "window_days") or 0) * 86_400_000_000
    pause_days = law.value("B4", "cooldown_days")
    pause = int(pause_days or 0) * 86_400_000_000
    term = int(cl.max_term / timedelta(microseconds=1)) if (cl.max_term is not None and voice) else None
    opposition_applies = bool(law.value("G3", "applies"))
    # check_consent without contracts (rows with one, when offers relate to contracts, are scalar).
    a1 = consumer and voice and cl.a1 and campaign.sector not in cl.press_sectors
    f1 = not a1 and consumer and (not voice or campaign.automated) and cl.f1
    consent_rule_bits = a1 or f1
    # What the steps below read of each pair's event, gathered once (and only for this chunk's events,
    # not the whole history's).
    ca = h.consents.at[cp_ev]
    c_end = h.consents.extra["expires_at"][cp_ev]
    if term is not None:
        c_end = np.minimum(c_end, np.where(ca > NONE - term, NONE, ca + term))
    c_covers = h.consents.extra["covers"][cp_ev]
    c_ok = c_covers & h.consents.extra["proof"][cp_ev]
    c_unproven = c_covers & ~h.consents.extra["proof"][cp_ev]
    o_at, o_active = h.oppositions.at[op_ev], h.oppositions.extra["active"][op_ev].astype(bool)
    w_at = h.withdrawals.at[wd_ev]
    a_at = h.attempts.at[at_ev]
    is_voice = h.attempts.extra["voice"][at_ev].astype(bool)
    refused = is_voice & h.attempts.extra["refused"][at_ev].astype(bool)

    # Before `law_until` every place is still under `law`: no value changes between the start's local
    # date (never before the UTC date's eve) and the next change day, and an instant before that
    # day's eve, UTC midnight, is before the day itself in every zone (none is a day ahead of UTC).
    change = timed.law.next_change(campaign.start.astimezone(UTC).date() - timedelta(days=1))
    law_until = (
        NONE
        if change is None
        else int((datetime.combine(change, time(), UTC) - timedelta(days=1) - EPOCH) / timedelta(microseconds=1))
    )
    t = np.full(n, start, np.int64)
    active = ~scalar
    next_at = np.full(n, NONE, np.int64)
    bits0: np.ndarray = np.zeros(n, np.int64)
    attempts0: np.ndarray = np.zeros(n, np.int64)
    unproven0 = np.zeros(n, bool)
    horizon = int(_HORIZON / timedelta(microseconds=1))
    for step in range(_MAX_STEPS):
        if not active.any():
            break
        bits = np.where(active, static_bits, 0) if step == 0 else np.zeros(n, np.int64)
        clears = np.zeros(n, np.int64)
        never = np.zeros(n, bool)
        # G3: the latest opposition event at or before t.
        if opposition_applies and len(op_rows):
            r, p = last_per_row(op_rows, o_at <= t[op_rows])
            opposed = o_active[p]
            bits[r[opposed]] |= BIT["OPPOSITION"]
        # A1/F1 with A10: a proven consent for the channel, collected, not withdrawn, not expired.
        if consent_rule_bits:
            w_last = np.full(n, -1, np.int64)
            if len(wd_rows):
                r, p = last_per_row(wd_rows, w_at <= t[wd_rows])
                w_last[r] = w_at[p]
            tc = t[cp_rows]
            proven = c_ok & (ca <= tc)
            withdrawn = w_last[cp_rows] >= ca
            valid = proven & ~withdrawn & (tc < c_end)
            has_valid = np.zeros(n, bool)
            has_valid[cp_rows[valid]] = True
            has_proven = np.zeros(n, bool)
            has_proven[cp_rows[proven]] = True
            latest = np.full(n, -1, np.int64)
            r, p = last_per_row(cp_rows, proven)  # consents sorted by time: the last proven is the latest
            latest[r] = ca[p]
            lacking = ~has_valid
            was_withdrawn = has_proven & (w_last >= latest)
            bits[lacking & has_proven & was_withdrawn] |= BIT["CONSENT_WITHDRAWN"]
            bits[lacking & has_proven & ~was_withdrawn] |= BIT["CONSENT_EXPIRED"]
            bits[lacking & ~has_proven] |= BIT["NO_CONSENT"]
            if step == 0:
                unproven0[cp_rows[c_unproven]] = True
        # B1 / F6: days and hours, from the scalar rules, once per (place, instant).
        live = np.flatnonzero(active)
        if len(live):
            keys, group = groups(loc[live], t[live])
            found = [timed.step(places[l_], at_) for l_, at_ in keys.tolist()]
            g_bits = np.array([f[0] for f in found], np.int64)[group]
            g_clears = np.array([f[1] for f in found], np.int64)[group]
            bits[live] |= g_bits
            never[live] |= (g_bits != 0) & (g_clears == NEVER)
            clears[live] = np.maximum(clears[live], np.where(g_bits != 0, g_clears, 0))
        # B3 and B4: voice attempts in the last 30 days; a refusal in the last 60.
        if voice and consumer and len(at_rows):
            ta = t[at_rows]
            if cap is not None:
                recent = is_voice & (a_at > ta - window) & (a_at <= ta)
                count = np.bincount(at_rows[recent], minlength=n)
                if step == 0:
                    attempts0 = count
                capped_rows = count >= cap
                if capped_rows.any():
                    idx = np.flatnonzero(recent)
                    rr = at_rows[idx]
                    first = np.r_[True, rr[1:] != rr[:-1]]
                    group_start = np.maximum.accumulate(np.where(first, np.arange(len(idx)), 0))
                    rank = np.arange(len(idx)) - group_start
                    pick = capped_rows[rr] & (rank == count[rr] - cap)
                    clears_at = a_at[idx[pick]] + window
                    bits[rr[pick]] |= BIT["FREQUENCY_CAP"]
                    clears[rr[pick]] = np.maximum(clears[rr[pick]], clears_at)  # one pick per row
            if pause_days is not None:
                refusal = refused & (a_at > ta - pause) & (a_at <= ta)
                if refusal.any():
                    r, p = last_per_row(at_rows, refusal)
                    bits[r] |= BIT["REFUSAL_COOLDOWN"]
                    clears[r] = np.maximum(clears[r], a_at[p] + pause)  # one per row
        bits &= np.where(active, -1, 0)
        if step == 0:
            bits0 = bits.copy()
        free = active & (bits == 0)
        next_at[free] = t[free]
        stuck = active & (((bits & ~TEMPORAL_BITS) != 0) | never)
        active &= ~(free | stuck)
        later = np.where(active, clears, 0)
        gone = active & ((later <= t) | (later - start > horizon))
        active &= ~gone
        t = np.where(active, later, t)
        # A later instant under another law: the scalar engine re-reads the law for it.
        live = np.flatnonzero(active & (t >= law_until))
        if len(live):
            keys, group = groups(loc[live], t[live])
            other = np.array(
                [timed.law.at(instant(at_, places[l_].timezone).date()) is not law for l_, at_ in keys.tolist()], bool
            )[group]
            scalar[live[other]] = True
            active[live[other]] = False
    else:
        scalar |= active  # more steps than `decide` takes: let it answer
    return Outcome(bits0, attempts0, unproven0, next_at, scalar)


def reasons_of(
    bits: int,
    attempts_30d: int,
    unproven: bool,
    static: list[Reason],
    timed: list[Reason],
    law: LawAt,
    campaign: Campaign,
) -> list[Reason]:
    """The reasons of a row in `decide`'s order; messages for history reasons name no date (the
    evidence is in `consent show` and the audit trail)."""
    made: dict[str, Reason] = {r.code: r for r in (*static, *timed)}

    def add(code: str, rule: str, message: str) -> None:
        made[code] = Reason(code, CODES[code][0], rule, law.reference(rule), message)

    channel = campaign.channel.value
    cl = consent_law(law)
    voice_a1 = campaign.channel is Channel.VOICE and campaign.audience is Audience.CONSUMER and cl.a1
    consent_rule = "A1" if voice_a1 and campaign.sector not in cl.press_sectors else "F1"
    if bits & BIT["OPPOSITION"]:
        add("OPPOSITION", "G3", "Number objected before the campaign's start")
    if bits & BIT["NO_CONSENT"]:
        what = "a consent without proof does not count (A3)" if unproven else "none on record"
        add("NO_CONSENT", consent_rule, f"No valid {channel} consent: {what}")
    if bits & BIT["CONSENT_EXPIRED"]:
        add("CONSENT_EXPIRED", "A10", "The latest consent expired before the campaign's start")
    if bits & BIT["CONSENT_WITHDRAWN"]:
        add("CONSENT_WITHDRAWN", "A10", "The latest consent was withdrawn")
    if bits & BIT["FREQUENCY_CAP"]:
        cap = law.value("B3", "max_attempts")
        days = law.value("B3", "window_days")
        add("FREQUENCY_CAP", "B3", f"{attempts_30d} calls or attempts in the last {days} days (at most {cap})")
    if bits & BIT["REFUSAL_COOLDOWN"]:
        add("REFUSAL_COOLDOWN", "B4", f"Consumer refused: no contact for {law.value('B4', 'cooldown_days')} days")
    return [made[c] for c in ORDER if c in made and bits & BIT[c]]
