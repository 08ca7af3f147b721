"""Judging the rows of a chunk: the same `decide`, the same store facts as `prospectguard check`.

Each row is the contact the campaign describes, at the campaign's start. Most numbers of a prospect
file have no history in the store; for them the decision depends only on what the rules read of the
number (its plan row, type, territory, zone) and of the consumer's location, so it is computed once
per such profile and shared. Numbers with a history of their own are judged over columns by
`batch/history.py`, and the few cases it leaves by `decide` with their facts read from the store.
A row blocked only by waiting is allowed with a schedule when it opens before the campaign's end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prospectguard.batch.campaign import Campaign
from prospectguard.batch.classify import Classes, Parsed, classify
from prospectguard.batch.history import (
    EPOCH,
    NONE,
    History,
    Timed,
    factorize,
    groups,
    instant,
    judge_history,
    reasons_of,
)
from prospectguard.law import LAW, Law
from prospectguard.model import Decision, Facts, Location, NumberType, Reason
from prospectguard.numbering import METRO, locate, parse, valid_postcode, valid_territory
from prospectguard.rules import decide
from prospectguard.rules.catalogue import CODES

_ROWS_KEPT = 20_000
_VALUES_KEPT = 200_000
assert len(CODES) <= 27, "a history outcome's key packs the reasons in 27 bits"


class Row(NamedTuple):
    """The verdict on one row, in the words of the outputs."""

    allowed: bool
    e164: str
    territory: str
    timezone: str
    type: str
    next_allowed_at: datetime | None
    codes: tuple[str, ...]
    reasons: tuple[Reason, ...]
    late: datetime | None = None  # blocked only by waiting, but it opens after the campaign's end


def postcode_of(value: str | None) -> str | None:
    """A usable postcode, or None. Four digits are a postcode whose leading 0 a spreadsheet dropped."""
    if not value:
        return None
    code = value.strip()
    if len(code) == 4 and code.isdigit():
        code = "0" + code
    return code if valid_postcode(code) else None


def territory_of(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip()
    return code if valid_territory(code) else None


def _reason(code: str, message: str) -> Reason:
    kind, rule = CODES[code]
    return Reason(code=code, kind=kind, rule=rule, reference="", message=message)


@dataclass
class ChunkVerdict:
    """The verdicts of a chunk's rows: `verdicts[index[i]]` is row i's, `duplicate[i]` marks repeats."""

    verdicts: list[Row]
    index: np.ndarray  # int64 per row
    duplicate: np.ndarray  # bool per row
    e164: Callable[[np.ndarray], pa.Array]  # E.164 of the rows given ("" when none): for allowed rows

    def allowed(self) -> np.ndarray:
        ok = np.array([v.allowed for v in self.verdicts], bool)
        result: np.ndarray = ok[self.index] & ~self.duplicate if len(self.index) else np.zeros(0, bool)
        return result


@dataclass
class Prepared:
    """A chunk's rows before the history: numbers, shared verdict per row."""

    parsed: Parsed
    index: np.ndarray  # int64 per row, into the judge's verdicts


@dataclass
class Judge:
    """Judges the rows of one campaign, chunk by chunk; remembers shared decisions and numbers seen."""

    campaign: Campaign
    base: Facts = field(default_factory=Facts)
    law: Law = LAW
    duplicates_off: bool = False
    classes: Classes = field(default_factory=Classes)
    profiles: dict[tuple[int, int], int] = field(default_factory=dict)
    verdicts: list[Row] = field(default_factory=list)  # shared verdicts, by profile
    places: dict[Location, int] = field(default_factory=dict)
    place_reps: list[tuple[str | None, str | None]] = field(default_factory=list)
    # (is a postcode, the cell's text) -> location id (-1: none): the same few thousand postcodes come
    # back chunk after chunk; each is read and located once (up to _VALUES_KEPT of them).
    place_of_value: dict[tuple[bool, str], int] = field(default_factory=dict)
    seen_bits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    seen_other: set[str] = field(default_factory=set)
    # per profile (index into `verdicts`, shared ones first): callee class and location index
    profile_cls: list[int] = field(default_factory=list)
    profile_loc: list[int] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    location_ids: dict[Location, int] = field(default_factory=dict)
    timed_rules: Timed | None = None
    # History outcomes already met: most recur chunk after chunk, and making one (the reasons and
    # their messages) costs far more than finding it. Their reasons by outcome key (profile, reasons,
    # attempts, proof: few); their verdicts by key and instant, up to _ROWS_KEPT of them (an instant
    # can be one number's own, e.g. when its fourth call leaves the 30 days).
    history_reasons: dict[int, tuple[list[Reason], Row, str]] = field(default_factory=dict)
    history_rows: dict[tuple[int, int], Row] = field(default_factory=dict)

    def chunk(
        self,
        phones: pa.Array,
        postcodes: pa.Array | None,
        territories: pa.Array | None,
        facts_of: Callable[[list[str]], dict[str, Facts]] | None,
        history_of: Callable[[], History] | None,
        prepared: Prepared | None = None,
    ) -> ChunkVerdict:
        """`history_of` gives the store's history (it may wait for it to load): called once the
        chunk's numbers are classified. `prepared`: `self.prepare(...)`, done ahead by a reader."""
        n = len(phones)
        if prepared is None:
            prepared = self.prepare(phones, postcodes, territories)
        parsed, index = prepared.parsed, prepared.index
        # The shared verdicts as they are now: a reader preparing later chunks may append to them.
        verdicts = list(self.verdicts)
        # Numbers with a history of their own: judged with their own facts, over columns.
        if history_of is not None and facts_of is not None and n:
            history = history_of()
            row_u = history.lookup(parsed)
            own = np.flatnonzero(row_u >= 0)
            if len(own):
                self._histories(own, row_u[own], history, phones, postcodes, territories, facts_of, verdicts, index)
        # Repeats here, not in `prepare`: chunks come in file order on this thread too, and the reader,
        # the busier of the two, is spared.
        return ChunkVerdict(verdicts, index, self._duplicates(parsed), parsed.e164_at)

    def prepare(self, phones: pa.Array, postcodes: pa.Array | None, territories: pa.Array | None) -> Prepared:
        """What needs no history: the numbers classified, the verdict shared by each row's profile.
        A reader thread runs it chunks ahead while the store's history loads; it only
        appends to the judge's state (classes, places, profiles) and sees the chunks in file order."""
        n = len(phones)
        parsed = classify(phones, self.classes)
        place = self._places(n, postcodes, territories)
        # Shared verdicts: one `decide` per (class of callee, place given with the row).
        combined = parsed.cls.astype(np.int64) * (1 << 20) + (place + 1)
        keys, inverse = factorize(combined)
        local = np.empty(len(keys), np.int64)
        for j, key in enumerate(keys.tolist()):
            local[j] = self._profile(key >> 20, (key & ((1 << 20) - 1)) - 1)
        index = local[inverse.reshape(-1)] if n else np.zeros(0, np.int64)
        return Prepared(parsed, index)

    def _histories(
        self,
        own: np.ndarray,
        row_u: np.ndarray,
        history: History,
        phones: pa.Array,
        postcodes: pa.Array | None,
        territories: pa.Array | None,
        facts_of: Callable[[list[str]], dict[str, Facts]],
        verdicts: list[Row],
        index: np.ndarray,
    ) -> None:
        """Rows `own` have facts of their own: `history.judge_history` over columns, `decide` for the
        rows it leaves (A7 slots, contracts, Bloctel, a law change); each gets its verdict in `index`."""
        profile = index[own]
        timed = self._timed()
        cls = np.array(self.profile_cls, np.int64)[profile]
        loc = np.array(self.profile_loc, np.int64)[profile]
        outcome = judge_history(self.campaign, timed, cls, self.classes.reps, loc, self.locations, row_u, history)
        columnar = ~outcome.scalar & (loc >= 0)
        # One verdict per distinct outcome: (profile, reasons, attempts in 30 days, unproven) and instant.
        rows = np.flatnonzero(columnar)
        if len(rows):
            what = (
                ((profile[rows] << 27 | outcome.bits[rows]) << 9 | np.minimum(outcome.attempts_30d[rows], 511)) << 1
            ) | outcome.unproven[rows].astype(np.int64)
            keys, group = groups(what, outcome.next_at[rows])
            start = int((self.campaign.start - EPOCH) / timedelta(microseconds=1))
            first = len(verdicts)
            rows_made, reasons_made = self.history_rows, self.history_reasons
            for key, nxt in keys.tolist():
                row = rows_made.get((key, nxt))
                if row is None:
                    made = reasons_made.get(key)
                    if made is None:
                        unproven, attempts = key & 1, (key >> 1) & 511
                        bits, prof = (key >> 10) & ((1 << 27) - 1), key >> 37
                        location = self.locations[self.profile_loc[prof]]
                        rep = self.classes.reps[self.profile_cls[prof]]
                        _, static, law = timed.static(rep, location, start)
                        _, _, timed_reasons = timed.timed(location, start)
                        reasons = reasons_of(bits, attempts, bool(unproven), static, timed_reasons, law, self.campaign)
                        made = reasons_made[key] = (reasons, self.verdicts[prof], location.timezone)
                    reasons, base, zone = made
                    when = None if nxt == NONE else instant(nxt, zone)
                    row = self.verdict_of(reasons, when, base.territory, base.timezone, base.type)
                    if len(rows_made) < _ROWS_KEPT:
                        rows_made[(key, nxt)] = row
                verdicts.append(row)
            index[own[rows]] = first + group.reshape(-1)
        # The rest, one by one with `decide`.
        rest = np.flatnonzero(~columnar)
        if len(rest):
            numbers = [history.number_of(u) for u in row_u[rest].tolist()]
            found = facts_of(sorted(set(numbers)))
            raws = pc.take(pc.fill_null(phones, ""), pa.array(own[rest])).to_pylist()
            pcs = pc.take(postcodes, pa.array(own[rest])).to_pylist() if postcodes is not None else None
            ts = pc.take(territories, pa.array(own[rest])).to_pylist() if territories is not None else None
            for k, j in enumerate(rest.tolist()):
                postcode = postcode_of(pcs[k]) if pcs is not None else None
                territory = territory_of(ts[k]) if ts is not None else None
                req = self.campaign.request(raws[k], postcode, territory)
                facts = found.get(numbers[k], self.base)
                decision = decide(req, facts, callee=parse(raws[k]), law=self.law)
                index[own[j]] = len(verdicts)
                verdicts.append(self.verdict(decision))

    def _timed(self) -> Timed:
        if self.timed_rules is None:
            self.timed_rules = Timed(self.campaign, self.base, self.law)
        return self.timed_rules

    def _places(self, n: int, postcodes: pa.Array | None, territories: pa.Array | None) -> np.ndarray:
        """Per row, the id of the location its postcode (first) or territory code gives; -1: none."""
        place = np.full(n, -1, np.int64)
        for column, read, as_postcode in ((territories, territory_of, False), (postcodes, postcode_of, True)):
            if column is None or n == 0:
                continue
            encoded = pc.dictionary_encode(pc.fill_null(column, ""))
            ids = np.full(len(encoded.dictionary), -1, np.int64)
            known = self.place_of_value
            for j, value in enumerate(encoded.dictionary.to_pylist()):
                found_id = known.get((as_postcode, value))
                if found_id is None:
                    found_id = self._place_id(read(value), as_postcode)
                    if len(known) < _VALUES_KEPT:
                        known[(as_postcode, value)] = found_id
                ids[j] = found_id
            found = ids[encoded.indices.to_numpy(zero_copy_only=False)]
            place = np.where(found >= 0, found, place)  # the postcode, read last, wins
        return place

    def _place_id(self, code: str | None, as_postcode: bool) -> int:
        """The id of the location a postcode or territory code (as read) gives; -1: none."""
        if code is None:
            return -1
        where = locate(_ANY_METRO, code, None) if as_postcode else locate(_ANY_METRO, None, code)
        if where is None:
            return -1
        if where not in self.places:
            self.places[where] = len(self.place_reps)
            self.place_reps.append((code, None) if as_postcode else (None, code))
        return self.places[where]

    def _profile(self, cls: int, place: int) -> int:
        found = self.profiles.get((cls, place))
        if found is None:
            callee = self.classes.reps[cls]
            postcode, territory = self.place_reps[place] if place >= 0 else (None, None)
            req = self.campaign.request(callee.raw, postcode, territory)
            decision = decide(req, self.base, callee=callee, law=self.law)
            found = self.profiles[(cls, place)] = len(self.verdicts)
            self.verdicts.append(self.verdict(decision))
            # Where `decide` judged it: the place given, else the number's own, else Paris (section 3).
            where = locate(callee, postcode, territory)
            if where is None and callee.type is not NumberType.INVALID:
                where = METRO
            if where is not None and where not in self.location_ids:
                self.location_ids[where] = len(self.locations)
                self.locations.append(where)
            self.profile_cls.append(cls)
            self.profile_loc.append(self.location_ids[where] if where is not None else -1)
        return found

    def _duplicates(self, parsed: Parsed) -> np.ndarray:
        """Every occurrence of a number after its first in the file, however it is written."""
        n = len(parsed.national)
        dup = np.zeros(n, bool)
        if self.duplicates_off or n == 0:
            return dup
        rows, values = parsed.by_number()  # by number, then by row: a number's first row comes first
        if len(rows):
            if len(self.seen_bits) == 0:
                self.seen_bits = np.zeros(10**9 // 8 + 1, np.uint8)  # one bit per 10-digit national number
            repeat = np.empty(len(values), bool)
            repeat[0] = False
            np.equal(values[1:], values[:-1], out=repeat[1:])  # repeats inside the chunk
            byte, bit = values >> 3, (1 << (values & 7)).astype(np.uint8)
            repeat |= (self.seen_bits[byte] & bit) != 0  # seen in an earlier chunk (bytes read in order)
            dup[rows] = repeat
            # Mark them seen: OR the bits of the numbers sharing a byte, then one store per byte.
            starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self.seen_bits[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)
        for i, key in sorted(parsed.other_key.items()):
            if key in self.seen_other:
                dup[i] = True
            else:
                self.seen_other.add(key)
        return dup

    def verdict(self, decision: Decision) -> Row:
        shown = decision.callee
        return self.verdict_of(
            list(decision.reasons),
            decision.next_allowed_at,
            shown.territory or "",
            shown.timezone or "",
            shown.type.value,
        )

    def verdict_of(self, reasons: list[Reason], nxt: datetime | None, territory: str, timezone: str, kind: str) -> Row:
        """A decision in the scrub's terms: blocked only by waiting is allowed when it opens in time."""
        allowed = not reasons
        late = None
        if not allowed and nxt is not None:
            allowed = nxt <= self.campaign.end
            late = None if allowed else nxt
        return Row(
            allowed=allowed,
            e164="",
            territory=territory,
            timezone=timezone,
            type=kind,
            next_allowed_at=nxt if allowed else None,
            codes=tuple(dict.fromkeys(r.code for r in reasons)),
            reasons=tuple(reasons),
            late=late,
        )


DUPLICATE = _reason("DUPLICATE_IN_FILE", "This number already appears earlier in the file")
_ANY_METRO = parse("0612345678")  # a number without a place of its own: `locate` then reads the code given


def with_duplicate(row: Row) -> Row:
    return row._replace(
        allowed=False, next_allowed_at=None, codes=(*row.codes, DUPLICATE.code), reasons=(*row.reasons, DUPLICATE)
    )


def malformed(why: str) -> Row:
    return Row(False, "", "", "", "malformed", None, ("ROW_MALFORMED",), (_reason("ROW_MALFORMED", why),))


# What each reason means, in the fewest words: `blocked` says it on every row (millions of rows), with
# the rule id; the legal references are in summary.json and report.html, and `prospectguard check`
# tells the whole story of one number.
LABELS = {
    "CALLER_ID_MASKED": "caller number masked",
    "CALLER_ID_INVALID": "caller number invalid",
    "CALLER_ID_MOBILE": "mobile number presented",
    "CALLER_ID_FORBIDDEN_RANGE": "caller number in a forbidden range",
    "CALLER_ID_NOT_NPV": "automated call not from an NPV number",
    "CALLER_ID_NOT_ASSIGNED": "caller number not declared",
    "CALLEE_INVALID": "not a valid number",
    "CALLEE_NOT_PROSPECTABLE": "never a prospect (special, M2M or short number)",
    "CALLEE_FOREIGN": "outside the French numbering plan",
    "NON_WORKING_DAY": "not a working day",
    "PUBLIC_HOLIDAY": "public holiday",
    "OUTSIDE_HOURS": "outside calling hours",
    "NO_CONSENT": "no valid consent",
    "CONSENT_EXPIRED": "consent expired",
    "CONSENT_WITHDRAWN": "consent withdrawn",
    "BLOCTEL_REGISTERED": "on Bloctel",
    "BLOCTEL_LIST_STALE": "Bloctel list too old",
    "OPPOSITION": "opposition on record",
    "FREQUENCY_CAP": "call limit reached",
    "REFUSAL_COOLDOWN": "pause after a refusal",
    "SECTOR_BANNED": "sector banned",
    "SMS_OPT_OUT_MISSING": "no free STOP in the text",
    "SMS_SENDER_MISSING": "sender not identified",
    "POLICY_SMS_QUIET_HOURS": "SMS quiet hours",
    "DUPLICATE_IN_FILE": "number already earlier in the file",
}


def reasons_text(row: Row) -> str:
    """One short line a compliance officer can read: 'A1 no valid consent | B1 outside calling hours'."""
    parts = []
    for r in row.reasons:
        label = LABELS.get(r.code) or r.message  # ROW_MALFORMED, STORE_UNAVAILABLE: their own detail
        parts.append(f"{r.rule} {label}" if r.rule and r.rule != "—" else label)
    if row.late is not None:
        parts.append(f"opens at {row.late.isoformat()}, after the campaign's end")
    return " | ".join(parts)
