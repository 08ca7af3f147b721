"""Where the rows and fields of a CSV file sit in its bytes, found over arrays, not byte by byte.

Why: a scrub copies every input row to an output untouched and reads only two or three of its
fields. Parsing every field into columns and writing them all back, as a CSV library does, costs
several times more than finding the boundaries; and copying a row's own bytes keeps its quoting,
encoding and line ending exactly as the user's file had them.

Quoting is RFC 4180's, as Excel writes it: a field that starts with a quote runs to its closing
quote, a doubled quote inside stands for one, and delimiters and line breaks inside are data. A quote
anywhere else is an ordinary character, as Python's csv module and Arrow's reader take it; so is an
opening quote that never closes. A line ends at \n, \r\n or a lone \r (as in both of those readers);
empty lines are not rows.

The usual file is checked over arrays (every quote at a field's edge, or doubled), and its line
breaks and delimiters outside quotes are then those with an even number of quotes before them. A
block where some quote is out of place is walked quote by quote to tell the ordinary ones apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

QUOTE, LF, CR = 0x22, 0x0A, 0x0D
BLOCK_BYTES = 16 << 20
MAX_QUOTED = 4 << 20  # an "opening" quote still open this far on is taken as an ordinary character


@dataclass
class Block:
    """Complete rows of a file, as positions in the block's bytes."""

    data: bytes | memoryview
    start: np.ndarray  # int64: each row's first byte
    end: np.ndarray  # int64: the end of each row's content (its line break left out)
    fields: np.ndarray  # int64: how many fields each row has
    delims: np.ndarray  # int64: the delimiters and line breaks outside quotes, in order
    first: np.ndarray  # int64: index in `delims` of each row's first separator (delimiter or line break)
    quotes: np.ndarray  # int64: the quotes that quote (ordinary ones left out)
    used: int  # bytes of the block these rows take, line breaks included
    # Quotes at a field's start that never close: ordinary here, but a CSV reader of an output would
    # take one as opening; rows holding one are written anew (`rewrite_row`), not copied.
    strays: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    at: int = 0  # where `data` starts in the file (`blocks`), blocks without rows counted

    def __len__(self) -> int:
        return len(self.start)

    def rows_from(self, i: int) -> Block:
        """The same block without its first `i` rows (the header row, in the first block)."""
        start, end, fields, first = self.start[i:], self.end[i:], self.fields[i:], self.first[i:]
        return replace(self, start=start, end=end, fields=fields, first=first)

    def slim(self) -> Block:
        """The rows' bounds and field counts alone, in int32 (a block is far below 2 GB): enough to
        count the rows and, once `with_data` has given their bytes back, to copy them. A chunk read
        ahead then holds a sixth of its bytes' size, not twice it."""
        nothing = np.zeros(0, np.int64)
        start, end, fields = (a.astype(np.int32) for a in (self.start, self.end, self.fields))
        bounds = replace(self, data=b"", start=start, end=end, fields=fields)
        return replace(bounds, delims=nothing, first=nothing, quotes=nothing)

    @staticmethod
    def joined(parts: list[Block]) -> Block:
        """Slim blocks (`slim`) that follow each other in the file, as one: their rows, in order,
        positioned from the first one's start."""
        if len(parts) == 1:
            return parts[0]
        base = parts[0].at
        last = parts[-1]
        assert last.at + last.used - base < 1 << 31, "a chunk of 2 GB or more: its int32 positions overflow"

        def cat(name: str, shifted: bool) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            if shifted:
                arrays = [a + a.dtype.type(p.at - base) for a, p in zip(arrays, parts, strict=True)]
            return np.concatenate(arrays)

        return replace(
            parts[0],
            start=cat("start", True),
            end=cat("end", True),
            fields=cat("fields", False),
            strays=cat("strays", True),
            used=last.at + last.used - base,
        )

    def with_data(self, data: bytes | memoryview) -> Block:
        """The same rows over `data`, the same bytes read again (`slim` dropped them)."""
        return replace(self, data=data)

    def field(self, k: int, width: int) -> pa.Array:
        """Field `k` of every row with `width` fields, unquoted, as binary; "" on the other rows."""
        good = self.fields == width
        s = self.start.copy()
        e = self.start.copy()
        first = self.first[good]
        s[good] = self.start[good] if k == 0 else self.delims[first + (k - 1)] + 1
        e[good] = self.end[good] if k == width - 1 else self.delims[first + k]
        quoted = np.zeros(len(s), bool)
        if len(self.quotes):
            nonempty = np.flatnonzero(e > s)
            at = np.minimum(np.searchsorted(self.quotes, s[nonempty]), len(self.quotes) - 1)
            quoted[nonempty] = self.quotes[at] == s[nonempty]  # a quote that quotes, not an ordinary one
            if quoted.any():
                s[quoted] += 1
                closed = quoted & (e > s)
                closed[closed] = np.frombuffer(self.data, np.uint8)[e[closed] - 1] == QUOTE
                e[closed] -= 1
        values = spans(self.data, s, e)
        if quoted.any():
            inner = quoted & (np.searchsorted(self.quotes, e) > np.searchsorted(self.quotes, s))
            if inner.any():  # doubled quotes inside: one each
                mask = pa.array(inner)
                values = pc.replace_with_mask(values, mask, pc.replace_substring(pc.filter(values, mask), '""', '"'))
        return values

    def assemble(
        self,
        rows: np.ndarray,
        pieces: list[tuple[pa.Array, np.ndarray]],
        replaced: tuple[pa.Array, np.ndarray] | None = None,
    ) -> pa.Buffer:
        """The bytes of `rows`, each followed by its pieces: `pieces[k] = (values, which)` puts
        `values[which[i]]` after row `rows[i]`; `replaced = (values, at)` writes `values[j]` instead of
        the row `rows[at[j]]`'s own bytes. One Arrow `take` over the block and the pieces together."""
        n, width = len(self.start), len(pieces) + 1
        if n == 0:
            return pa.py_buffer(b"")
        both = _interleaved(self.data, self.start, self.end)  # rows at even positions
        arrays, base = [both], [len(both)]
        for values, _ in pieces:
            arrays.append(values)
            base.append(base[-1] + len(values))
        indices = np.empty(len(rows) * width, np.int64)
        indices[0::width] = 2 * rows
        for k, (_, which) in enumerate(pieces):
            indices[k + 1 :: width] = base[k] + which
        if replaced is not None:
            arrays.append(replaced[0])
            indices[replaced[1] * width] = base[-1] + np.arange(len(replaced[1]))
        taken = pc.take(pa.concat_arrays(arrays), pa.array(indices))
        lo, hi = np.frombuffer(taken.buffers()[1], np.int32)[[taken.offset, taken.offset + len(taken)]].tolist()
        return taken.buffers()[2][lo:hi]

    def stray_rows(self) -> np.ndarray:
        """Rows (sorted indices) holding a quote that never closes."""
        if not len(self.strays):
            return np.zeros(0, np.int64)
        return np.unique(np.searchsorted(self.start, self.strays, side="right") - 1)


def spans(data: bytes | memoryview, start: np.ndarray, end: np.ndarray) -> pa.Array:
    """Binary values data[start[i]:end[i]] (ordered, not overlapping), gathered by Arrow's `take`.

    The spans and the gaps between them are the values of one array over `data` without a copy;
    taking every other value copies the spans alone into a compact array.
    """
    n = len(start)
    if n == 0:
        return pa.array([], pa.binary())
    return pc.take(_interleaved(data, start, end), pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))


def _interleaved(data: bytes | memoryview, start: np.ndarray, end: np.ndarray) -> pa.Array:
    """The spans and the gaps between them, as 2n - 1 binary values over `data` (no copy)."""
    n = len(start)
    offsets = np.empty(2 * n, np.int32)  # a block is far below 2 GB
    offsets[0::2] = start
    offsets[1::2] = end
    return pa.Array.from_buffers(pa.binary(), 2 * n - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def value_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets) of a string or binary array without nulls, the offsets rebased to 0."""
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset : values.offset + len(values) + 1]
    data_buf = values.buffers()[2]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    base = int(offsets[0])
    return data[base : int(offsets[-1])], (offsets - base).astype(np.int64)


def _quotes_in_place(arr: np.ndarray, qpos: np.ndarray, delim: int) -> bool:
    """True when every quote sits where RFC 4180 puts one, counted in turn as opening and closing."""
    size = len(arr)
    n = len(qpos)
    opening = np.arange(n) % 2 == 0
    prev = arr[np.maximum(qpos - 1, 0)]
    nxt = arr[np.minimum(qpos + 1, size - 1)]
    doubled_prev = np.zeros(n, bool)
    doubled_prev[1:] = qpos[1:] == qpos[:-1] + 1
    doubled_next = np.zeros(n, bool)
    doubled_next[:-1] = doubled_prev[1:]
    ok_open = (qpos == 0) | (prev == delim) | (prev == LF) | (prev == CR) | doubled_prev
    ok_close = (qpos == size - 1) | (nxt == delim) | (nxt == LF) | (nxt == CR) | doubled_next
    return bool(np.all(np.where(opening, ok_open, ok_close)))


def _quoting(data: bytes | memoryview, qpos: np.ndarray, delim: int, final: bool) -> tuple[np.ndarray, np.ndarray]:
    """The quotes that quote, walked one by one: a quote opens only at a field's start, and an opening
    quote never closed (by the end of the file, or within MAX_QUOTED bytes) is an ordinary one."""
    qs = qpos.tolist()
    n, size = len(qs), len(data)
    keep: list[int] = []
    strays: list[int] = []
    inside = False
    opened_at = opened_k = opened_i = -1
    i = 0
    while True:
        while i < n:
            p = qs[i]
            if not inside:
                if p == 0 or data[p - 1] in (delim, LF, CR):
                    inside, opened_at, opened_k, opened_i = True, p, len(keep), i
                    keep.append(p)
                i += 1
            elif i + 1 < n and qs[i + 1] == p + 1:  # a doubled quote: still inside
                keep += (p, p + 1)
                i += 2
            elif p - opened_at > MAX_QUOTED:  # it closes too far on: the opening quote was ordinary
                del keep[opened_k:]
                strays.append(opened_at)
                inside, i = False, opened_i + 1
            else:
                keep.append(p)
                inside = False
                i += 1
        if inside and (final or size - opened_at > MAX_QUOTED):
            del keep[opened_k:]  # that quote was an ordinary character: walk on after it
            strays.append(opened_at)
            inside, i = False, opened_i + 1
            continue
        return np.array(keep, np.int64), np.array(strays, np.int64)


def _longest_quoted(qpos: np.ndarray) -> int:
    """The longest quoted span (opening quote to closing quote) of an even count of quotes all in
    place: they pair up in turn, a doubled quote inside a field being a pair that closes and reopens."""
    opens, closes = qpos[0::2], qpos[1::2]
    if not len(closes):
        return 0
    starts = np.r_[True, opens[1:] != closes[:-1] + 1]
    ends = np.r_[starts[1:], True]
    return int((closes[ends] - opens[starts]).max())


def _unmark_quoted(mask: np.ndarray, quotes: np.ndarray) -> bool:
    """Clear `mask` inside the quoted spans (quote pairs; an odd last one runs on) when they hold
    few bytes, the usual file's few quoted names: listing those bytes is cheaper than `_outside`
    over every separator. False, `mask` untouched, when they hold many (every field quoted)."""
    opens = quotes[0::2]
    closes = np.append(quotes[1::2], len(mask)) if len(quotes) % 2 else quotes[1::2]
    lengths = closes - opens
    total = int(lengths.sum())
    if total > len(mask) // 16:
        return False
    mask[np.repeat(opens - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)] = False
    return True


def _outside(positions: np.ndarray, quotes: np.ndarray, size: int) -> np.ndarray:
    """The sorted `positions` that lie outside the quoted spans (quote pairs; an odd last one runs on)."""
    opens = quotes[0::2]
    closes = np.append(quotes[1::2], size) if len(quotes) % 2 else quotes[1::2]
    lo = np.searchsorted(positions, opens)
    counts = np.searchsorted(positions, closes) - lo
    total = int(counts.sum())
    if total == 0:
        return positions
    inside = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
    keep = np.ones(len(positions), bool)
    keep[inside] = False
    return positions[keep]


def scan(data: bytes | memoryview, delimiter: str, final: bool) -> Block:
    """The complete rows at the start of `data` (all of it when `final`).

    Delimiters and line breaks are found in one pass and kept in one sorted array: a row's fields
    are then the separators between its line breaks, counted by position, with no search."""
    arr = np.frombuffer(data, np.uint8)
    size = len(arr)
    delim = ord(delimiter)
    qpos = np.flatnonzero(arr == QUOTE)
    strays = np.zeros(0, np.int64)
    if len(qpos):
        # An "opening" quote that closes, or is still open, more than MAX_QUOTED bytes on is taken as
        # an ordinary character, wherever blocks begin and end (the rows found do not depend on them):
        # a quote still open at the end (an odd count) is walked too, to measure from its opening.
        pending = len(qpos) % 2 == 1
        if pending or not _quotes_in_place(arr, qpos, delim) or _longest_quoted(qpos) > MAX_QUOTED:
            qpos, strays = _quoting(data, qpos, delim, final)
    is_lf = arr == LF
    n_cr = int(np.count_nonzero(arr == CR))
    separator = arr == delim
    separator |= is_lf
    # A lone \r ends a row too (a \r at the block's end as well: an empty row may follow). The usual
    # file has none: every \r is followed by \n, which the bytes before the (few) \n tell.
    if n_cr:
        lf = np.flatnonzero(is_lf)
        if n_cr != int(np.count_nonzero(arr[lf[lf > 0] - 1] == CR)):
            cr = np.flatnonzero(arr == CR)
            after = arr[np.minimum(cr + 1, size - 1)]
            separator[cr[(cr == size - 1) | (after != LF)]] = True
    listed = len(qpos) > 0 and _unmark_quoted(separator, qpos)
    seps = np.flatnonzero(separator)
    if len(qpos) and not listed:
        seps = _outside(seps, qpos, size)
    at_break = np.flatnonzero(arr[seps] != delim)  # where the line breaks are among the separators
    ends, ends_at = seps[at_break], at_break
    used = size if final else (int(ends[-1]) + 1 if len(ends) else 0)
    if final and (not len(ends) or ends[-1] != size - 1) and size:
        ends, ends_at = np.append(ends, size), np.append(at_break, len(seps))  # the last row, unbroken
    starts = np.empty(len(ends), np.int64)
    first = np.empty(len(ends), np.int64)  # each row's first separator, in `seps`
    if len(ends):
        starts[0], first[0] = 0, 0
        starts[1:], first[1:] = ends[:-1] + 1, ends_at[:-1] + 1
    content = ends.copy()
    if n_cr:  # \r\n: the row's content ends before the \r
        crlf = (content > starts) & (arr[np.maximum(content - 1, 0)] == CR) & (arr[np.minimum(content, size - 1)] == LF)
        crlf &= content < size
        content[crlf] -= 1
    rows = content > starts  # empty lines are not rows
    if not rows.all():
        starts, content, first, ends_at = starts[rows], content[rows], first[rows], ends_at[rows]
    fields = ends_at - first + 1
    return Block(data, starts, content, fields, seps, first, qpos, used, strays[strays < used])


def blocks(f: BinaryIO, delimiter: str, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The file's rows, block by block, each block ending on a row's end; `Block.at` says where
    each block's bytes start in the file (blocks of nothing but empty lines are not yielded).

    Every block's data is a view of one buffer, which the next block overwrites: a reader copies
    what it needs of a block before it asks for the next (the scrub's reads its fields and keeps
    the rows' bounds). Reading a file of 775 MB then touches one buffer, not 1.5 GB of fresh memory
    (each block read, then joined to the unfinished row before it)."""
    buffer = bytearray(2 * block_bytes)  # room for a block and the unfinished row before it
    kept = 0  # the unfinished row at the end of the last block, moved to the buffer's start
    at = 0
    while True:
        if len(buffer) < kept + block_bytes:  # an unfinished row longer than a block: room for it
            grown = bytearray(kept + block_bytes)
            grown[:kept] = buffer[:kept]
            buffer = grown
        view = memoryview(buffer)
        got = f.readinto(view[kept : kept + block_bytes])  # type: ignore[attr-defined]
        final = not got
        size = kept + got
        if not size:
            return
        block = replace(scan(view[:size], delimiter, final), at=at)
        at += block.used
        if len(block) or final:
            yield block
        if final:
            return
        kept = size - block.used
        buffer[:kept] = buffer[block.used : size]  # the same length: allowed while views of it live


def rewrite_row(line: bytes, delimiter: str) -> list[bytes]:
    """A row's fields as this module reads them (its quotes that never close kept as characters)."""
    block = scan(line, delimiter, final=True)
    width = int(block.fields[0]) if len(block) else 1
    return [block.field(k, width).to_pylist()[0] for k in range(width)] if len(block) else [b""]


def split_row(line: bytes, delimiter: str) -> list[bytes]:
    """A row's fields, unquoted, by the csv module over Latin-1 (which maps each byte to itself)."""
    text = line.decode("latin-1")
    fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return [f.encode("latin-1") for f in fields]


def join_row(fields: list[bytes], delimiter: str) -> bytes:
    """Fields written back as one CSV row (quoted where needed), no line break."""
    out = io.StringIO()
    # The line terminator also says which characters need quotes (a lone \r does): write it, then drop it.
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerow([f.decode("latin-1") for f in fields])
    return out.getvalue()[:-2].encode("latin-1")
