"""The decision trail: an append-only hash chain.

Each entry's hash covers the previous entry's hash and the entry's own canonical JSON, so altering,
removing or reordering any entry breaks every later link. `seq` is the primary key and contiguous
from 1: two writers that read the same last entry cannot both insert the next one. Appenders are
serialised (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE) and retry on a key conflict, so the
chain never forks.

Not detectable from the table alone: dropping the newest entries. Anchor the head hash elsewhere
(a periodic export) to catch that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from prospectguard.store.compiled import RunMany, Statements
from prospectguard.store.connect import read_tx
from prospectguard.store.facts import Run
from prospectguard.store.schema import audit_log, utcnow
from prospectguard.store.types import require_aware

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 0x70677374_6F726502  # arbitrary, shared by every appender of the database
_MAX_TRIES = 5
_STREAM_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    checked: int  # entries found intact before the first bad one (all of them when ok)
    first_bad_seq: int | None = None
    problem: str | None = None
    head: str | None = None  # hash of the last intact entry: record it elsewhere to detect truncation
    anchor_found: bool = False  # whether the `anchor` hash given to verify() is in the intact chain


def canonical_json(value: Any) -> str:
    """One byte sequence per value: the hash must not depend on key order or spacing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    org: str,
    request: Mapping[str, Any],
    facts: Mapping[str, Any],
    decision: Mapping[str, Any],
    law_date: date,
) -> str:
    entry = {
        "seq": seq,
        "at": require_aware(at, "at").isoformat(),
        "org": org,
        "request": request,
        "facts": facts,
        "decision": decision,
        "law_date": law_date.isoformat(),
    }
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def text_hash(prev_hash: str, *, seq: int, at: datetime, org: str, law_date: date, texts: Mapping[str, str]) -> str:
    """`entry_hash` from the canonical texts of request, facts and decision, without parsing them
    back: `canonical_json` of the entry, spelled out key by key in sorted order (a test holds the
    two equal). Appending many decisions is mostly this."""
    head = json.dumps(require_aware(at, "at").isoformat())
    name = json.dumps(org, ensure_ascii=False)
    text = (
        f'{{"at":{head},"decision":{texts["decision"]},"facts":{texts["facts"]},'
        f'"law_date":"{law_date.isoformat()}","org":{name},"request":{texts["request"]},"seq":{int(seq)}}}'
    )
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One decision to append, its JSON already canonical. Mapping keys must be strings (every
    `to_json` of ours gives them): canonical JSON then reads back as the same text, so the hash
    made from the text at append is the one `verify` makes from what it reads."""

    at: datetime
    org: str
    law_date: date
    texts: dict[str, str]  # request, facts, decision: canonical JSON, which reads back as itself

    @classmethod
    def of(
        cls,
        *,
        at: datetime,
        org: str,
        request: Mapping[str, Any],
        facts: Mapping[str, Any],
        decision: Mapping[str, Any],
        law_date: date,
    ) -> Entry:
        at = require_aware(at, "at")
        if isinstance(law_date, datetime) or not isinstance(law_date, date):
            raise ValueError("law_date must be a date")
        texts = {
            "request": canonical_json(request),
            "facts": canonical_json(facts),
            "decision": canonical_json(decision),
        }
        return cls(at, org, law_date, texts)


# PostgreSQL's appends begin in READ COMMITTED whatever the database's default, so that the heads,
# read after the lock is granted, are the last appender's (under REPEATABLE READ the snapshot would
# be taken before the lock). A transaction its client leaves hanging between its round trips (a
# stalled link) ends by itself, and with it the lock every appender waits for; a lock not granted
# in 10 s fails this append closed rather than queueing it for ever.
_PG_BEGIN = (
    "BEGIN ISOLATION LEVEL READ COMMITTED",
    "SET LOCAL idle_in_transaction_session_timeout = '5s'",
    "SET LOCAL lock_timeout = '10s'",
)
# PostgreSQL: up to this many rows go in the text of the INSERT (a round trip, then COMMIT); more are
# streamed with COPY, then COMMIT. Per commit, in process (our CPU, PostgreSQL's): 3 rows in the
# text ~480 and ~400 µs, with COPY ~635 and ~400; about even at 8; 20 rows ~990 and ~950 against
# ~970 and ~725. At 500 rows, per row: COPY ~21-25 and ~13-14 µs, where the server-bound INSERTs
# of psycopg's pipeline it replaced cost ~27 and ~17, and the text ~55 and ~45.
LITERAL_ROWS = 8
# Built once: the service appends a few entries at a time, hundreds of times a second.
_PG_LOCK = select(func.pg_advisory_xact_lock(_PG_AUDIT_LOCK))
_INSERT = audit_log.insert()
_LAST = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_ORG_LAST = select(func.coalesce(func.max(audit_log.c.org_seq), 0)).where(
    audit_log.c.org == bindparam("org", type_=String)
)


def append_in(conn: Connection, entries: Sequence[Entry]) -> list[int]:
    """Append entries inside the caller's write transaction (so that they commit with what it wrote);
    returns their seqs. Appenders are serialised: the PostgreSQL advisory lock is held to commit."""

    def run_many(statement: Any, rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(statement, list(rows))

    return _append(
        conn.dialect.name, lambda statement, values: conn.execute(statement, values).all(), run_many, entries
    )


def _append(dialect: str, run: Run, run_many: RunMany, entries: Sequence[Entry]) -> list[int]:
    if not entries:
        return []
    if dialect == "postgresql":
        run(_PG_LOCK, {})
    last = run(_LAST, {})
    org_last = {org: run(_ORG_LAST, {"org": org})[0][0] for org in {entry.org for entry in entries}}
    rows, seqs = _chained(last[0] if last else None, org_last, entries)
    run_many(_INSERT, rows)
    return seqs


def _chained(last: Any, org_last: dict[str, int], entries: Sequence[Entry]) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows that append `entries` after `last` (the newest row's seq and hash, None for an empty
    trail), given each organisation's last org_seq; and their seqs."""
    seq, prev_hash = (0, GENESIS_HASH) if last is None else (last.seq, last.hash)
    org_seq = dict(org_last)
    recorded_at = utcnow()
    rows, seqs = [], []
    for entry in entries:
        seq += 1
        org_seq[entry.org] += 1
        digest = text_hash(prev_hash, seq=seq, at=entry.at, org=entry.org, law_date=entry.law_date, texts=entry.texts)
        rows.append(
            {
                "seq": seq,
                "at": entry.at,
                "org": entry.org,
                "law_date": entry.law_date,
                "prev_hash": prev_hash,
                "hash": digest,
                "org_seq": org_seq[entry.org],
                "recorded_at": recorded_at,
                **entry.texts,
            }
        )
        seqs.append(seq)
        prev_hash = digest
    return rows, seqs


def _append_in_two_trips(statements: Statements, entries: Sequence[Entry]) -> list[int]:
    """PostgreSQL: `_append` in two round trips to the server, where one statement each took eight
    (BEGIN, the lock, the last entry, each organisation's last org_seq, the rows in a pipeline,
    COMMIT). The first trip takes the lock and then reads the heads: in READ COMMITTED each statement
    of a transaction sees what was committed when it starts, so the reads after the lock see the
    last appender's commit. The second inserts every row in one statement and commits; past
    `LITERAL_ROWS` rows, they are streamed with COPY, and COMMIT takes a third trip. Each round trip costs
    tens of µs of the service's CPU and of PostgreSQL's, and the lock is held for less time."""
    if not entries:
        return []

    orgs = sorted({entry.org for entry in entries})
    insert = statements[_INSERT]
    head, values = insert.sql.split(" VALUES ", 1)
    with statements.script() as script:
        results = script.execute(
            [*_PG_BEGIN, (_PG_LOCK, {}), (_LAST, {}), *((_ORG_LAST, {"org": org}) for org in orgs)]
        )
        _, last, *org_rows = results[len(_PG_BEGIN) :]
        org_last = {org: rows[0][0] for org, rows in zip(orgs, org_rows, strict=True)}
        rows, seqs = _chained(last[0] if last else None, org_last, entries)
        if len(rows) <= LITERAL_ROWS:
            script.execute([f"{head} VALUES " + ", ".join(script.literal(_INSERT, r, sql=values) for r in rows)])
        else:
            script.copy(_INSERT, rows)
        script.commit()
    return seqs


def append_many(statements: Statements, entries: Sequence[Entry]) -> list[int]:
    """Append entries in one transaction (one commit for many decisions), on the driver's cursor:
    the service's appenders take turns on the write lock, so the less work inside it, the more
    decisions per second (SQLAlchemy's execution path doubled a commit's time). Returns their seqs."""
    integrity = (IntegrityError, statements.engine.dialect.loaded_dbapi.IntegrityError)
    dialect = statements.engine.dialect.name
    for attempt in range(_MAX_TRIES):
        try:
            if dialect == "postgresql":
                return _append_in_two_trips(statements, entries)
            with statements.write() as (run, run_many):
                return _append(dialect, run, run_many, entries)
        except integrity:  # another appender took this seq (e.g. one that skips the lock)
            if attempt == _MAX_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def append(
    statements: Statements,
    *,
    at: datetime,
    org: str,
    request: Mapping[str, Any],
    facts: Mapping[str, Any],
    decision: Mapping[str, Any],
    law_date: date,
) -> int:
    """Append one entry and return its seq."""
    entry = Entry.of(at=at, org=org, request=request, facts=facts, decision=decision, law_date=law_date)
    return append_many(statements, [entry])[0]


def verify(engine: Engine, anchor: str | None = None) -> AuditReport:
    """Walk the chain in seq order, streaming, and stop at the first bad entry.

    `anchor` is a head hash recorded earlier: if it is no longer in the chain, the newest entries were
    dropped or rewritten, which the chain alone cannot show.
    """
    expected_prev = GENESIS_HASH
    checked = 0
    found = False
    with read_tx(engine) as conn:
        rows = conn.execution_options(yield_per=_STREAM_BATCH).execute(select(audit_log).order_by(audit_log.c.seq))
        for row in rows:
            expected_seq = checked + 1
            if row.seq != expected_seq:
                return AuditReport(
                    False,
                    checked,
                    expected_seq,
                    f"missing seq {expected_seq} (next entry is seq {row.seq})",
                    head=None if checked == 0 else expected_prev,
                )
            if row.prev_hash != expected_prev:
                return AuditReport(False, checked, row.seq, "prev_hash does not match the previous entry's hash")
            try:
                digest = entry_hash(
                    row.prev_hash,
                    seq=row.seq,
                    at=row.at,
                    org=row.org,
                    request=json.loads(row.request),
                    facts=json.loads(row.facts),
                    decision=json.loads(row.decision),
                    law_date=row.law_date,
                )
            except ValueError as exc:  # unreadable JSON is tampering too
                return AuditReport(False, checked, row.seq, f"entry cannot be read: {exc}")
            if digest != row.hash:
                return AuditReport(False, checked, row.seq, "hash does not match the entry's content")
            expected_prev = row.hash
            found = found or row.hash == anchor
            checked += 1
    head = None if checked == 0 else expected_prev
    return AuditReport(True, checked, head=head, anchor_found=found)


def org_head(engine: Engine, org: str) -> tuple[int, str | None]:
    """How many entries the organisation has in the chain, and the hash of its latest one."""
    with read_tx(engine) as conn:
        last = conn.execute(
            select(audit_log.c.org_seq, audit_log.c.hash)
            .where(audit_log.c.org == org)
            .order_by(audit_log.c.org_seq.desc())
            .limit(1)
        ).first()
    return (0, None) if last is None else (int(last.org_seq), last.hash)


def entries(engine: Engine, offset: int, limit: int) -> list[dict[str, Any]]:
    """The whole chain in seq order, every organisation's entries with their links (the operator's view)."""
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must be >= 0")
    with read_tx(engine) as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq).offset(offset).limit(limit))
        return [
            {
                "seq": row.seq,
                "at": row.at.isoformat(),
                "org": row.org,
                "org_seq": row.org_seq,
                "request": json.loads(row.request),
                "facts": json.loads(row.facts),
                "decision": json.loads(row.decision),
                "law_date": row.law_date.isoformat(),
                "prev_hash": row.prev_hash,
                "hash": row.hash,
                "recorded_at": row.recorded_at.isoformat(),
            }
            for row in rows
        ]


def org_entries(engine: Engine, org: str, after: int, limit: int) -> list[dict[str, Any]]:
    """One organisation's entries past its `after`-th, numbered among its own (`n`): without the
    chain's global seq and links, whose gaps and hashes would tell of the other organisations."""
    if after < 0 or limit < 0:
        raise ValueError("after and limit must be >= 0")
    query = (
        select(audit_log)
        .where(audit_log.c.org == org, audit_log.c.org_seq > after)
        .order_by(audit_log.c.org_seq)
        .limit(limit)
    )
    with read_tx(engine) as conn:
        return [
            {
                "n": row.org_seq,
                "at": row.at.isoformat(),
                "org": row.org,
                "request": json.loads(row.request),
                "facts": json.loads(row.facts),
                "decision": json.loads(row.decision),
                "law_date": row.law_date.isoformat(),
                "hash": row.hash,
                "recorded_at": row.recorded_at.isoformat(),
            }
            for row in conn.execute(query)
        ]
