"""Writing `allowed` and `blocked`: the input's own columns untouched, then ours.

CSV keeps the input's delimiter and encoding (a UTF-8 BOM too), so the file opens in the same Excel
as the input did; original values come out as the bytes they went in. XLSX and Parquet get Unicode
text (Parquet keeps a Parquet input's own column types).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from prospectguard.batch.direct import DirectFile
from prospectguard.batch.source import Source
from prospectguard.inputs import InputError

XLSX_MAX_ROWS = 1_048_576  # Excel's limit, header included
# A cp1252 file is read and written as Latin-1 (byte for byte). Our own text must then carry the
# Windows-1252 characters (—, ’, €, œ...) as the Latin-1 code points of their bytes.
_CP1252_HIGH = {ch: chr(b) for b in range(0x80, 0xA0) if (ch := bytes([b]).decode("cp1252", "ignore"))}
_CP1252_PATTERN = "[" + "".join(_CP1252_HIGH) + "]"


def unique_names(names: list[str]) -> list[str]:
    """Column names made distinct (Parquet and XLSX readers choke on repeats): 'e164', 'e164 (2)'..."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name} ({n})"
        out.append(candidate)
    return out


class Sink:
    """One output file; `write` takes the chunk's original columns and our added text columns."""

    def __init__(self, path: Path, fmt: str, src: Source, added: list[str], raw: bool = False) -> None:
        """`raw`: CSV in, CSV out; rows come as their own bytes with ours joined on (`write_raw`)."""
        self.path = path
        self.fmt = fmt
        self.src = src
        self.header = [*src.header, *added]
        self.rows = 0
        self._writer: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink")
        self._pending: list[Future[None]] = []
        if fmt == "csv":
            self.delimiter = src.delimiter or ";"
            self.encoding = src.encoding or "utf-8-sig"  # XLSX/Parquet in: CSV that French Excel opens
            self._file = DirectFile(path)  # around the page cache, where the file system allows it
            if raw:  # the header row's own bytes (its BOM too), then our column names
                names = [csv_field(encode_text(name, self.encoding), self.delimiter) for name in added]
                self._file.write(self.delimiter.encode().join([src.header_line, *names]) + src.eol)
            elif self.encoding == "utf-8-sig":
                self._file.write(b"\xef\xbb\xbf")
            if not raw:
                line = io.StringIO()
                csv.writer(line, delimiter=self.delimiter, lineterminator="\n").writerow(self.header)
                self._file.write(self._encode(line.getvalue()))
        elif fmt == "xlsx":
            import openpyxl

            self._book = openpyxl.Workbook(write_only=True)
            self._sheet = self._book.create_sheet()
            self._sheet.append(unique_names(self.header))

    def _encode(self, text: str) -> bytes:
        # cp1252 input was read as Latin-1 (byte for byte): write it back the same way.
        return text.encode("latin-1" if self.encoding == "cp1252" else "utf-8", "replace")

    def write(self, original: pa.Table, added: list[pa.Array]) -> None:
        """Queue a chunk: a writer thread formats and writes it (Arrow and file writes release the GIL,
        so the next chunk is judged meanwhile); at most two chunks wait, in order."""
        if original.num_rows == 0:
            return
        self.rows += original.num_rows
        if self.fmt == "xlsx" and self.rows >= XLSX_MAX_ROWS:
            raise InputError("--format", f"more than {XLSX_MAX_ROWS - 1:,} rows do not fit in XLSX; use csv or parquet")
        while len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, original, added))

    def write_raw(self, data: pa.Buffer) -> None:
        """Queue rows already laid out as CSV bytes (`Block.assemble`): the writer thread writes them."""
        if not data.size:
            return
        while len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write_bytes, data))

    def _write_bytes(self, data: pa.Buffer) -> None:
        self._file.write(memoryview(data))

    def _write(self, original: pa.Table, added: list[pa.Array]) -> None:
        if self.fmt == "csv":
            self._write_csv(original, added)
        elif self.fmt == "xlsx":
            if self.rows >= XLSX_MAX_ROWS:
                raise InputError(
                    "--format", f"more than {XLSX_MAX_ROWS - 1:,} rows do not fit in XLSX; use csv or parquet"
                )
            cols = [self.src.text(c).to_pylist() for c in original.columns] + [a.to_pylist() for a in added]
            for values in zip(*cols, strict=True):
                self._sheet.append(["" if v is None else v for v in values])
        else:
            cols = original.columns if self.src.format == "parquet" else [self.src.text(c) for c in original.columns]
            table = pa.table([*cols, *added], names=unique_names(self.header))
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)

    def _write_csv(self, original: pa.Table, added: list[pa.Array]) -> None:
        cols: list[pa.Array | pa.ChunkedArray] = []
        for col in original.columns:
            if self.src.format == "csv" and pa.types.is_binary(col.type):
                cols.append(pa.chunked_array([c.view(pa.string()) for c in col.chunks], pa.string()))
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                cols.append(col)
            else:
                cols.append(pc.cast(col, pa.string()))
        if self.encoding == "cp1252":
            added = [_as_cp1252(a) for a in added]
        table = pa.table([*cols, *added], names=[f"c{i}" for i in range(len(cols) + len(added))])
        buf = pa.BufferOutputStream()  # Arrow's own buffer: no Python call per write
        pa_csv.write_csv(
            table,
            buf,
            pa_csv.WriteOptions(include_header=False, delimiter=self.delimiter, quoting_style="needed"),
        )
        data = memoryview(buf.getvalue())  # no copy into a Python bytes object
        if self.encoding == "cp1252":
            self._file.write(codecs.utf_8_decode(data)[0].encode("latin-1", "replace"))  # C codecs, ~1 GB/s
        else:
            self._file.write(data)

    def abort(self) -> None:
        """Stop after a failure elsewhere: drop what is queued, close the file, raise nothing."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        if self.fmt == "csv":
            self._file.discard()  # its staged bytes are not written: the file is to be deleted
        elif self.fmt == "parquet" and self._writer is not None:
            with contextlib.suppress(Exception):  # e.g. the disk that failed the write fails this too
                self._writer.close()

    def close(self) -> None:
        """Wait for the queued chunks (their errors surface here), then close the file."""
        try:
            for pending in self._pending:
                pending.result()
        finally:
            self._pending.clear()
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self.fmt == "csv":
            self._file.close()
        elif self.fmt == "xlsx":
            self._book.save(self.path)
        else:
            if self._writer is None:  # no row: still a valid, empty file with the columns
                names = unique_names(self.header)
                empty = pa.table({n: pa.array([], pa.string()) for n in names})
                self._writer = pq.ParquetWriter(self.path, empty.schema)
                self._writer.write_table(empty)
            self._writer.close()


def encode_text(text: str, encoding: str | None) -> bytes:
    """Our own text (reasons, column names) in the output's encoding."""
    return text.encode("cp1252" if encoding == "cp1252" else "utf-8", "replace")


def csv_field(value: bytes, delimiter: str) -> bytes:
    """One CSV field's bytes, quoted when it holds the delimiter, a quote or a line break."""
    if any(c in value for c in (delimiter.encode(), b'"', b"\n", b"\r")):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


def _as_cp1252(arr: pa.Array) -> pa.Array:
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:  # our text is ASCII but for a few messages
        return arr
    if not pc.any(pc.match_substring_regex(arr, _CP1252_PATTERN)).as_py():
        return arr
    for ch, latin in _CP1252_HIGH.items():
        arr = pc.replace_substring(arr, ch, latin)
    return arr
