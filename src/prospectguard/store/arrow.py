"""An organisation's whole history as Arrow tables, for batches that judge millions of rows at once.

The same rows `read_facts_many` reads for a handful of numbers (consents, withdrawals, opposition
events, contracts, attempts from 90 days before the instant, the numbers of the Bloctel snapshot in
force), for every number, in one query per table. Through ADBC (the Arrow project's database
drivers) the rows go from SQLite or PostgreSQL into columns without a Python object per value; an
in-memory SQLite database, or a driver that cannot be loaded, goes through SQLAlchemy instead, with
the same result. The queries run in one read transaction, so a batch sees one state of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from prospectguard.store.connect import read_tx
from prospectguard.store.facts import ATTEMPT_WINDOW, snapshot_in_force

# Every instant as int64 microseconds since the epoch, UTC.
QUERIES = {
    "consents": (
        "SELECT e164, collected_at AS at, channel, {expires} AS expires_at, proof_sha256 <> '' AS proof,"
        " (slot_start IS NOT NULL AND slot_end IS NOT NULL) AS slot, id FROM consents WHERE {org_id} = {org}"
    ),
    "withdrawals": "SELECT e164, at, id FROM consent_withdrawals WHERE {org_id} = {org}",
    "oppositions": "SELECT e164, at, active, id FROM opposition_events WHERE {org_id} = {org}",
    "contracts": "SELECT e164 FROM contracts WHERE {org_id} = {org}",
    "attempts": (
        "SELECT e164, at, channel, COALESCE(attempt_outcomes.outcome, attempts.outcome) AS outcome, id"
        " FROM attempts LEFT JOIN attempt_outcomes ON attempt_outcomes.attempt_id = attempts.id"
        " WHERE {org_id} = {org}"
    ),
    "bloctel": "SELECT e164 FROM bloctel_numbers WHERE snapshot_id = {snapshot}",
}
INSTANTS = ("at", "expires_at")
T = TypeVar("T")
# Each table is normalised (and given to the caller's `each`) here while the next one is fetched:
# drivers release the GIL as they read, and the table's own work was on the load's critical path.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="history-tables")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FLAGS = ("proof", "slot", "active")


def history_tables(engine: Engine, org_id: int, at: datetime, bloctel: bool = True) -> dict[str, pa.Table]:
    """The tables, normalised: instants as int64 microseconds (UTC), flags as booleans, attempts of the
    ATTEMPT_WINDOW (90 days) before `at` only."""
    return {name: table for name, (table, _) in history_tables_with(engine, org_id, at, bloctel, _nothing).items()}


def _nothing(name: str, table: pa.Table) -> None:
    return None


def history_tables_with(
    engine: Engine, org_id: int, at: datetime, bloctel: bool, each: Callable[[str, pa.Table], T]
) -> dict[str, tuple[pa.Table, T]]:
    """`history_tables`, each table with what `each(name, table)` makes of it, computed on a thread
    of this module's while the next table is read."""
    found = None
    if bloctel:
        with read_tx(engine) as conn:
            found = conn.execute(snapshot_in_force(org_id, at)).first()
    # SQLite drivers type a column from its first rows: a column of text must not start with NULLs.
    sqlite = engine.dialect.name == "sqlite"
    expires = "COALESCE(expires_at, '')" if sqlite else "expires_at"
    params: dict[str, Any] = {
        "org": int(org_id),
        # SQLite would walk the (org_id, e164) index and fetch each row by its id: for most of a table,
        # reading it through is several times faster. `+org_id` is SQLite's way to say so.
        "org_id": "+org_id" if sqlite else "org_id",
        "snapshot": int(found.id) if found is not None else -1,
        "expires": expires,
    }
    since = (at - ATTEMPT_WINDOW - EPOCH) // timedelta(microseconds=1)  # exact, no float

    def ready(name: str, raw: pa.Table) -> tuple[pa.Table, T]:
        table = _normalise(raw)
        if name == "attempts":
            table = table.filter(pc.greater(table["at"], since))
        return table, each(name, table)

    started: dict[str, Future[tuple[pa.Table, T]]] = {}

    def fetched(name: str, raw: pa.Table) -> None:
        failed = next((f for f in started.values() if f.done() and f.exception() is not None), None)
        if failed is not None:
            failed.result()  # a table's own work failed: stop fetching, raise it now
        started[name] = _POOL.submit(ready, name, raw)

    try:
        if not _adbc(engine, params, fetched):
            started.clear()  # (none were: no ADBC driver for this store)
            _sqlalchemy(engine, params, fetched)
        return {name: future.result() for name, future in started.items()}
    except BaseException:
        # None left behind: those not started are cancelled, those running finished (each holds tables).
        for future in started.values():
            future.cancel()
        wait(started.values())
        raise


def _normalise(table: pa.Table) -> pa.Table:
    cols = []
    for name in table.column_names:
        col = table[name]
        if name in INSTANTS:
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
                col = col.cast(pa.timestamp("us"))  # SQLite: the UTC wall time as text
            if pa.types.is_timestamp(col.type):  # Arrow keeps instants as UTC ticks, whatever the zone
                col = col.cast(pa.timestamp("us", tz=col.type.tz))
            col = col.cast(pa.int64())
        elif name in FLAGS:
            col = col.cast(pa.bool_())
        elif name == "id":
            col = col.cast(pa.int64())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _after_first_table() -> None:
    """Called once the first table is read (a test writes to the store here)."""


Fetched = Callable[[str, pa.Table], None]


def _adbc(engine: Engine, params: dict[str, Any], fetched: Fetched) -> bool:
    """Each table read through ADBC, handed to `fetched` as it comes; False when ADBC cannot read
    this store (then nothing was read)."""
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            database = url.database
            if not database or database == ":memory:" or database.startswith("file::memory:"):
                return False
            import adbc_driver_sqlite.dbapi as driver

            # ADBC links its own copy of SQLite, which does not see this process's other connections
            # (POSIX locks are per process). Read-write, its connection took itself for the file's
            # last one when closing, and deleted the WAL from under them: their later writes were
            # lost. Read-only, it never does; and the engine's pooled connections are closed first.
            engine.dispose()
            conn: Any = driver.connect(f"file:{quote(database)}?mode=ro")
            begin = "BEGIN"
        elif backend == "postgresql":
            import adbc_driver_postgresql.dbapi as pg

            conn = pg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
            begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        else:
            return False
    except Exception:  # no driver for this store: the SQLAlchemy path gives the same tables
        return False
    try:
        conn.adbc_connection.set_autocommit(True)
        cursor = conn.cursor()
        if backend == "sqlite":  # pages read through a memory map, not a read() call each
            cursor.execute(f"PRAGMA mmap_size = {1 << 34}")
        cursor.execute(begin)  # one snapshot for every table
        for i, (name, sql) in enumerate(QUERIES.items()):
            cursor.execute(sql.format(**params))
            fetched(name, cursor.fetch_arrow_table())
            if i == 0:
                _after_first_table()
        cursor.execute("COMMIT")
        cursor.close()
        return True
    finally:
        conn.close()


def _sqlalchemy(engine: Engine, params: dict[str, Any], fetched: Fetched) -> None:
    with read_tx(engine) as conn:
        for name, sql in QUERIES.items():
            result = conn.execute(text(sql.format(**params)))
            names = list(result.keys())
            rows = result.cursor.fetchall() if result.cursor is not None else []
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
            fetched(
                name,
                pa.table(
                    {
                        n: pa.array(list(v)) if v else pa.array([], _empty(n))
                        for n, v in zip(names, columns, strict=True)
                    }
                ),
            )


def _empty(name: str) -> pa.DataType:
    if name in INSTANTS:
        return pa.string()
    if name in FLAGS:
        return pa.bool_()
    return pa.int64() if name == "id" else pa.string()
