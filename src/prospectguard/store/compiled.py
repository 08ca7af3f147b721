"""Statements compiled once and run on the driver's own cursor, for the service's hot paths: the
read of every check, and the audit trail's appends.

Why: a check reads one number in one statement (`facts.ONE_NUMBER`). On SQLite it runs in tens of
µs, but SQLAlchemy's execution path around it (execution context, events, result wrapping) costs
about 50 µs more per statement, and a transaction through a SQLAlchemy connection as much again.
The statements are still built with SQLAlchemy Core, and compiled by it for the store's dialect:
the same SQL, the same bind and result conversions (SQLAlchemy's own processors, e.g. SQLite's
datetime text to `datetime`, then `UTCDateTime` to aware UTC), without the machinery per call.

It reads three of SQLAlchemy's private attributes of a compiled statement (`_bind_processors`,
`_result_columns`, and a type's `_cached_result_processor`). SQLAlchemy is pinned, and the store
tests hold this read equal to SQLAlchemy's own on both backends, so a change there fails a test.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy.engine import Dialect, Engine

from prospectguard.store.connect import in_memory, unavailable_on_failure, writers_queue
from prospectguard.store.errors import StoreUnavailable
from prospectguard.store.facts import Run

RunMany = Callable[[Any, Sequence[dict[str, Any]]], None]


def _back_to_transactions(conn: Any) -> None:
    """A pooled PostgreSQL connection used in autocommit goes back to the pool in transaction mode,
    as its other users expect; one that cannot (lost, or a transaction left open) is discarded."""
    driver = conn.driver_connection
    if not driver.closed and driver.info.transaction_status.name == "IDLE":
        driver.autocommit = False
    else:
        conn.invalidate()  # the pool opens a fresh connection in its place


class Compiled:
    """One statement compiled for one dialect; `run` executes it on a DBAPI cursor."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self._compiled = compiled
        self.sql: str = compiled.string
        self._positional: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positiontup else None
        self._binds: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
        columns = compiled._result_columns
        self._results: tuple[Callable[[Any], Any] | None, ...] = tuple(
            c.type._cached_result_processor(dialect, None) for c in columns
        )
        row_type: Any = namedtuple("Row", [c.keyname for c in columns], rename=True)  # type: ignore[misc]
        self._make: Callable[[Iterable[Any]], Any] = row_type._make

    def parameters(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        full = self._compiled.construct_params(values)  # the statement's own literals included
        binds = self._binds
        if self._positional is not None:
            return [binds[n](full[n]) if n in binds else full[n] for n in self._positional]
        return {n: (binds[n](v) if n in binds else v) for n, v in full.items()}

    def run(self, cursor: Any, values: dict[str, Any]) -> list[Any]:
        cursor.execute(self.sql, self.parameters(values))
        return self.rows(cursor)

    def rows(self, cursor: Any) -> list[Any]:
        """The rows of this statement, executed on `cursor`, converted and named."""
        return self.convert(cursor)

    def convert(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """The driver's rows of this statement, converted and named."""
        results, make = self._results, self._make
        return [make([p(v) if p is not None else v for p, v in zip(results, row, strict=True)]) for row in rows]

    def run_many(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Execute once per row (an INSERT of many rows): values for every column, defaults included."""
        cursor.executemany(self.sql, [self.parameters(row) for row in rows])


class Statements:
    """The compiled forms of module-level statements for one engine, made on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._made: dict[int, tuple[Any, Compiled]] = {}
        self._one_connection = in_memory(engine.url)  # in-memory SQLite: one connection, shared

    def __getitem__(self, statement: Any) -> Compiled:
        found = self._made.get(id(statement))
        if found is None or found[0] is not statement:
            found = self._made[id(statement)] = (statement, Compiled(statement, self.engine.dialect))
        return found[1]

    def read(self, statement: Any, values: dict[str, Any]) -> list[Any]:
        """One statement's rows, on a pooled DBAPI connection outside any explicit transaction: one
        statement sees one snapshot by itself (SQLite: its implicit read transaction; PostgreSQL: in
        autocommit, the statement's snapshot), so BEGIN and COMMIT would only add round trips. Any
        driver error becomes StoreUnavailable (the statement is ours: an error is the store's, e.g.
        a privilege missing), as `connect.read_tx` does for SQLAlchemy's connection errors.

        In-memory SQLite keeps BEGIN and COMMIT: its one connection is shared by every thread, and
        a read outside a transaction would see another thread's uncommitted writes."""
        compiled = self[statement]
        if self._one_connection:
            with self._transaction(sqlite_begin="BEGIN", every_error=True) as cursor:
                return compiled.run(cursor, values)
        with self._connection(every_error=True) as (conn, postgresql):
            driver: Any = conn.driver_connection
            cursor = conn.cursor()
            try:
                if postgresql:
                    # The pooled connection is idle (nothing to commit), so no round trip either way;
                    # its other users expect transactions again. Autocommit also spares a ROLLBACK when
                    # the pool takes it back, which would make psycopg forget its prepared statements.
                    driver.autocommit = True
                return compiled.run(cursor, values)
            finally:
                cursor.close()
                if postgresql:
                    _back_to_transactions(conn)

    @contextmanager
    def write(self) -> Iterator[tuple[Run, RunMany]]:
        """A write transaction on a pooled DBAPI connection, as `connect.write_tx` makes with
        SQLAlchemy's (SQLite: writers queued on the file lock, BEGIN IMMEDIATE), committed on
        success; yields `run(statement, values) -> rows` and `run_many(statement, rows)`. The
        driver's IntegrityError is raised as is (a caller may retry); connection and operational
        errors become StoreUnavailable."""
        with self._transaction(sqlite_begin="BEGIN IMMEDIATE", queued=True) as cursor:
            yield (
                lambda statement, values: self[statement].run(cursor, values),
                lambda statement, rows: self[statement].run_many(cursor, rows),
            )

    @contextmanager
    def script(self) -> Iterator[Script]:
        """PostgreSQL: a `Script` on a pooled connection in autocommit, for several statements in one
        round trip (the caller writes BEGIN and COMMIT). A transaction still open when the body ends,
        whether it failed or forgot to commit, is rolled back. Errors as `read`'s."""
        with self._connection() as (conn, postgresql):
            if not postgresql:
                raise ValueError("scripts are PostgreSQL's (simple query protocol)")
            driver: Any = conn.driver_connection
            cursor = self.engine.dialect.loaded_dbapi.ClientCursor(driver)
            try:
                driver.autocommit = True
                yield Script(self, cursor, driver)
            finally:
                try:
                    if driver.info.transaction_status.name in ("INTRANS", "INERROR"):
                        cursor.execute("ROLLBACK")  # not driver.rollback(): that forgets prepared statements
                finally:
                    cursor.close()
                    _back_to_transactions(conn)

    @contextmanager
    def _transaction(self, *, sqlite_begin: str, queued: bool = False, every_error: bool = False) -> Iterator[Any]:
        """A cursor in a transaction on a pooled DBAPI connection, committed when the body succeeds,
        rolled back otherwise. `queued`: behind the SQLite writers' file lock."""
        with (
            self._connection(every_error=every_error) as (conn, postgresql),
            writers_queue(self.engine) if queued else nullcontext(),
        ):
            cursor = conn.cursor()
            try:
                if not postgresql:
                    cursor.execute(sqlite_begin)
                # (psycopg begins a transaction by itself at the first statement)
                try:
                    yield cursor
                except BaseException:
                    conn.rollback()
                    raise
                # COMMIT: psycopg's rollback() also forgets the connection's prepared statements.
                conn.commit()
            finally:
                cursor.close()

    @contextmanager
    def _connection(self, *, every_error: bool = False) -> Iterator[tuple[Any, bool]]:
        """A pooled DBAPI connection, and whether it is PostgreSQL's. The driver's connection and
        operational errors (`every_error`: all of its errors) become StoreUnavailable; a connection
        the driver reports broken is invalidated (the next use opens a fresh one)."""
        dbapi = self.engine.dialect.loaded_dbapi
        broken = (dbapi.OperationalError, dbapi.InterfaceError)
        with unavailable_on_failure(*((dbapi.Error,) if every_error else broken)):
            conn = self.engine.raw_connection()
            try:
                yield conn, self.engine.dialect.name == "postgresql"
            except broken:
                # Not back into the pool: the next use opens a fresh connection. Unless invalidated
                # already (`_back_to_transactions`), or in-memory SQLite: its one connection is the
                # database, a fresh one an empty database.
                if conn.dbapi_connection is not None and not self._one_connection:
                    conn.invalidate()
                raise
            finally:
                conn.close()  # back to the pool (a no-op once invalidated)


class Script:
    """Statements sent together in one query (PostgreSQL's simple query protocol), their values bound
    by psycopg on the client (`ClientCursor.mogrify`: quoted by the driver, never by us); or, with
    `copy`, many rows of an INSERT streamed with COPY."""

    def __init__(self, statements: Statements, cursor: Any, driver: Any) -> None:
        self._statements = statements
        self._cursor = cursor
        self._driver = driver

    def copy(self, insert: Any, rows: Sequence[dict[str, Any]]) -> None:
        """The rows of an INSERT (`insert`, a table's `insert()`) streamed with COPY, in the
        transaction the script began: each value converted as the INSERT would bind it, then
        written by psycopg's own dumpers. Per row, a fraction of an INSERT's cost, ours and the
        server's."""
        from psycopg import sql  # here: only a PostgreSQL store imports psycopg

        if self._driver.info.transaction_status.name != "INTRANS":  # never outside the script's transaction
            raise StoreUnavailable("no transaction open for the rows: nothing written")
        if not rows:
            return
        compiled = self._statements[insert]
        values: list[Any] = [compiled.parameters(row) for row in rows]  # dicts: psycopg's binds are named
        names = list(values[0])  # an INSERT's parameters are named for its columns
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in names)
        command = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(insert.table.name), columns)
        with self._driver.cursor() as cursor, cursor.copy(command) as stream:
            for row in values:
                stream.write_row([row[name] for name in names])

    def commit(self) -> None:
        """COMMIT, and make sure it committed: in a transaction that failed, PostgreSQL answers a
        COMMIT with ROLLBACK, and nothing was written."""
        self.execute(["COMMIT"])
        if self._cursor.statusmessage != "COMMIT":
            raise StoreUnavailable(f"the transaction was not committed ({self._cursor.statusmessage})")

    def literal(self, statement: Any, values: dict[str, Any], sql: str | None = None) -> str:
        """`statement` with `values` bound, as text; `sql`: a part of its compiled SQL to bind instead
        (e.g. an INSERT's VALUES tuple, repeated for many rows)."""
        compiled = self._statements[statement]
        text: str = self._cursor.mogrify(compiled.sql if sql is None else sql, compiled.parameters(values))
        return text

    def execute(self, parts: Sequence[str | tuple[Any, dict[str, Any]]]) -> list[list[Any]]:
        """Run the parts in one round trip; each one's rows (converted and named for a statement given
        with its values, as `Compiled.run`; as the driver gives them for text)."""
        cursor = self._cursor
        cursor.execute("; ".join(p if isinstance(p, str) else self.literal(*p) for p in parts))
        out: list[list[Any]] = []
        for i, part in enumerate(parts):
            if i and not cursor.nextset():
                raise AssertionError(f"{len(parts)} statements sent, {i} results back")
            if cursor.description is None:
                out.append([])
            elif isinstance(part, str):
                out.append(cursor.fetchall())
            else:
                out.append(self._statements[part[0]].rows(cursor))
        return out
