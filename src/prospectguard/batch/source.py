"""Reading a prospect file as people actually produce it: CSV from Excel or a CRM, XLSX, Parquet.

CSV: the encoding (UTF-8, UTF-8 with BOM, else Windows-1252) and the delimiter (`;`, `,`, tab) are
detected from the start of the file; quoted fields may hold delimiters and newlines. The file is
streamed in chunks of rows so memory stays bounded whatever its size. Values are kept as they were
written: UTF-8 files are read as bytes and written back as the same bytes; Windows-1252 files are
read as Latin-1, which maps every byte to one character and back, so they round-trip byte for byte
too. A row whose field count differs from the header's is not dropped: it comes out as a malformed
row, its fields padded (too few) or the extra ones joined into the last column (too many).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from prospectguard.batch.csvbytes import BLOCK_BYTES, Block, blocks, scan, value_bytes
from prospectguard.inputs import InputError

SAMPLE_BYTES = 1 << 20
CHUNK_ROWS = 250_000
DELIMITERS = (";", ",", "\t")

# Header names, without accents, case, spaces or punctuation.
PHONE_NAMES = (
    "telephone",
    "tel",
    "phone",
    "mobile",
    "portable",
    "numero",
    "msisdn",
    "gsm",
    "cellulaire",
    "phonenumber",
    "numerodetelephone",
    "numtel",
    "telephonemobile",
    "telephoneportable",
    "telportable",
    "telmobile",
)
PHONE_WORDS = ("telephone", "phone", "mobile", "portable", "msisdn", "gsm", "tel")
POSTCODE_NAMES = ("postcode", "codepostal", "cp", "zip", "zipcode", "postalcode", "cpostal")
TERRITORY_NAMES = ("territory", "territoire", "departement", "dept", "dep", "codedepartement")


def normalise_name(name: str) -> str:
    """'Numéro de Téléphone' -> 'numerodetelephone': what a header means, not how it is typed."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).lower()


@dataclass(frozen=True, slots=True)
class Columns:
    """Where the columns the rules read sit in the header (0-based)."""

    phone: int
    postcode: int | None
    territory: int | None
    ambiguous_phone: tuple[str, ...] = ()  # other headers that also looked like a phone column


def find_columns(header: list[str], phone_column: str | None) -> Columns:
    names = [normalise_name(h) for h in header]
    if phone_column is not None:
        if phone_column in header:
            phone = header.index(phone_column)
        elif normalise_name(phone_column) in names:
            phone = names.index(normalise_name(phone_column))
        else:
            raise InputError("--phone-column", f"{phone_column!r} is not a column; the columns are {_list(header)}")
        others: tuple[str, ...] = ()
    else:
        exact = [i for i, n in enumerate(names) if n in PHONE_NAMES]
        loose = [i for i, n in enumerate(names) if i not in exact and any(w in n for w in PHONE_WORDS)]
        candidates = exact + loose
        if not candidates:
            raise InputError(
                "--phone-column",
                f"no phone column found among {_list(header)}; name it with --phone-column",
            )
        phone = candidates[0]
        others = tuple(header[i] for i in candidates[1:])

    def first(wanted: tuple[str, ...]) -> int | None:
        return next((i for i, n in enumerate(names) if n in wanted and i != phone), None)

    return Columns(phone, first(POSTCODE_NAMES), first(TERRITORY_NAMES), others)


def _list(header: list[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:20])
    return shown + (f" and {len(header) - 20} more" if len(header) > 20 else "")


@dataclass
class Chunk:
    """A run of rows in input order: the readable ones as a table, then the malformed ones."""

    table: pa.Table  # one column per header field, named c0, c1...; CSV: binary (UTF-8) or string (Latin-1)
    malformed: list[tuple[list[str], str]] = field(default_factory=list)  # fields (header width), why
    done: float = 0.0  # share of the input read so far, for the progress bar


@dataclass
class RawChunk:
    """A run of CSV rows as positions in the file's bytes (the header row left out)."""

    block: Block  # `block.at`: where its bytes start in the file
    done: float = 0.0


class Reread:
    """A block's bytes read again from the open input, into one buffer reused from block to block.

    Why: a chunk read ahead then holds its rows' positions, not its bytes, so many more fit in
    memory while the store's history loads. The bytes must be those judged: a file whose size,
    modification or change time moves during the scrub stops it (exit 2), and its temporary outputs
    are discarded. The change time (ctime) moves on every write and no tool can set it back, so a
    rewrite of the same size that restores the modification time (`cp -p`, `rsync --inplace -t`) is
    seen too. Not thread-safe: one user at a time (the scrub's emitter), each view valid until the
    next read.
    """

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._fd = f.fileno()
        self._name = name
        self._seen = self._identity()
        self._buffer = bytearray()

    def _identity(self) -> tuple[int, int, int]:
        st = os.fstat(self._fd)
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def at(self, offset: int, size: int) -> memoryview:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        got = os.preadv(self._fd, [view], offset)
        if got != size or self._identity() != self._seen:
            raise InputError(self._name, "the file changed during the scrub; nothing was written")
        return view


@dataclass
class Source:
    """An opened input: what was detected and an iterator over its chunks."""

    path: Path
    format: str  # csv, xlsx, parquet
    header: list[str]
    columns: Columns
    encoding: str | None = None  # csv only: utf-8, utf-8-sig or cp1252
    delimiter: str | None = None  # csv only
    header_line: bytes = b""  # csv only: the header row's own bytes (a BOM included), line break left out
    eol: bytes = b"\n"  # csv only: the header row's line break, which the outputs use
    options: dict[str, Any] = field(default_factory=dict)

    def raw_chunks(self, block_bytes: int = BLOCK_BYTES, f: BinaryIO | None = None) -> Iterator[RawChunk]:
        """CSV rows as byte positions, block by block: for a CSV-to-CSV scrub, which copies each
        row's bytes and reads only the fields the rules need. `f`: the file, already open, read
        from its start. A block's bytes are valid until the next block is asked for (see `blocks`)."""
        size = max(self.path.stat().st_size, 1)
        first = True
        with contextlib.nullcontext(f) if f is not None else self.path.open("rb") as opened:
            for block in blocks(opened, self.delimiter or ",", block_bytes):
                if first:
                    block, first = block.rows_from(1), False
                yield RawChunk(block, min((block.at + block.used) / size, 1.0))

    def field_text(self, values: pa.Array) -> pa.Array:
        """Raw field bytes (`Block.field`) as Unicode text, for the rules."""
        if self.encoding != "cp1252":
            try:
                return pc.cast(values, pa.string())
            except pa.ArrowInvalid:  # stray bytes that are not UTF-8 in a UTF-8 file
                return pa.array([v.decode("utf-8", "replace") for v in values.to_pylist()], pa.string())
        data, offsets = value_bytes(values)
        high = np.flatnonzero(data >= 0x80)
        text = values.view(pa.string())
        if not len(high):  # the usual case: ASCII, the same bytes in both encodings
            return text
        rows = np.unique(np.searchsorted(offsets, high, side="right") - 1)
        mask = np.zeros(len(values), bool)
        mask[rows] = True
        fixed = [v.decode("cp1252", "replace") for v in values.take(pa.array(rows)).to_pylist()]
        return pc.replace_with_mask(text, pa.array(mask), pa.array(fixed, pa.string()))

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        if self.format == "csv":
            return _csv_chunks(self, chunk_rows)
        if self.format == "xlsx":
            return _xlsx_chunks(self, chunk_rows)
        return _parquet_chunks(self, chunk_rows)

    def text(self, column: pa.ChunkedArray | pa.Array) -> pa.Array:
        """A column as Unicode text, for the rules (phone, postcode) and for non-CSV outputs."""
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if self.format != "csv":
            return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
        if self.encoding == "cp1252":  # read as Latin-1: give C1 code points their Windows-1252 meaning
            if pc.all(pc.string_is_ascii(arr)).as_py() is not False:  # the usual case, checked cheaply
                return arr
            c1 = pc.fill_null(pc.match_substring_regex(arr, "[\u0080-\u009f]"), False)
            if not pc.any(c1).as_py():
                return arr
            fixed = [_cp1252(v) if v is not None else None for v in pc.filter(arr, c1).to_pylist()]
            return pc.replace_with_mask(arr, c1, pa.array(fixed, pa.string()))
        try:
            return pc.cast(arr, pa.string())
        except pa.ArrowInvalid:  # stray bytes that are not UTF-8 in a UTF-8 file
            return pa.array([v.decode("utf-8", "replace") for v in arr.to_pylist()], pa.string())


def _cp1252(value: str) -> str:
    return value.encode("latin-1").decode("cp1252", "replace")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise InputError("INPUT", f"cannot read {path}: {exc.strerror or exc}") from None
    if head == b"PAR1":
        return "parquet"
    if head[:2] == b"PK":
        return "xlsx"
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """BOM -> utf-8-sig; valid UTF-8 -> utf-8; anything else is taken as Windows-1252 (Excel in France)."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("INPUT", "UTF-16 files are not supported; save the file as CSV UTF-8 or CSV (;)")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not merely a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def decode(data: bytes, encoding: str) -> str:
    if encoding == "cp1252":
        return data.decode("latin-1")  # the byte-for-byte mapping the reader uses
    return data.decode("utf-8-sig" if encoding == "utf-8-sig" else "utf-8", "replace")


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most fields and the next rows into as many."""
    rows = text.splitlines()
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        try:
            parsed = list(csv.reader(io.StringIO("\n".join(rows[:50])), delimiter=delim))
        except csv.Error:
            continue
        if not parsed:
            continue
        width = len(parsed[0])
        consistent = sum(1 for r in parsed[1:-1] if len(r) == width)
        score = (width if width > 1 else 0, consistent)
        if score > best_score:
            best, best_score = delim, score
    return best


def open_source(path: Path, phone_column: str | None = None) -> Source:
    if not path.exists():
        raise InputError("INPUT", f"{path} does not exist")
    if path.is_dir():
        raise InputError("INPUT", f"{path} is a directory; give a CSV, XLSX or Parquet file")
    fmt = detect_format(path)
    if fmt == "xlsx":
        return _open_xlsx(path, phone_column)
    if fmt == "parquet":
        return _open_parquet(path, phone_column)
    try:
        with path.open("rb") as f:
            sample = f.read(SAMPLE_BYTES)
    except OSError as exc:
        raise InputError("INPUT", f"cannot read {path}: {exc.strerror or exc}") from None
    if not sample.strip():
        raise InputError("INPUT", f"{path} is empty; a header row is needed")
    if b"\x00" in sample:
        raise InputError("INPUT", f"{path} is not a text file (it holds NUL bytes); give a CSV, XLSX or Parquet file")
    encoding = detect_encoding(sample)
    text = decode(sample, encoding)
    delimiter = detect_delimiter(text)
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    shown = [_cp1252(h) for h in header] if encoding == "cp1252" else header
    columns = find_columns(shown, phone_column)
    first = scan(sample, delimiter, final=len(sample) < SAMPLE_BYTES)
    header_line, eol = sample.rstrip(b"\r\n"), b"\n"
    if len(first):
        header_line = sample[: int(first.end[0])]
        eol = b"\r\n" if sample[int(first.end[0]) : int(first.end[0]) + 2] == b"\r\n" else b"\n"
    return Source(
        path, "csv", header, columns, encoding=encoding, delimiter=delimiter, header_line=header_line, eol=eol
    )


# ---------------------------------------------------------------------------------------------- CSV


class _Counting(io.RawIOBase):
    """A file that counts the bytes read, for the progress bar."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)  # type: ignore[attr-defined]
        self.read_bytes += n or 0
        return n or 0


def _csv_chunks(src: Source, chunk_rows: int) -> Iterator[Chunk]:
    width = len(src.header)
    names = [f"c{i}" for i in range(width)]
    latin = src.encoding == "cp1252"
    kind = pa.string() if latin else pa.binary()
    texts: list[str] = []
    delimiter = src.delimiter or ","

    def on_invalid(row: Any) -> str:
        texts.append(row.text)  # the parser thread waits for the GIL here: do the rest later
        return "skip"

    def malformed(found: list[str]) -> list[tuple[list[str], str]]:
        out = []
        for text in found:
            # Quoted fields: the csv module splits them as the parser did; otherwise a plain split will do.
            quoted = '"' in text
            fields = next(csv.reader(io.StringIO(text), delimiter=delimiter), []) if quoted else text.split(delimiter)
            got = len(fields)
            if got < width:
                fields = fields + [""] * (width - got)
            elif got > width:
                fields = [*fields[: width - 1], delimiter.join(fields[width - 1 :])]
            out.append((fields, f"{got} fields where the header has {width}"))
        return out

    size = max(src.path.stat().st_size, 1)
    with src.path.open("rb") as raw:
        counting = _Counting(raw)
        reader = pa_csv.open_csv(
            io.BufferedReader(counting, buffer_size=1 << 20),
            read_options=pa_csv.ReadOptions(
                column_names=names,
                skip_rows=1,
                encoding="latin-1" if latin else "utf8",
                block_size=4 << 20,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: kind for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= chunk_rows:
                found = texts[:]  # the parser may append meanwhile: remove only what was taken
                del texts[: len(found)]
                yield Chunk(pa.Table.from_batches(pending), malformed(found), min(counting.read_bytes / size, 1.0))
                pending, rows = [], 0
        schema = pa.schema([(n, kind) for n in names])
        yield Chunk(pa.Table.from_batches(pending, schema=schema), malformed(list(texts)), 1.0)


# ---------------------------------------------------------------------------------------------- XLSX


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 612345678.0: a number typed into a cell lost its leading 0, not more
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _open_xlsx(path: Path, phone_column: str | None) -> Source:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError("INPUT", f"{path} is not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        first = next(sheet.iter_rows(values_only=True), None)
    finally:
        book.close()
    if first is None:
        raise InputError("INPUT", f"{path}: the first sheet is empty; a header row is needed")
    header = [_cell(v) or f"column {i + 1}" for i, v in enumerate(first)]
    return Source(path, "xlsx", header, find_columns(header, phone_column))


def _xlsx_chunks(src: Source, chunk_rows: int) -> Iterator[Chunk]:
    import openpyxl

    width = len(src.header)
    names = [f"c{i}" for i in range(width)]
    book = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        total = max((sheet.max_row or 1) - 1, 1)
        cols: list[list[str]] = [[] for _ in range(width)]
        bad: list[tuple[list[str], str]] = []
        seen = 0
        for values in sheet.iter_rows(min_row=2, values_only=True):
            if all(v is None or v == "" for v in values):
                continue  # an empty line of a sheet is not a row
            seen += 1
            cells = [_cell(v) for v in values]
            extra = [c for c in cells[width:] if c]
            if extra:
                fields = [*cells[: width - 1], " ".join(cells[width - 1 :]).strip()]
                bad.append((fields, f"{width + len(extra)} filled cells where the header has {width}"))
            else:
                cells += [""] * (width - len(cells))
                for i in range(width):
                    cols[i].append(cells[i])
            if len(cols[0]) + len(bad) >= chunk_rows:
                yield Chunk(_table(cols, names), bad, min(seen / total, 1.0))
                cols, bad = [[] for _ in range(width)], []
        yield Chunk(_table(cols, names), bad, 1.0)
    finally:
        book.close()


def _table(cols: list[list[str]], names: list[str]) -> pa.Table:
    return pa.table([pa.array(c, pa.string()) for c in cols], names=names)


# ---------------------------------------------------------------------------------------------- Parquet


def _open_parquet(path: Path, phone_column: str | None) -> Source:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError("INPUT", f"{path} is not a readable Parquet file: {exc}") from None
    header = list(schema.names)
    return Source(path, "parquet", header, find_columns(header, phone_column))


def _parquet_chunks(src: Source, chunk_rows: int) -> Iterator[Chunk]:
    names = [f"c{i}" for i in range(len(src.header))]
    f = pq.ParquetFile(src.path)
    total = max(f.metadata.num_rows, 1)
    seen = 0
    for batch in f.iter_batches(batch_size=chunk_rows):
        seen += batch.num_rows
        yield Chunk(pa.Table.from_batches([batch]).rename_columns(names), [], min(seen / total, 1.0))
    if seen == 0:
        yield Chunk(pa.Table.from_batches([], schema=f.schema_arrow).rename_columns(names), [], 1.0)
