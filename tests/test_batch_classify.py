"""The columnar parser of the batch (`batch.classify`) says what `numbering.parse` says, row by row.

The batch resolves the common writings over whole columns and sends the rest to `parse`; the class
of a row (what the rules can see of its number) and its E.164 form must match `parse` exactly, or a
scrub would judge a row differently from `prospectguard check`.
"""

from __future__ import annotations

import random
import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from prospectguard.batch.classify import Classes, _signature, classify
from prospectguard.model import NumberType
from prospectguard.numbering import parse, plan_rows

PREFIXES = [*sorted({r.prefix for r in plan_rows() if r.prefix.startswith("0")}), "07", "071", "0700", "0508"]
SEPARATORS = ["", " ", ".", "-", "/", "\u00a0", "\u202f", "\t"]
HEADS = {"+33": 1, "0033": 1, "33": 1, "+33 (0)": 1, "+262 ": 1, "+590 ": 1, "+594 ": 1, "+596 ": 1, "+508 ": 4}


def writings(national: str, rng: random.Random) -> list[str]:
    sep = rng.choice(SEPARATORS)
    spaced = sep.join(national[i : i + 2] for i in range(0, len(national), 2))
    out = [national, spaced, national[1:]]
    for head, drop in HEADS.items():
        out.append(head + national[drop:])
        out.append(head + sep.join(national[drop + i : drop + i + 2] for i in range(0, len(national) - drop, 2)))
    return out


def corpus(seed: int, size: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < size:
        prefix = rng.choice(PREFIXES)
        length = rng.choice([10, 10, 10, 9, 11, 14])
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(max(length - len(prefix), 0)))
        out.extend(writings(digits, rng))
        out.append(rng.choice(["", "junk", "112", "3010", "36111", "+32 2 123 45 67", "+44 20 7946 0958", "06", "+"]))
    return out


def check_same(values: list[str]) -> None:
    classes = Classes()
    parsed = classify(pa.array(values, pa.string()), classes)
    e164 = parsed.e164.to_pylist()
    for i, raw in enumerate(values):
        want = parse(raw)
        got = classes.reps[int(parsed.cls[i])]
        assert _signature(got) == _signature(want), (raw, want, got)
        assert e164[i] == (want.e164 or ""), (raw, want)
        if want.e164 and want.national and len(want.national) == 10:
            assert parsed.national[i] == int(want.national), raw
        else:
            assert parsed.national[i] == -1, raw


def test_classify_matches_parse_on_every_writing_of_every_prefix() -> None:
    values = corpus(20261128, 60_000)
    check_same(values)
    # the corpus reaches both paths: columns and `parse`
    plain = [re.sub(r"[^0-9+]", "", v) for v in values]
    fast = sum(1 for v in plain if re.fullmatch(r"(0|\+33|0033|\+262|\+590)[1-9][0-9]{8}", v))
    assert 10_000 < fast < len(values) - 10_000, fast


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet="0123456789 +.-()/\u00a0x", min_size=0, max_size=18), min_size=1, max_size=40))
def test_classify_matches_parse_on_any_text(values: list[str]) -> None:
    check_same(values)


LAYOUT_BYTES = "0123456789 .-()/+x:\u00a0"  # ":" follows "9" in ASCII


@st.composite
def layout_writings(draw: st.DrawFn) -> str:
    """A number in one of the layouts read in place, its separators any byte, then maybe one byte
    changed: the near misses the layouts must leave to the general way."""
    digits = "0" + draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    if draw(st.booleans()):
        seps = draw(st.lists(st.sampled_from(" .-" + LAYOUT_BYTES), min_size=4, max_size=4))
        text = "".join(digits[i : i + 2] + sep for i, sep in zip(range(0, 10, 2), [*seps, ""], strict=True))
    else:
        text = digits
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(LAYOUT_BYTES)) + text[at + 1 :]
    return text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(layout_writings(), min_size=1, max_size=40))
def test_classify_matches_parse_on_the_layouts_read_in_place(values: list[str]) -> None:
    """ "0612345678" and "06 12 34 56 78" are read where their digits sit (`_layouts`): near misses
    (a first or second digit 0, a separator that is not plain, a letter, a length off by one byte)
    must go the general way and come out as `parse` says."""
    check_same(values)


def test_classify_handles_nulls_and_an_empty_column() -> None:
    check_same([])
    classes = Classes()
    parsed = classify(pa.array([None, "0612345678"], pa.string()), classes)
    assert classes.reps[int(parsed.cls[0])].type is NumberType.INVALID
    assert parsed.e164.to_pylist() == ["", "+33612345678"]


def _holds_for(words: list[bytes]) -> None:
    import numpy as np

    from prospectguard.batch.classify import _eight_digits, _words

    data = np.frombuffer(b"".join(words), np.uint8)
    ok, number = _eight_digits(_words(data)[np.arange(0, len(data), 8)])
    for k, word in enumerate(words):
        digits = all(0x30 <= b <= 0x39 for b in word)
        assert bool(ok[k]) == digits
        if digits:
            assert int(number[k]) == int(word.decode())


@given(st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=50))
def test_eight_bytes_read_at_once_are_digits_and_their_number_exactly_when_they_are(words: list[bytes]) -> None:
    """The word trick of `_match` against reading the bytes one by one."""
    _holds_for(words)


@given(st.lists(st.lists(st.sampled_from([*b"0123456789:/+", 0, 0xFF]), min_size=8, max_size=8), min_size=1))
def test_eight_bytes_near_the_digits(words: list[list[int]]) -> None:
    """Bytes just outside '0'..'9' (':' is '9' + 1, '/' is '0' - 1) are where a word trick slips."""
    _holds_for([bytes(w) for w in words])
