"""Statements compiled once and run on the driver's own cursor, for the service's hot paths: the
read of every check, and the audit trail's appends.

Why: a check reads one number in three small statements. On SQLite each runs in about 10 µs, but
SQLAlchemy's execution path around it (execution context, events, result wrapping) costs about 50 µs
more per statement, and a read transaction through a SQLAlchemy connection adds about as much again.
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

from prospectguard.store.connect import unavailable_on_failure, writers_queue
from prospectguard.store.facts import Run, RunAll

RunMany = Callable[[Any, Sequence[dict[str, Any]]], None]


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
        results, make = self._results, self._make
        return [make([p(v) if p is not None else v for p, v in zip(results, row, strict=True)]) for row in cursor]

    def run_many(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Execute once per row (an INSERT of many rows): values for every column, defaults included."""
        cursor.executemany(self.sql, [self.parameters(row) for row in rows])


class Statements:
    """The compiled forms of module-level statements for one engine, made on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._made: dict[int, tuple[Any, Compiled]] = {}

    def __getitem__(self, statement: Any) -> Compiled:
        found = self._made.get(id(statement))
        if found is None or found[0] is not statement:
            found = self._made[id(statement)] = (statement, Compiled(statement, self.engine.dialect))
        return found[1]

    @contextmanager
    def read(self) -> Iterator[RunAll]:
        """A read transaction on a pooled DBAPI connection (one snapshot for every statement, REPEATABLE
        READ on PostgreSQL), yielding `run_all([(statement, values), ...]) -> [rows, ...]`. The driver's
        connection and operational errors become StoreUnavailable, as `connect.read_tx` does for
        SQLAlchemy's.

        On PostgreSQL the statements go in psycopg's pipeline mode: BEGIN and every statement are sent
        at once and their results read together, one round trip where each took one (a check's read:
        BEGIN, three statements and COMMIT, five round trips to two; 20-30% less time in process)."""
        with self._transaction(sqlite_begin="BEGIN", repeatable_read=True) as cursor:
            if self.engine.dialect.name != "postgresql":
                yield lambda statements: [self[s].run(cursor, values) for s, values in statements]
                return
            driver = cursor.connection

            def pipelined(statements: Sequence[tuple[Any, dict[str, Any]]]) -> list[Sequence[Any]]:
                sent: list[tuple[Compiled, Any]] = []
                try:
                    with driver.pipeline():  # leaving it sends what is queued and waits for every result
                        for statement, values in statements:
                            compiled, one = self[statement], driver.cursor()
                            sent.append((compiled, one))  # closed below, even if this statement fails
                            one.execute(compiled.sql, compiled.parameters(values))
                    return [compiled.rows(one) for compiled, one in sent]
                finally:
                    for _, one in sent:
                        one.close()

            yield pipelined

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
    def _transaction(self, *, sqlite_begin: str, repeatable_read: bool = False, queued: bool = False) -> Iterator[Any]:
        """A cursor in a transaction on a pooled DBAPI connection, committed when the body succeeds,
        rolled back otherwise. `queued`: behind the SQLite writers' file lock. A connection the
        driver reports broken is invalidated (the next use opens a fresh one)."""
        dbapi = self.engine.dialect.loaded_dbapi
        unavailable = (dbapi.OperationalError, dbapi.InterfaceError)
        postgresql = self.engine.dialect.name == "postgresql"
        with unavailable_on_failure(*unavailable):
            conn = self.engine.raw_connection()
            driver: Any = conn.driver_connection
            before = driver.isolation_level if postgresql else None
            try:
                with writers_queue(self.engine) if queued else nullcontext():
                    cursor = conn.cursor()
                    try:
                        if not postgresql:
                            cursor.execute(sqlite_begin)
                        elif repeatable_read:  # psycopg's own BEGIN then says so: no extra round trip
                            driver.isolation_level = dbapi.IsolationLevel.REPEATABLE_READ
                        # (otherwise psycopg begins a transaction by itself at the first statement)
                        try:
                            yield cursor
                        except BaseException:
                            conn.rollback()
                            raise
                        # COMMIT, even after a read: psycopg's rollback() also forgets the connection's
                        # prepared statements, and a check's statements were then planned afresh each
                        # time (4x PostgreSQL's CPU).
                        conn.commit()
                    finally:
                        cursor.close()
                        if postgresql and repeatable_read:  # the pooled connection's other users expect the default
                            driver.isolation_level = before
            except unavailable:
                conn.invalidate()  # not back into the pool: the next use opens a fresh connection
                raise
            finally:
                conn.close()  # back to the pool (a no-op once invalidated)
