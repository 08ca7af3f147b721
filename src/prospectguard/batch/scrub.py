"""`prospectguard scrub`: judge every row of a prospect file for a campaign, and say why.

Rows are conserved: each input row lands in exactly one of `allowed` and `blocked`, unreadable ones
(ROW_MALFORMED) and repeated numbers (DUPLICATE_IN_FILE) included. Outputs are written into a
temporary directory inside OUTDIR and moved into place only when the whole file has been judged, so
an interrupted run never leaves files that look complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from queue import Empty, Full, Queue
from threading import Event, Thread
from typing import Any, BinaryIO, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prospectguard.batch.campaign import Campaign
from prospectguard.batch.csvbytes import Block, join_row, rewrite_row, spans, split_row
from prospectguard.batch.history import History, numbers_of
from prospectguard.batch.judge import ChunkVerdict, Judge, Prepared, Row, malformed, reasons_text, with_duplicate
from prospectguard.batch.report import render_report
from prospectguard.batch.sink import Sink, csv_field, encode_text
from prospectguard.batch.source import CHUNK_ROWS, Chunk, RawChunk, Reread, Source
from prospectguard.gate import STORE_UNAVAILABLE
from prospectguard.law import LAW
from prospectguard.model import Facts, Reason
from prospectguard.rules.consent import consent_law
from prospectguard.store import Store, StoreUnavailable

FORMATS = ("csv", "xlsx", "parquet")
ALLOWED_COLUMNS = ["e164", "territory", "timezone", "next_allowed_at"]
BLOCKED_COLUMNS = ["reason_codes", "reasons"]
PARIS = ZoneInfo("Europe/Paris")
# CSV to CSV copies each row's bytes (batch/csvbytes.py); off, it goes through Arrow's CSV reader and
# writer as XLSX and Parquet do. A test holds both ways to the same rows.
BYTES_PATH = True
# CSV to CSV, a chunk is `chunk_rows` rows of this many bytes (32 MB by default: ~440,000 of the
# benchmark file's rows). Chunks of 32 MB rather than 16 spread each chunk's fixed work over twice the
# rows: 9.7-10.1 s against 10.0-10.8 s on the benchmark file, in alternated runs.
ROW_BYTES = 128
# Chunks the reader may prepare ahead (each ~32 MB of the file, held as its rows' bounds and fields,
# not its bytes): it keeps working while the history loads.
PREFETCH = 10
# The reader scans the file in pieces of this size (see `_read_raw`).
SCAN_BYTES = 1 << 20
# Judged chunks that may wait for the emitter (each holds its rows' bytes until written).
EMIT_AHEAD = 2


@dataclass
class Tally:
    """What summary.json counts. `add` is called once per verdict per chunk (tens of thousands of
    times): it only counts the verdict's few shown traits; `settle` folds them into the counts."""

    rows: int = 0
    allowed: int = 0
    allowed_at_start: int = 0
    blocked: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    rules: dict[str, Reason] = field(default_factory=dict)
    territories: dict[str, Counter[str]] = field(default_factory=dict)
    types: dict[str, Counter[str]] = field(default_factory=dict)
    opening: Counter[datetime] = field(default_factory=Counter)
    # (allowed, territory, type, codes, next_allowed_at) -> rows not yet folded into the counts
    pending: dict[tuple[bool, str, str, tuple[str, ...], datetime | None], int] = field(default_factory=dict)

    def add(self, row: Row, count: int = 1) -> None:
        self.rows += count
        key = (row.allowed, row.territory, row.type, row.codes, row.next_allowed_at)
        if key in self.pending:
            self.pending[key] += count
            return
        self.pending[key] = count
        if not row.allowed:  # the first row to show a code names its rule (and orders ties)
            for reason in row.reasons:
                self.rules.setdefault(reason.code, reason)
            for code in row.codes:
                self.reasons.setdefault(code, 0)

    def settle(self, start: datetime) -> None:
        for (allowed, territory, kind, codes, nxt), count in self.pending.items():
            verdict = "allowed" if allowed else "blocked"
            self.territories.setdefault(territory or "unknown", Counter())[verdict] += count
            self.types.setdefault(kind, Counter())[verdict] += count
            if allowed:
                self.allowed += count
                if nxt is not None:
                    if nxt <= start:
                        self.allowed_at_start += count
                    hour = nxt.astimezone(PARIS).replace(minute=0, second=0, microsecond=0)
                    self.opening[hour] += count
            else:
                self.blocked += count
                for code in codes:
                    self.reasons[code] += count
        self.pending.clear()


def _summary(src: Source, campaign: Campaign, tally: Tally, fmt: str, law_date: str) -> dict[str, Any]:
    tally.settle(campaign.start)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": {
            "path": str(src.path),
            "format": src.format,
            "encoding": src.encoding,
            "delimiter": src.delimiter,
            "phone_column": src.header[src.columns.phone],
            "rows": tally.rows,
        },
        "campaign": campaign.to_json(),
        "law_date": law_date,
        "rows": tally.rows,
        "allowed": tally.allowed,
        "allowed_at_start": tally.allowed_at_start,
        "scheduled": tally.allowed - tally.allowed_at_start,
        "blocked": tally.blocked,
        "reasons": dict(tally.reasons.most_common()),
        "reason_rules": {
            code: {"rule": r.rule, "reference": r.reference, "kind": r.kind.value} for code, r in tally.rules.items()
        },
        "territories": {
            k: {"allowed": v["allowed"], "blocked": v["blocked"]} for k, v in sorted(tally.territories.items())
        },
        "types": {k: {"allowed": v["allowed"], "blocked": v["blocked"]} for k, v in sorted(tally.types.items())},
        "opening": [{"hour": h.isoformat(), "rows": n} for h, n in sorted(tally.opening.items())],
        "outputs": {
            "allowed": f"allowed.{fmt}",
            "blocked": f"blocked.{fmt}",
            "summary": "summary.json",
            "report": "report.html",
        },
    }


T = TypeVar("T")
_M_ARENA_MAX = -8  # glibc's malloc.h


def fewer_malloc_arenas(arenas: int = 2) -> bool:
    """Have glibc's malloc share `arenas` arenas between all threads (as MALLOC_ARENA_MAX does); True
    when it took. Why: a scrub's ten threads each got an arena of their own, and each kept what its
    thread freed: on the benchmark file the peak RSS went 1.85-1.87 -> 1.66-1.70 GB, in the same time
    (numpy's large arrays are few; Python's small objects do not use malloc's arenas). Call it
    before the threads start. Elsewhere than glibc it does nothing."""
    import ctypes
    import ctypes.util

    try:
        name = ctypes.util.find_library("c")
        if not name or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""):
            return False
        return bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError, ValueError):  # no confstr, no such name, no mallopt
        return False


def prefetch(chunks: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Read the next chunk in a thread while this one is judged (the CSV parser releases the GIL)."""
    queue: Queue[tuple[T | None, BaseException | None]] = Queue(maxsize=depth)
    stop = Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        queue.put((chunk, None), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((None, None))
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put((None, exc))

    reader = Thread(target=read, name="scrub-reader", daemon=True)
    reader.start()
    try:
        while True:
            chunk, error = queue.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        while reader.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)


_LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")


class _Stage:
    """Jobs run in order on a thread of their own, at most `ahead` of them waiting; a job's error
    is raised in the caller at its next `submit` or at the end. Leaving waits for every job, so
    nothing still writes when the caller aborts or finishes the outputs."""

    def __init__(self, name: str, ahead: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ahead = ahead
        self._pending: deque[tuple[Future[None], Callable[[], None] | None]] = deque()

    def submit(self, job: Callable[[], None], then: Callable[[], None] | None = None) -> None:
        self._pending.append((self._pool.submit(job), then))
        while len(self._pending) > self._ahead:
            self._finish_one()

    def _finish_one(self) -> None:
        future, then = self._pending.popleft()
        future.result()
        if then is not None:
            then()

    def __enter__(self) -> _Stage:
        return self

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        try:
            while self._pending:
                if kind is None:
                    self._finish_one()
                else:  # already failing: only wait, the first error is the one raised
                    future, _ = self._pending.popleft()
                    wait([future])
        finally:
            self._pool.shutdown(wait=True)


Progress = Callable[[int, float], None]  # rows done, share of the input read


def scrub(
    src: Source,
    campaign: Campaign,
    outdir: Path,
    store: Store | None,
    *,
    fmt: str = "csv",
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Judge every row of `src`; write allowed/blocked/summary.json/report.html into `outdir`.

    `store` None, or a store that cannot be read, blocks every row with STORE_UNAVAILABLE (fail closed).
    Returns the summary.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".scrub-", dir=outdir))
    try:
        summary = _run(src, campaign, work, store, fmt, progress, chunk_rows)
        for name in summary["outputs"].values():
            os.replace(work / name, outdir / name)
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(
    src: Source,
    campaign: Campaign,
    work: Path,
    store: Store | None,
    fmt: str,
    progress: Progress | None,
    chunk_rows: int,
) -> dict[str, Any]:
    start = campaign.start
    law_date = start.astimezone(PARIS).date().isoformat()
    org_id: int | None = None
    judge = Judge(campaign)
    down: str | None = None
    try:
        if store is None:
            raise StoreUnavailable("no store")
        org_id = store.org_id(campaign.organisation)
        base, _ = store.facts_many(org_id, [], start)
        judge.base = base
        judge.duplicates_off = "DUPLICATE_IN_FILE" in base.org.policies_off
        judge.classes.foreign_zones = "CALLEE_FOREIGN" in base.org.policies_off
    except StoreUnavailable as exc:
        down = str(exc)
    raw = BYTES_PATH and src.format == "csv" and fmt == "csv"  # rows copied as their own bytes
    allowed = Sink(work / f"allowed.{fmt}", fmt, src, ALLOWED_COLUMNS, raw=raw)
    blocked = Sink(work / f"blocked.{fmt}", fmt, src, BLOCKED_COLUMNS, raw=raw)
    tally = Tally()
    tails_made: dict[Hashable, bytes] = {}
    cols = src.columns
    # The store's history loads in a thread while the first chunks are read and classified; a chunk
    # waits for it only when it needs to know which numbers have one.
    loading: Future[History] | None = None
    if down is None and store is not None and org_id is not None:
        live_store, live_org = store, org_id
        bloctel = _bloctel_may_apply(campaign)
        loading = _LOADER.submit(
            lambda: History.of_numbered(
                live_store.history_tables_with(live_org, start, bloctel, numbers_of), campaign.channel
            )
        )

    def facts_of(numbers: list[str]) -> dict[str, Facts]:
        assert store is not None and org_id is not None
        return store.facts_many(org_id, numbers, start)[1]

    def judged(
        phones: pa.Array, postcodes: pa.Array | None, territories: pa.Array | None, prepared: Prepared | None = None
    ) -> ChunkVerdict:
        nonlocal down
        n = len(phones)
        if down is None and n:
            try:
                history_of = loading.result if loading is not None else None
                return judge.chunk(phones, postcodes, territories, facts_of, history_of, prepared)
            except StoreUnavailable as exc:
                down = str(exc)
        return ChunkVerdict([_unavailable(down or "")], np.zeros(n, np.int64), np.zeros(n, bool), _no_e164)

    try:
        if raw:
            # Three stages, each on its thread, chunks in file order through each: the reader finds the
            # rows, reads their fields and classifies the numbers, chunks ahead (the store's history
            # may still be loading); this thread judges; the emitter writes the rows and counts them.
            with src.path.open("rb") as f, _Stage("scrub-emit", EMIT_AHEAD) as emitter:
                again = Reread(f, str(src.path))
                for chunk_read in prefetch(_read_raw(src, judge, chunk_rows * ROW_BYTES, f), depth=PREFETCH):
                    verdict = judged(*chunk_read.texts, chunk_read.prepared)
                    done = chunk_read.raw.done
                    emitter.submit(
                        partial(_emit_raw, src, again, chunk_read.raw, verdict, allowed, blocked, tally, tails_made),
                        None if progress is None else partial(lambda d: progress(tally.rows, d), done),
                    )
        for chunk in [] if raw else prefetch(src.chunks(chunk_rows)):
            table = chunk.table
            if table.num_rows:
                verdict = judged(
                    src.text(table.column(cols.phone)),
                    src.text(table.column(cols.postcode)) if cols.postcode is not None else None,
                    src.text(table.column(cols.territory)) if cols.territory is not None else None,
                )
            else:
                verdict = judged(pa.array([], pa.string()), None, None)
            _emit(chunk, verdict, allowed, blocked, tally)
            if progress is not None:
                progress(tally.rows, chunk.done)
        allowed.close()
        blocked.close()
    except BaseException:
        try:
            allowed.abort()
        finally:
            blocked.abort()
        raise
    summary = _summary(src, campaign, tally, fmt, law_date)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (work / "report.html").write_text(render_report(summary), encoding="utf-8")
    if org_id is not None and store is not None and down is None:
        # One entry for the run in the hash chain, before the outputs are moved into place: fail closed,
        # a run the trail cannot record produces nothing (StoreUnavailable reaches the caller).
        store.append_audit(
            at=datetime.now(UTC),
            org=campaign.organisation,
            request={"scrub": str(src.path), "format": src.format, "campaign": campaign.to_json()},
            facts={"input_rows": tally.rows},
            decision={k: summary[k] for k in ("allowed", "allowed_at_start", "scheduled", "blocked", "reasons")},
            law_date=start.astimezone(PARIS).date(),
        )
    return summary


@dataclass
class _ReadChunk:
    raw: RawChunk
    texts: tuple[pa.Array, pa.Array | None, pa.Array | None]  # phone, postcode, territory
    prepared: Prepared


def _read_raw(src: Source, judge: Judge, chunk_bytes: int, f: BinaryIO) -> Iterator[_ReadChunk]:
    """Chunks of about `chunk_bytes`, each read as pieces of SCAN_BYTES: a piece's rows and fields
    are found while its bytes and the scan's arrays are still in the CPU's cache (on the benchmark
    file, pieces of 1 MB are scanned and their fields read about a quarter faster than blocks of 16 MB)."""
    width = len(src.header)
    wanted = (src.columns.phone, src.columns.postcode, src.columns.territory)
    scan_bytes = min(SCAN_BYTES, chunk_bytes)
    pieces: list[tuple[Block, list[pa.Array | None]]] = []

    def chunk(done: float) -> _ReadChunk:
        block = Block.joined([b for b, _ in pieces])
        fields = [None if c is None else pa.concat_arrays([got[k] for _, got in pieces]) for k, c in enumerate(wanted)]
        phones, postcodes, territories = (None if v is None else src.field_text(v) for v in fields)
        assert phones is not None
        pieces.clear()
        texts = (phones, postcodes, territories)
        return _ReadChunk(RawChunk(block, done), texts, judge.prepare(*texts))

    done = 0.0
    for raw in src.raw_chunks(scan_bytes, f):
        done = raw.done
        # Past this point only the rows' bounds are needed; their bytes are read again when written.
        pieces.append((raw.block.slim(), [None if c is None else raw.block.field(c, width) for c in wanted]))
        if len(pieces) * scan_bytes >= chunk_bytes:
            yield chunk(raw.done)
    if pieces:
        yield chunk(done)


def _bloctel_may_apply(campaign: Campaign) -> bool:
    """Whether the Bloctel rule (A11) is in force on some day of the campaign, in any time zone: if
    not, its numbers change no verdict and the history is loaded without them (500,000 numbers on
    the benchmark store)."""
    first = campaign.start.date() - timedelta(days=1)
    days = (max(campaign.end, campaign.start).date() - first).days + 2
    return any(consent_law(LAW.at(first + timedelta(days=d))).a11 for d in range(days))


def _no_e164(rows: np.ndarray) -> pa.Array:
    return pa.array([""] * len(rows), pa.string())


def _unavailable(detail: str) -> Row:
    reason = STORE_UNAVAILABLE._replace(message=f"{STORE_UNAVAILABLE.message} ({detail})")
    return Row(False, "", "", "", "unknown", None, (reason.code,), (reason,))


def _emit(chunk: Chunk, verdict: ChunkVerdict, allowed: Sink, blocked: Sink, tally: Tally) -> None:
    """Split the chunk into the two outputs (input order kept), then the malformed rows; count."""
    table = chunk.table
    ok = verdict.allowed()
    ok_idx, no_idx = np.flatnonzero(ok), np.flatnonzero(~ok)
    rows = verdict.verdicts
    if len(ok_idx):
        picked = verdict.index[ok_idx]
        texts = _texts(rows.__getitem__, picked, lambda r: (r.territory, r.timezone, _iso(r.next_allowed_at)))
        allowed.write(table.filter(pa.array(ok)), [verdict.e164(ok_idx), *texts])
    if len(no_idx):
        # A repeated number is its own variant of a verdict: the verdict's reasons + DUPLICATE_IN_FILE.
        dup = verdict.duplicate[no_idx]
        picked = verdict.index[no_idx] * 2 + dup
        texts = _texts(
            lambda v: rows[v // 2] if v % 2 == 0 else with_duplicate(rows[v // 2]),
            picked,
            lambda r: ("|".join(r.codes), reasons_text(r)),
        )
        blocked.write(table.filter(pa.array(~ok)), texts)
    by_why: dict[str, Row] = {}
    bad_rows = [by_why.get(why) or by_why.setdefault(why, malformed(why)) for _, why in chunk.malformed]
    if bad_rows:
        width = table.num_columns
        kind = table.schema.field(0).type if width else pa.string()
        originals = pa.table(
            [pa.array([fields[c] for fields, _ in chunk.malformed], pa.string()).cast(kind) for c in range(width)],
            names=table.column_names,
        )
        blocked.write(originals, _blocked_columns(bad_rows))
    # Count by verdict variant, not row by row.
    n_rows = len(rows)
    variant = verdict.index * 2 + verdict.duplicate
    counts = np.bincount(variant, minlength=2 * n_rows) if len(variant) else np.zeros(2 * n_rows, np.int64)
    for v in np.flatnonzero(counts).tolist():
        row = rows[v // 2] if v % 2 == 0 else with_duplicate(rows[v // 2])
        tally.add(row, int(counts[v]))
    for why, row in by_why.items():
        tally.add(row, sum(1 for _, w in chunk.malformed if w == why))


def _emit_raw(
    src: Source,
    again: Reread,
    raw: RawChunk,
    verdict: ChunkVerdict,
    allowed: Sink,
    blocked: Sink,
    tally: Tally,
    tails_made: dict[Hashable, bytes],
) -> None:
    """CSV to CSV: each row's own bytes, then our columns; malformed rows in their place among the
    blocked, padded to the header's width (or their extra fields joined into the last column).
    `tails_made`: our columns as bytes, by what they show, kept from chunk to chunk."""
    block = raw.block.with_data(again.at(raw.block.at, raw.block.used))
    width = len(src.header)
    delimiter = src.delimiter or ","
    rows = verdict.verdicts
    index, dup = verdict.index.copy(), verdict.duplicate.copy()
    bad_idx = np.flatnonzero(block.fields != width)
    bad_rows: list[Row] = []
    if len(bad_idx):
        got = block.fields[bad_idx]
        kinds, which = np.unique(got, return_inverse=True)
        bad_rows = [malformed(f"{g} fields where the header has {width}") for g in kinds.tolist()]
        index[bad_idx] = len(rows) + which.reshape(-1)
        dup[bad_idx] = False

    def variant_row(v: int) -> Row:
        row = rows[v // 2] if v // 2 < len(rows) else bad_rows[v // 2 - len(rows)]
        return with_duplicate(row) if v % 2 else row

    variant = index * 2 + dup
    ok = np.array([r.allowed for r in rows] + [False] * len(bad_rows), bool)[index] & ~dup
    ok_idx, no_idx = np.flatnonzero(ok), np.flatnonzero(~ok)
    tails = partial(_tails, variant_row, made=tails_made, encoding=src.encoding, delimiter=delimiter, eol=src.eol)
    # Rows not copied as they are: malformed ones (made as wide as the header) and rows with a quote
    # that never closes (written anew, that quote doubled inside a quoted field, so that a CSV reader
    # of the output does not take it as opening and swallow the rows after it).
    stray = block.stray_rows()
    redo = np.union1d(bad_idx, stray)
    fixed = pa.array([], pa.binary())
    if len(redo):
        lines = spans(block.data, block.start[redo], block.end[redo]).to_pylist()
        got = block.fields[redo].tolist()
        is_stray = np.isin(redo, stray).tolist()
        fixed = pa.array(
            [_fit(line, g, width, delimiter, s) for line, g, s in zip(lines, got, is_stray, strict=True)], pa.binary()
        )

    def replaced(picked: np.ndarray) -> tuple[pa.Array, np.ndarray] | None:
        if not len(redo):
            return None
        inside = np.isin(redo, picked)
        return (fixed.filter(pa.array(inside)), np.searchsorted(picked, redo[inside])) if inside.any() else None

    if len(ok_idx):
        e164 = verdict.e164(ok_idx).cast(pa.binary())
        shown = lambda r: (r.territory, r.timezone, _iso(r.next_allowed_at))  # noqa: E731
        pieces, at = tails(variant[ok_idx], shown, shown)
        sep = pa.array([delimiter.encode()], pa.binary())
        extra = [(sep, np.zeros(len(ok_idx), np.int64)), (e164, np.arange(len(ok_idx))), (pieces, at)]
        allowed.write_raw(block.assemble(ok_idx, extra, replaced(ok_idx)))
    if len(no_idx):
        pieces, at = tails(
            variant[no_idx], lambda r: (r.reasons, _iso(r.late)), lambda r: ("|".join(r.codes), reasons_text(r))
        )
        blocked.write_raw(block.assemble(no_idx, [(pieces, at)], replaced(no_idx)))
    counts = np.bincount(variant) if len(variant) else np.zeros(0, np.int64)
    for v in np.flatnonzero(counts).tolist():
        tally.add(variant_row(v), int(counts[v]))


def _fit(line: bytes, got: int, width: int, delimiter: str, stray: bool = False) -> bytes:
    """A row made as wide as the header, so that our columns land under their names; `stray`: the
    row holds a quote that never closes, and is written anew from its fields as read here."""
    sep = delimiter.encode()
    if stray:
        fields = rewrite_row(line, delimiter)
        fields += [b""] * (width - len(fields))
        return join_row([*fields[: width - 1], sep.join(fields[width - 1 :])], delimiter)
    if got < width:
        return line + sep * (width - got)
    if b'"' not in line:  # the usual case, without the csv module: the extra fields quoted as one
        tail = line.split(sep, width - 1)[-1]
        return line[: len(line) - len(tail)] + b'"' + tail + b'"'
    fields = split_row(line, delimiter)
    fields += [b""] * (width - len(fields))
    return join_row([*fields[: width - 1], delimiter.encode().join(fields[width - 1 :])], delimiter)


def _tails(
    variant_row: Callable[[int], Row],
    picked: np.ndarray,
    shown: Callable[[Row], Hashable],
    fields: Callable[[Row], tuple[str, ...]],
    *,
    made: dict[Hashable, bytes],
    encoding: str | None,
    delimiter: str,
    eol: bytes,
) -> tuple[pa.Array, np.ndarray]:
    """What follows each row's bytes: our columns (delimiter first, line break last) in the output's
    encoding, built once per verdict; and which one each picked row takes. `shown(row)` is what the
    fields are made from: the bytes are made once per run for it, in `made` (a few thousand)."""
    used = np.flatnonzero(np.bincount(picked))
    position = np.zeros(int(used[-1]) + 1, np.int64)
    position[used] = np.arange(len(used))
    sep = delimiter.encode()
    tails = []
    for v in used.tolist():
        row = variant_row(v)
        key = shown(row)
        tail = made.get(key)
        if tail is None:
            tail = b"".join(sep + csv_field(encode_text(text, encoding), delimiter) for text in fields(row)) + eol
            if len(made) < 100_000:
                made[key] = tail
        tails.append(tail)
    return pa.array(tails, pa.binary()), position[picked]


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _texts(row: Callable[[int], Row], picked: np.ndarray, fields: Callable[[Row], tuple[str, ...]]) -> list[pa.Array]:
    """Columns of text per row, built once per verdict and spread with `take`."""
    used, inverse = np.unique(picked, return_inverse=True)
    values = [fields(row(int(u))) for u in used]
    width = len(values[0]) if values else 0
    indices = pa.array(inverse.reshape(-1))
    return [pc.take(pa.array([v[k] for v in values], pa.string()), indices) for k in range(width)]


def _blocked_columns(rows: list[Row]) -> list[pa.Array]:
    texts: dict[int, tuple[str, str]] = {}  # the rows share a few verdicts: their text once each
    pairs = [texts.get(id(r)) or texts.setdefault(id(r), ("|".join(r.codes), reasons_text(r))) for r in rows]
    return [pa.array([p[0] for p in pairs], pa.string()), pa.array([p[1] for p in pairs], pa.string())]
