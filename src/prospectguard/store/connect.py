"""Engines and transactions: one place for the backend differences.

SQLite gets WAL (readers never wait for the writer), foreign keys and a busy timeout, and write
transactions start with `BEGIN IMMEDIATE`: a WAL transaction that reads and then writes fails at
once with SQLITE_BUSY when another writer got in between, while IMMEDIATE takes the write lock
first and waits for it. PostgreSQL URLs default to psycopg 3.
"""

from __future__ import annotations

import fcntl
import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool

from prospectguard.store.errors import StoreUnavailable

DEFAULT_URL = "sqlite:///prospectguard.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
_WRITE = "prospectguard_write"
# Connections kept open, opened on demand: with SQLAlchemy's default (5 kept, 10 more opened and
# closed again), the HTTP service's 40 threads opened a connection every few requests. PostgreSQL
# counts its connections (100 by default): 32 per process at most, and threads beyond wait for one.
SQLITE_POOL = {"pool_size": 40, "max_overflow": 10}
PG_POOL = {"pool_size": 16, "max_overflow": 16}

_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
# PostgreSQL's SQLSTATEs for a table, column or schema that is not there (a store not migrated, or
# damaged): SQLite reports these as OperationalError, PostgreSQL as a ProgrammingError. Either way the
# store cannot answer, and a check fails closed with STORE_UNAVAILABLE rather than an internal error.
_SCHEMA_MISSING = frozenset({"42P01", "42703", "3F000"})


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (psycopg2 is not a dependency)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_store_engine(url: str) -> Engine:
    parsed = make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    postgresql = backend == "postgresql"
    kwargs: dict[str, Any] = {"pool_pre_ping": not postgresql, **PG_POOL}
    if postgresql and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    engine = create_engine(parsed, **kwargs)
    if postgresql:

        @event.listens_for(engine, "checkout")
        def _alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            """A pooled PostgreSQL connection is pinged only when the server has said something since
            it was checked in: an idle session gets nothing unless the server ends it (a restart, an
            administrator, an idle timeout: it sends its FATAL error and closes), and polling the
            socket costs no round trip. `pool_pre_ping` pinged before every checkout: a round trip
            per check, ~0.1 ms of the service's CPU and ~0.2 ms of its latency. A server that vanishes
            without a word (a host gone) is found by the check's own statements, which fail closed,
            and the connection is then replaced. DisconnectionError makes the pool open a fresh one."""
            try:
                said = server_spoke(dbapi_connection.fileno())
            except (OSError, ValueError, engine.dialect.loaded_dbapi.Error) as exc:  # psycopg: closed or lost
                raise DisconnectionError(str(exc)) from exc
            if said:
                try:
                    engine.dialect.do_ping(dbapi_connection)  # in autocommit: no transaction left open
                except Exception as exc:  # whatever the driver raises, this connection is done
                    raise DisconnectionError(str(exc)) from exc

    return engine


def server_spoke(fileno: int) -> bool:
    """Whether an idle PostgreSQL connection's socket has something to read: the server said
    something unasked (its goodbye, before it closed). No round trip."""
    waiting = select.poll()  # not select.select: it fails on descriptors past 1023
    waiting.register(fileno, select.POLLIN)
    return bool(waiting.poll(0))


def in_memory(url: URL) -> bool:
    """An in-memory SQLite database: one process's own, which no other process can open."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database
    return not database or database == ":memory:" or database.startswith("file::memory:")


def _sqlite_engine(url: URL) -> Engine:
    memory = in_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if not memory:
        kwargs.update(SQLITE_POOL)
    if memory:  # one shared connection, or every pooled connection would see its own empty database
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def unavailable_on_failure(*also: type[BaseException]) -> Iterator[None]:
    """Turn "cannot reach or use the database" into StoreUnavailable, so callers can fail closed.
    `also`: more error types that mean it (the driver's own, for code on its cursor)."""
    caught: tuple[type[BaseException], ...] = (*_UNAVAILABLE, *also)
    try:
        yield
    except Exception as exc:
        driver_error = getattr(exc, "orig", None) or exc
        if not isinstance(exc, caught) and getattr(driver_error, "sqlstate", None) not in _SCHEMA_MISSING:
            raise
        # The driver's own message, on one line (SQLAlchemy appends a multi-line "Background" note).
        lines = str(driver_error).strip().splitlines()
        raise StoreUnavailable(f"{exc.__class__.__name__}: {lines[0] if lines else 'no detail'}") from exc


_WRITER_FILES = threading.local()


@contextmanager
def writers_queue(engine: Engine) -> Iterator[None]:
    """Writers of one SQLite file take turns on an flock of `<file>-writer` before BEGIN IMMEDIATE.

    SQLite's own busy handler, waiting for the write lock, sleeps 1, 2, 5, 10... ms between tries:
    under a load of short transactions from several threads and processes, writers slept more than
    they wrote. The kernel wakes the next flock waiter at once. The file lock is released by the
    kernel if its holder dies. One descriptor per thread and file: flocks of separate opens exclude
    each other, within a process too.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    files: dict[str, int] = _WRITER_FILES.__dict__.setdefault("files", {})
    fd = files.get(database)
    if fd is None:
        try:
            fd = files[database] = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a read-only directory: SQLite's own locking alone
            yield
            return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite, writers queued on a file lock), committed on success."""
    with unavailable_on_failure(), engine.connect() as conn, writers_queue(engine):
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read transaction seeing one snapshot across several queries (REPEATABLE READ on PostgreSQL)."""
    with unavailable_on_failure(), engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn
