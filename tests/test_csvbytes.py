"""Row and field boundaries found over bytes (batch/csvbytes.py), against Python's csv module.

The oracle reads the same bytes as Latin-1 (one character per byte) with `csv.reader`; empty lines,
which it gives as [], are not rows for either. Blocks are cut at random small sizes, so rows and
quoted fields straddle block ends.
"""

from __future__ import annotations

import csv
import io
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from prospectguard.batch import csvbytes
from prospectguard.batch.csvbytes import MAX_QUOTED, blocks, join_row, scan, spans, split_row

VALUE = st.text(alphabet=st.sampled_from(list("ab 09+;,\t\"'\n\ré€")), max_size=8)


def oracle(data: bytes, delimiter: str) -> list[list[bytes]]:
    text = data.decode("latin-1")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [[f.encode("latin-1") for f in row] for row in rows if row]


def ours(data: bytes, delimiter: str, block_bytes: int) -> tuple[list[list[bytes]], list[bytes]]:
    """Every row's fields and its line, block by block (each block read before the next is asked for)."""
    rows: list[list[bytes]] = []
    lines: list[bytes] = []
    for block in blocks(io.BytesIO(data), delimiter, block_bytes):
        got: list[list[bytes]] = [[] for _ in range(len(block))]
        for width in np.unique(block.fields).tolist():
            for k in range(width):
                values = block.field(k, width).to_pylist()
                for i in np.flatnonzero(block.fields == width).tolist():
                    got[i].append(values[i])
        rows += got
        lines += spans(block.data, block.start, block.end).to_pylist()
    return rows, lines


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, str]:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    quote_all = draw(st.booleans())
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def field(value: str) -> str:
        if quote_all or any(c in value for c in (delimiter, '"', "\r", "\n")) or value == "":
            return '"' + value.replace('"', '""') + '"'
        return value

    rows = draw(st.lists(st.lists(VALUE, min_size=1, max_size=5), min_size=0, max_size=12))
    lines = [delimiter.join(field(v) for v in row) for row in rows]
    blank = draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + ending + (ending if b else "") for line, b in zip(lines, blank, strict=True))
    if draw(st.booleans()):
        text = text.removesuffix(ending)
    encoding = draw(st.sampled_from(["utf-8", "cp1252"]))
    return text.encode(encoding), delimiter


@settings(max_examples=400, deadline=None)
@given(file=files(), block_bytes=st.integers(1, 64))
def test_rows_and_fields_are_the_csv_modules(file: tuple[bytes, str], block_bytes: int) -> None:
    data, delimiter = file
    rows, lines = ours(data, delimiter, block_bytes)
    assert rows == oracle(data, delimiter)
    assert [split_row(line, delimiter) for line in lines] == rows  # a line is the row's own bytes


# A quote inside an unquoted field is an ordinary character, for the csv module as for us.
INNER = st.text(alphabet=st.sampled_from(list('ab "')), max_size=6).filter(lambda v: not v.startswith('"'))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(INNER, min_size=1, max_size=4), max_size=8), block_bytes=st.integers(1, 64))
def test_quotes_inside_unquoted_fields_are_ordinary(rows: list[list[str]], block_bytes: int) -> None:
    data = "".join(";".join(row) + "\n" for row in rows).encode()
    got, _ = ours(data, ";", block_bytes)
    assert got == oracle(data, ";")


def test_a_quote_never_closed_is_an_ordinary_character() -> None:
    data = b'id;name\n1;"Dupont\n2;Durand\n'
    rows, _ = ours(data, ";", 5)
    assert rows == [[b"id", b"name"], [b"1", b'"Dupont'], [b"2", b"Durand"]]


def test_a_quoted_field_longer_than_the_limit_is_taken_as_a_stray_quote() -> None:
    body = b"x" * (MAX_QUOTED + 10)
    data = b'1;"' + body + b"\n2;b\n"
    block = scan(data, ";", final=False)
    assert block.fields.tolist() == [2, 2]  # not one row running to a closing quote that never comes


@given(file=files(), block_bytes=st.integers(1, 64))
def test_a_slim_block_given_its_bytes_again_copies_the_same_rows(file: tuple[bytes, str], block_bytes: int) -> None:
    data, delimiter = file
    for block in blocks(io.BytesIO(data), delimiter, block_bytes):
        rows = np.arange(len(block))
        slim = block.slim()
        assert slim.data == b"" and not len(slim.delims)  # what a chunk read ahead holds: bounds only
        again = slim.with_data(bytes(block.data))
        assert bytes(again.assemble(rows, [])) == bytes(block.assemble(rows, []))
        assert again.fields.tolist() == block.fields.tolist()


@settings(deadline=None)
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from(["a;b\n", '"x\n";y\r\n', "c;d\r\n", "e"]), st.integers(1, 90).map(lambda k: "\n" * k)
        ),
        max_size=12,
    ),
    block_bytes=st.integers(1, 16),
)
def test_each_block_says_where_its_bytes_are_in_the_file(pieces: list[str], block_bytes: int) -> None:
    """Blocks that hold only empty lines are not yielded, but their bytes count: the scrub reads each
    chunk's bytes again from `at` (a drift put other rows' bytes in the outputs)."""
    data = "".join(pieces).encode()
    for block in blocks(io.BytesIO(data), ";", block_bytes):
        assert bytes(block.data[: block.used]) == data[block.at : block.at + block.used]


def test_lines_keep_their_bytes_and_join_row_quotes_what_needs_it() -> None:
    data = 'a;"b;c";"d""e"\r\n'.encode("cp1252")
    block = scan(data, ";", final=True)
    assert spans(block.data, block.start, block.end).to_pylist() == [b'a;"b;c";"d""e"']
    assert block.field(2, 3).to_pylist() == [b'd"e']
    assert join_row([b"x", b"\r", b"y;z"], ";") == b'x;"\r";"y;z"'


def rows_found(data: bytes, delimiter: str, block_bytes: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Every row as (start, end, fields) and every stray quote, as positions in the file."""
    rows: list[tuple[int, int, int]] = []
    strays: list[int] = []
    for block in blocks(io.BytesIO(data), delimiter, block_bytes):
        starts, ends = (block.start + block.at).tolist(), (block.end + block.at).tolist()
        rows += zip(starts, ends, block.fields.tolist(), strict=True)
        strays += (block.strays + block.at).tolist()
    return rows, strays


@st.composite
def files_with_stray_quotes(draw: st.DrawFn) -> tuple[bytes, str]:
    data, delimiter = draw(files())
    for at in draw(st.lists(st.integers(0, len(data)), max_size=3)):
        data = data[:at] + b'"' + data[at:]
    return data, delimiter


@settings(max_examples=400, deadline=None)
@given(file=files_with_stray_quotes(), block_bytes=st.integers(1, 64), limit=st.integers(0, 40))
def test_the_rows_found_do_not_depend_on_where_blocks_end(
    file: tuple[bytes, str], block_bytes: int, limit: int
) -> None:
    """With MAX_QUOTED brought down to a few bytes: a quoted span longer than it is ordinary whether
    it closes inside one block or several blocks on (the scrub reads pieces of 1 MB, chunks of 32 MB)."""
    data, delimiter = file
    with patch.object(csvbytes, "MAX_QUOTED", limit):
        assert rows_found(data, delimiter, block_bytes) == rows_found(data, delimiter, len(data) + 1)
