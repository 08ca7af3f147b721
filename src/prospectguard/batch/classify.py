"""Parsing a column of numbers at once: the common writings over columns, the rest through `parse`.

A national number (`06 12 34 56 78`, `06.12.34.56.78`), its E.164 forms (`+33 6...`, `0033 6...`,
`33 6...`, `+33 (0)6...`), the E.164 forms of the overseas departments (`+262 692...`) and a national
number whose leading 0 a spreadsheet ate are recognised by regular expressions over the whole column
and resolved from the same 10-digit table `parse` reads. Every other value (foreign, short, M2M,
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
_HEADS = pa.array(list(_HEAD_TO_CC), pa.string())
_HEAD_CC = pa.array(list(_HEAD_TO_CC.values()), pa.string())
_HEAD_LENGTHS = pa.array([len(h) for h in _HEAD_TO_CC], pa.int64())
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
    by_row: dict[int, int] = field(default_factory=dict)  # index in _ROW_LIST -> class id
    parsed: dict[str, PhoneNumber] = field(default_factory=dict)  # uncommon writings already parsed

    def of(self, number: PhoneNumber) -> int:
        sig = _signature(number)
        found = self.ids.get(sig)
        if found is None:
            found = self.ids[sig] = len(self.reps)
            self.reps.append(number)
        return found

    def of_row(self, index: int, sample_national: str) -> int:
        found = self.by_row.get(index)
        if found is None:
            number = parse(sample_national)
            row: PlanRow = _ROW_LIST[index]
            if (number.type, number.territory, number.timezone) != (row.type, row.territory, row.timezone):
                raise AssertionError(f"columnar parse disagrees with parse() on {sample_national}")
            found = self.by_row[index] = self.of(number)
        return found


@dataclass
class Parsed:
    """One chunk's numbers: class per row, E.164 (or short digits) per row, and a duplicate key."""

    cls: np.ndarray  # int32, class id per row
    e164: pa.Array  # string; "" when the number has none
    national: np.ndarray  # int64: the 10-digit French national number as an integer, -1 otherwise
    other_key: dict[int, str]  # row -> duplicate key for the rest (foreign E.164, short digits)


def _resolve(phones: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(national form of the common writings, else null; index of its 10-digit row, else null)."""
    s = phones
    for sep in _PLAIN_SEPARATORS:  # literal replacements: several times cheaper than one regex
        s = pc.replace_substring(s, sep, "")
    odd = pc.invert(pc.ascii_is_decimal(pc.replace_substring(s, "+", "")))
    odd = pc.and_(pc.fill_null(odd, True), pc.not_equal(s, ""))
    if pc.any(odd).as_py():  # NBSP, slashes, tabs...: the full separator class, on those rows only
        s = pc.if_else(odd, pc.replace_substring_regex(s, _SEPARATORS, ""), s)
    # "<head><9 digits>": the head says which writing it is and the country code it implies.
    nsn = pc.utf8_slice_codeunits(s, -9)
    head = pc.index_in(pc.utf8_slice_codeunits(s, 0, -9), value_set=_HEADS)
    ok = pc.and_(
        pc.and_(pc.equal(pc.utf8_length(s), pc.add(pc.take(_HEAD_LENGTHS, head), 9)), pc.ascii_is_decimal(nsn)),
        pc.invert(pc.starts_with(nsn, "0")),
    )
    ok = pc.fill_null(ok, False)
    national = pc.if_else(ok, pc.binary_join_element_wise("0", nsn, ""), pa.scalar(None, pa.string()))
    given_cc = pc.take(_HEAD_CC, head)
    row_index = pc.index_in(pc.utf8_slice_codeunits(national, 0, _KEY), value_set=_KEYS)
    # An E.164 form must carry the country code of the row it lands in (+33 590... is not Guadeloupe).
    wrong_cc = pc.fill_null(pc.not_equal(pc.take(_ROW_CC, row_index), given_cc), False)
    return national, pc.if_else(wrong_cc, pa.scalar(None, pa.int32()), row_index)


# Arrow's kernels release the GIL: the two halves of a large column are resolved on two cores.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="classify")
_SPLIT = 100_000


def classify(phones: pa.Array, classes: Classes) -> Parsed:
    n = len(phones)
    phones = pc.fill_null(phones, "")
    if n >= _SPLIT:
        halves = list(_POOL.map(_resolve, [phones.slice(0, n // 2), phones.slice(n // 2)]))
        national = pa.concat_arrays([h[0] for h in halves])
        row_index = pa.concat_arrays([h[1] for h in halves])
    else:
        national, row_index = _resolve(phones)
    nsn = national
    matched = pc.is_valid(nsn).to_numpy(zero_copy_only=False)
    fast = pc.is_valid(row_index).to_numpy(zero_copy_only=False)
    rows_int = pc.fill_null(row_index, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    fast_idx = np.flatnonzero(fast)

    cls = np.full(n, -1, np.int32)
    # A common writing whose prefix has no 10-digit row (or the wrong country code) is what `parse`
    # calls invalid, without asking it.
    dead = matched & ~fast
    if dead.any():
        cls[dead] = classes.of(_INVALID)
    nat_num = np.full(n, -1, np.int64)
    e164 = pa.nulls(n, pa.string())
    if len(fast_idx):
        sub_rows = rows_int[fast_idx]
        distinct, first = np.unique(sub_rows, return_index=True)
        row_class = np.full(len(_ROW_LIST), -1, np.int32)
        for r, j in zip(distinct.tolist(), first.tolist(), strict=True):
            row_class[r] = classes.of_row(r, national[int(fast_idx[j])].as_py())
        cls[fast_idx] = row_class[sub_rows]
        nat_num[fast_idx] = pc.cast(pc.take(national, pa.array(fast_idx)), pa.int64()).to_numpy()
        # E.164 over columns: head + national[drop:], per distinct (head, drop) pair (a handful).
        pair = np.where(fast, _PAIR[np.maximum(rows_int, 0)], -1)
        for p in np.unique(pair[fast_idx]).tolist():
            head, drop = _PAIRS[p]
            built = pc.binary_join_element_wise(head, pc.utf8_slice_codeunits(national, drop), "")
            e164 = pc.if_else(pa.array(pair == p), built, e164)

    other: dict[int, str] = {}
    slow_idx = np.flatnonzero(~matched)
    if len(slow_idx):
        keys: list[str] = []
        for i, raw in zip(slow_idx.tolist(), pc.take(phones, pa.array(slow_idx)).to_pylist(), strict=True):
            number = classes.parsed.get(raw)
            if number is None:
                number = parse(raw)  # foreign numbers cost phonenumbers ~100 µs: each writing once
                if len(classes.parsed) < 1_000_000:
                    classes.parsed[raw] = number
            cls[i] = classes.of(number)
            key_text = number.e164 or (number.national if number.type is NumberType.SHORT else None) or ""
            keys.append(key_text)
            if number.national is not None and len(number.national) == 10 and number.e164:
                nat_num[i] = int(number.national)
            elif key_text:
                other[i] = key_text
        mask = np.zeros(n, bool)
        mask[slow_idx] = True
        e164 = pc.replace_with_mask(e164, pa.array(mask), pa.array(keys, pa.string()))
    return Parsed(cls=cls, e164=pc.fill_null(e164, ""), national=nat_num, other_key=other)
