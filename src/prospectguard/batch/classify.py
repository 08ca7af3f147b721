"""Parsing a column of numbers at once: the common writings over columns, the rest through `parse`.

A national number (`06 12 34 56 78`, `06.12.34.56.78`), its E.164 forms (`+33 6...`, `0033 6...`,
`33 6...`, `+33 (0)6...`), the E.164 forms of the overseas departments (`+262 692...`) and a national
number whose leading 0 a spreadsheet ate are recognised over the column's bytes (numpy: separators
dropped in one pass, the last 9 digits and the head before them read as integers) and resolved from
the same 10-digit table `parse` reads. Every other value (foreign, short, M2M,
Saint-Pierre-et-Miquelon, junk) goes through `parse` itself, one by one. A test holds the two ways to
the same answer on every writing the batch meets.

Rows are grouped into classes: numbers the rules cannot tell apart (same plan row, type, territory,
zone, Alsace-Moselle calendar). A class carries one parsed representative.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prospectguard.batch.csvbytes import value_bytes
from prospectguard.model import NumberType, PhoneNumber
from prospectguard.numbering import PlanRow, parse, rule_of, ten_digit_rows

_KEY, _ROWS = ten_digit_rows()
_INVALID = parse("")
_KEYS = pa.array(sorted(_ROWS), pa.string())
_ROW_LIST = [_ROWS[k] for k in _KEYS.to_pylist()]
_ROW_CC = pa.array([r.country_code for r in _ROW_LIST], pa.string())
_PAIRS = sorted({(r.e164_head, r.drop) for r in _ROW_LIST})
_PAIR = np.array([_PAIRS.index((r.e164_head, r.drop)) for r in _ROW_LIST], np.int64)
_SEPARATORS = "[ \t\r\n\x0b\x0c.\\-/()\\[\\]\u00a0\u2007\u2009\u202f\u200b\u2010-\u2014\u2212\ufeff]"
# The common writings, over the value without separators: national (0 + 9 digits), E.164 with + or 00
# (+33, +262, +590, +594, +596, with an optional trunk 0 as in "+33 (0)6..."), 33 + 9 digits without
# a plus, and 9 digits whose leading 0 a spreadsheet ate. Each is a head before 9 digits (the first
# not 0); the national number is 0 + those 9 digits. Heads -> the country code they imply (None: none).
_HEAD_TO_CC: dict[str, str | None] = {"": None, "0": None, "33": "33"}
for _cc in ("33", "262", "590", "594", "596"):
    for _intl in ("+", "00"):
        _HEAD_TO_CC[_intl + _cc] = _cc
        _HEAD_TO_CC[_intl + _cc + "0"] = _cc
_PLAIN_SEPARATORS = (" ", ".", "-", "(", ")")


def _signature(number: PhoneNumber) -> tuple[object, ...]:
    """What the rules read of a callee besides its digits (see rules/callee.py, numbering.locate)."""
    alsace = number.national[:4] if number.alsace_moselle and number.national else None
    return (number.type, number.territory, number.timezone, number.alsace_moselle, rule_of(number), alsace)


@dataclass
class Classes:
    """Classes of callees met so far in a run, each with one parsed representative."""

    ids: dict[tuple[object, ...], int] = field(default_factory=dict)
    reps: list[PhoneNumber] = field(default_factory=list)
    row_class: np.ndarray = field(default_factory=lambda: np.full(len(_ROW_LIST), -1, np.int32))  # row -> class
    parsed: dict[str, PhoneNumber] = field(default_factory=dict)  # uncommon writings already parsed
    # Whether a foreign number's time zone is wanted: only when foreign numbers may be allowed (the
    # organisation switched CALLEE_FOREIGN off), as allowed rows show it (see `parse`).
    foreign_zones: bool = True

    def of(self, number: PhoneNumber) -> int:
        sig = _signature(number)
        found = self.ids.get(sig)
        if found is None:
            found = self.ids[sig] = len(self.reps)
            self.reps.append(number)
        return found

    def of_row(self, index: int, sample_national: str) -> int:
        found = int(self.row_class[index])
        if found < 0:
            number = parse(sample_national)
            row: PlanRow = _ROW_LIST[index]
            if (number.type, number.territory, number.timezone) != (row.type, row.territory, row.timezone):
                raise AssertionError(f"columnar parse disagrees with parse() on {sample_national}")
            found = self.of(number)
            self.row_class[index] = found
        return found


@dataclass
class Parsed:
    """One chunk's numbers: class per row, the national number or a key per row, E.164 on demand."""

    cls: np.ndarray  # int32, class id per row
    national: np.ndarray  # int64: the 10-digit French national number as an integer, -1 otherwise
    other_key: dict[int, str]  # row -> duplicate key for the rest (foreign E.164, short digits)
    pair: np.ndarray  # int64 per row: index in _PAIRS of its E.164 writing (common writings), else -1
    texts: dict[int, str]  # row -> E.164, for the rows `parse` read one by one
    _by_number: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def by_number(self) -> tuple[np.ndarray, np.ndarray]:
        """(the rows with a national number, ordered by that number then by row; their numbers, so
        ordered): one sort, shared by the history's look-up and the search for repeats."""
        if self._by_number is None:
            rows = np.flatnonzero(self.national >= 0)
            assert not len(rows) or int(self.national.max()) < 1 << 30, "a national number out of range"
            # Numbers are below 10**9 < 2**30 and rows below 2**33: both fit in one int64, and one
            # plain sort of it orders by number, then by row (a stable order without an argsort).
            packed = np.sort((self.national[rows] << 33) | rows)
            self._by_number = (packed & ((1 << 33) - 1), packed >> 33)
        return self._by_number

    def e164_at(self, rows: np.ndarray) -> pa.Array:
        """E.164 ("" when none, as for short numbers) of `rows`, built for those rows only:
        the allowed rows of a scrub, not every row read."""
        rows = np.asarray(rows, np.int64)
        pieces: list[pa.Array] = []
        where = np.empty(len(rows), np.int64)
        done = 0
        pair = self.pair[rows]
        for p in np.unique(pair[pair >= 0]).tolist():
            head, drop = _PAIRS[p]
            at = np.flatnonzero(pair == p)
            pieces.append(_fixed(head.encode(), _digits(self.national[rows[at]])[:, drop:]))
            where[at] = done + np.arange(len(at))
            done += len(at)
        rest = np.flatnonzero(pair < 0)
        if len(rest):
            pieces.append(pa.array([self.texts.get(r, "") for r in rows[rest].tolist()], pa.string()))
            where[rest] = done + np.arange(len(rest))
        if not pieces:
            return pa.array([], pa.string())
        return pc.take(pa.concat_arrays(pieces), pa.array(where))

    @property
    def e164(self) -> pa.Array:
        return self.e164_at(np.arange(len(self.cls)))


def _digits(national: np.ndarray) -> np.ndarray:
    """10-digit national numbers (as integers) as rows of ASCII digit bytes, the leading 0 included."""
    powers = 10 ** np.arange(9, -1, -1, dtype=np.int64)
    return ((national[:, None] // powers) % 10 + 48).astype(np.uint8)


def _fixed(head: bytes, tails: np.ndarray) -> pa.Array:
    """Strings head + each row of `tails` (bytes, one width), as one Arrow array without a loop."""
    n, width = tails.shape
    block = np.empty((n, len(head) + width), np.uint8)
    block[:, : len(head)] = np.frombuffer(head, np.uint8)
    block[:, len(head) :] = tails
    offsets = (np.arange(n + 1, dtype=np.int32) * block.shape[1]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(block.tobytes())])


# Over bytes: which are plain separators, which may stay in a common writing (digits and '+').
_PLAIN = np.zeros(256, bool)
_PLAIN[[ord(c) for c in _PLAIN_SEPARATORS]] = True
_KEPT = np.zeros(256, bool)
_KEPT[[ord(c) for c in "0123456789+"]] = True
_HEAD_MAX = max(len(h) for h in _HEAD_TO_CC)


# A head as one integer: its bytes, little-endian, and its length in the top byte.
_HEAD_CODES = np.array([sum(b << (8 * k) for k, b in enumerate(h.encode())) | len(h) << 56 for h in _HEAD_TO_CC])
_HEAD_ORDER = np.argsort(_HEAD_CODES)
_HEAD_SORTED = _HEAD_CODES[_HEAD_ORDER]
_HEAD_CC_INT = np.array([int(cc) if cc else -1 for cc in _HEAD_TO_CC.values()], np.int64)[_HEAD_ORDER]
assert all(k.startswith("0") and len(k) == 5 for k in _KEYS.to_pylist())  # the 4 digits after the 0 index rows
_ROW_OF_KEY = np.full(10_000, -1, np.int64)
_ROW_OF_KEY[[int(k[1:]) for k in _KEYS.to_pylist()]] = np.arange(len(_KEYS))
_ROW_CC_INT = np.array([int(c) for c in _ROW_CC.to_pylist()], np.int64)
_ROW_HEAD = np.array([_PAIRS[p][0] for p in _PAIR])


def canonical_head(national: np.ndarray) -> np.ndarray:
    """The E.164 head (+33, +262...) of 10-digit national numbers given as integers (the leading 0
    left out); "" where the plan has no 10-digit row for it."""
    row = np.full(len(national), -1, np.int64)
    ok = (national >= 0) & (national < 10**9)
    row[ok] = _ROW_OF_KEY[national[ok] // 100_000]
    return np.where(row >= 0, _ROW_HEAD[np.maximum(row, 0)], "")


def _strip(data: np.ndarray, offsets: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the bytes `drop` marks (a 256-entry table) from every value: one pass over the bytes."""
    keep = (~drop)[data]
    kept = np.empty(len(data) + 1, np.int32 if len(data) < 2**31 else np.int64)  # int32: half the traffic
    kept[0] = 0
    np.cumsum(keep, out=kept[1:], dtype=kept.dtype)
    return np.compress(keep, data), kept[offsets].astype(np.int64)


# Eight bytes read as one little-endian integer (the first byte lowest): each is a digit when its high
# nibble is 3 before and after adding 6 (':' to '?' carry into 4); 8 digits then become their number
# in three multiply-and-shift steps, pairs, then fours, then all eight (wrapping uint64 arithmetic).
_ZEROS = np.uint64(0x3030303030303030)
_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES = np.uint64(0x0606060606060606)
_BYTE = np.uint64(0xFF)
_PAIRS_MASK, _FOURS_MASK = np.uint64(0x00FF00FF00FF00FF), np.uint64(0x0000FFFF0000FFFF)
_HEAD_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)], np.uint64)  # the first k bytes of a word
assert _HEAD_MAX <= 7  # a head fits in one word, with room for its length in the top byte


def _words(data: np.ndarray) -> np.ndarray:
    """`words[i]`: the 8 bytes from `data[i]` on (zeros past the end) as one little-endian uint64."""
    padded = np.zeros(len(data) + 8, np.uint8)
    padded[: len(data)] = data
    return np.ndarray((len(data),), dtype="<u8", buffer=padded, strides=(1,))


def _eight_digits(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether all 8 bytes are ASCII digits, their number: the first byte the leading digit)."""
    ok = ((words & _NIBBLES) == _ZEROS) & (((words + _SIXES) & _NIBBLES) == _ZEROS)
    v = words - _ZEROS
    v = v * np.uint64(10) + (v >> np.uint64(8))
    v = ((v & _PAIRS_MASK) * np.uint64(100 << 16 | 1)) >> np.uint64(16)
    v = ((v & _FOURS_MASK) * np.uint64(10_000 << 32 | 1)) >> np.uint64(32)
    return ok, v.astype(np.int64)


def _match(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values already stripped of separators: "<head><9 digits, the first not 0>" -> (matched, the
    national number as an integer, its 10-digit row or -1), per value. The 9 digits are read as a
    word of 8 and a last one, the head (up to 7 bytes) as one word (see `_eight_digits`)."""
    n = len(offsets) - 1
    matched = np.zeros(n, bool)
    national = np.full(n, -1, np.int64)
    row = np.full(n, -1, np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    lengths = ends - starts
    cand = np.flatnonzero((lengths >= 9) & (lengths <= 9 + _HEAD_MAX))
    if not len(cand):
        return matched, national, row
    words = _words(data)
    end = ends[cand]
    first8 = words[end - 9]
    last = data[end - 1].astype(np.int64)
    digits, number = _eight_digits(first8)
    nsn_ok = digits & ((first8 & _BYTE) != np.uint64(ord("0"))) & (last >= 48) & (last <= 57)
    nsn = np.where(nsn_ok, number * 10 + (last - 48), 0)
    head_len = lengths[cand] - 9
    code = (words[starts[cand]] & _HEAD_MASK[head_len]).astype(np.int64) | (head_len << 56)
    at = np.minimum(np.searchsorted(_HEAD_SORTED, code), len(_HEAD_SORTED) - 1)
    ok = nsn_ok & (_HEAD_SORTED[at] == code)
    found = _ROW_OF_KEY[nsn // 100_000]
    # An E.164 form must carry the country code of the row it lands in (+33 590... is not Guadeloupe).
    given = _HEAD_CC_INT[at]
    fits = (found >= 0) & ((given < 0) | (_ROW_CC_INT[np.maximum(found, 0)] == given))
    matched[cand] = ok
    national[cand] = np.where(ok, nsn, -1)
    row[cand] = np.where(ok & fits, found, -1)
    return matched, national, row


# The two layouts most files write most numbers in, read in place (`_layouts`): "0612345678" and
# "06 12 34 56 78" (any plain separators). The positions of the digits in each, the first the 0.
_LAYOUTS = {10: tuple(range(10)), 14: (0, 1, 3, 4, 6, 7, 9, 10, 12, 13)}
_LAYOUT_SEPARATORS = {10: (), 14: (2, 5, 8, 11)}
_ZERO = ord("0")


def _layouts(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_match` over `_strip`'s output, for the values in one of `_LAYOUTS` (a national number: 0,
    then 9 digits, the first not 0): (resolved here, national number or -1, 10-digit row or -1).
    Reading the digits where they sit skips the strip's passes over every byte; the rest (a third
    of the benchmark file's numbers) goes the general way."""
    n = len(offsets) - 1
    done = np.zeros(n, bool)
    national = np.full(n, -1, np.int64)
    row = np.full(n, -1, np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    for length, digits in _LAYOUTS.items():
        cand = np.flatnonzero(lengths == length)
        if not len(cand):
            continue
        at = starts[cand]
        ok = data[at + digits[0]] == _ZERO
        ok &= data[at + digits[1]] != _ZERO
        nsn = np.zeros(len(cand), np.int64)
        for k in digits[1:]:
            digit = data[at + k] - np.uint8(_ZERO)  # wraps below '0': > 9 for every non-digit
            ok &= digit <= 9
            nsn = nsn * 10 + digit
        for k in _LAYOUT_SEPARATORS[length]:
            byte = data[at + k]
            plain = np.zeros(len(cand), bool)
            for separator in _PLAIN_SEPARATORS:
                plain |= byte == ord(separator)
            ok &= plain
        hit = cand[ok]
        done[hit] = True
        national[hit] = nsn[ok]
        row[hit] = _ROW_OF_KEY[nsn[ok] // 100_000]  # -1: no 10-digit row (what `_match` gives then)
    return done, national, row


def _resolve(phones: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched a common writing, its national number as an integer or -1, its 10-digit row or -1)."""
    done, national, row = _layouts(*value_bytes(phones))
    rest = np.flatnonzero(~done)
    if len(rest) == len(done):
        return _resolve_rest(phones)
    matched = done.copy()
    if len(rest):
        matched[rest], national[rest], row[rest] = _resolve_rest(phones.take(pa.array(rest)))
    return matched, national, row


def _resolve_rest(phones: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_resolve` the general way: separators stripped over the bytes, then `_match`."""
    data, offsets = value_bytes(phones)
    data, offsets = _strip(data, offsets, _PLAIN)  # spaces, dots, dashes, brackets: over the bytes
    matched, national, row = _match(data, offsets)
    # Any other byte (NBSP, slashes, tabs..., or letters): the full separator class, on those rows only.
    other = np.flatnonzero(~_KEPT[data])
    if len(other):
        odd = np.unique(np.searchsorted(offsets, other, side="right") - 1)
        stripped = pc.replace_substring_regex(phones.take(pa.array(odd)), _SEPARATORS, "")
        m2, n2, r2 = _match(*value_bytes(stripped))
        matched[odd], national[odd], row[odd] = m2, n2, r2
    return matched, national, row


# Arrow's kernels release the GIL: the two halves of a large column are resolved on two cores.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="classify")
_SPLIT = 100_000


def classify(phones: pa.Array, classes: Classes) -> Parsed:
    n = len(phones)
    phones = pc.fill_null(phones, "")
    if n >= _SPLIT:
        halves = list(_POOL.map(_resolve, [phones.slice(0, n // 2), phones.slice(n // 2)]))
        matched, national, rows_int = (np.concatenate([h[k] for h in halves]) for k in range(3))
    else:
        matched, national, rows_int = _resolve(phones)
    fast = rows_int >= 0
    fast_idx = np.flatnonzero(fast)

    cls = np.full(n, -1, np.int32)
    # A common writing whose prefix has no 10-digit row (or the wrong country code) is what `parse`
    # calls invalid, without asking it.
    dead = matched & ~fast
    if dead.any():
        cls[dead] = classes.of(_INVALID)
    nat_num = np.full(n, -1, np.int64)
    pair = np.full(n, -1, np.int64)
    if len(fast_idx):
        sub_rows = rows_int[fast_idx]
        row_class = classes.row_class
        new = np.flatnonzero(row_class[sub_rows] < 0)  # plan rows not met before: a few, early on
        if len(new):
            distinct, first = np.unique(sub_rows[new], return_index=True)
            for r, j in zip(distinct.tolist(), first.tolist(), strict=True):
                classes.of_row(r, f"0{int(national[fast_idx[new[j]]]):09d}")
        cls[fast_idx] = row_class[sub_rows]
        nat_num[fast_idx] = national[fast_idx]
        pair[fast_idx] = _PAIR[sub_rows]

    other: dict[int, str] = {}
    texts: dict[int, str] = {}
    slow_idx = np.flatnonzero(~matched)
    if len(slow_idx):
        # Empty cells (a few in a hundred rows of a real file): one verdict on "" for all of them,
        # not a pass of the loop below each. It is invalid: no E.164, no key.
        blank = pc.binary_length(phones).to_numpy(zero_copy_only=False)[slow_idx] == 0
        if blank.any():
            nothing = parse("")
            assert nothing.e164 is None and nothing.national is None, nothing
            cls[slow_idx[blank]] = classes.of(nothing)
            slow_idx = slow_idx[~blank]
        for i, raw in zip(slow_idx.tolist(), pc.take(phones, pa.array(slow_idx)).to_pylist(), strict=True):
            number = classes.parsed.get(raw)
            if number is None:
                # Foreign numbers cost phonenumbers ~60-100 µs: each writing once.
                number = parse(raw, foreign_zone=classes.foreign_zones)
                if len(classes.parsed) < 1_000_000:
                    classes.parsed[raw] = number
            cls[i] = classes.of(number)
            key_text = number.e164 or (number.national if number.type is NumberType.SHORT else None) or ""
            if number.e164:
                texts[i] = number.e164
            if number.national is not None and len(number.national) == 10 and number.e164:
                nat_num[i] = int(number.national)
            elif key_text:
                other[i] = key_text
    return Parsed(cls=cls, national=nat_num, other_key=other, pair=pair, texts=texts)
