"""PostgreSQL: a plain check's read on the event loop, through psycopg's async connections.

Why: a check on PostgreSQL mostly waits on the network. In a worker thread, every wait gave up the
GIL and took it back from the event loop and the other request threads, and the thread hop there
and back cost as much again. On the loop, the same read (one statement, `facts.ONE_NUMBER`) costs
about half the service's CPU and a third less of the machine's (in process: ~400 -> ~205 µs of
own CPU and ~260 -> ~180 µs of the rest, per read, 8 threads against 16 tasks on 4 connections).

Each worker keeps its own few connections, in autocommit (one statement is one snapshot), opened on
demand. Fail closed: a read that cannot be made in `READ_SECONDS` (the server gone, hung, or a
table locked) raises StoreUnavailable, as does any connection error; a connection that failed is
closed, never reused. An idle connection the server has spoken on (its goodbye) is replaced before
use, as the SQLAlchemy pool's are (`connect.server_spoke`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg

from prospectguard.model import Facts
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.compiled import Compiled
from prospectguard.store.connect import PG_CONNECT_TIMEOUT_S, server_spoke, unavailable_on_failure
from prospectguard.store.evidence import check_e164
from prospectguard.store.facts import ONE_NUMBER, facts_of_rows, one_number_values
from prospectguard.store.types import require_aware

READ_SECONDS = 5.0  # a read not answered by then fails closed (a check is worth nothing that late)
CONNECTIONS = 8  # per worker process: as many reads in flight as the thread pool had


class LoopReads:
    """`Store.facts` on the running event loop, for a PostgreSQL store."""

    def __init__(self, store: Store, size: int = CONNECTIONS, timeout: float = READ_SECONDS) -> None:
        engine = store.engine
        if engine.dialect.name != "postgresql":
            raise ValueError("loop reads are PostgreSQL's")
        self._compiled = Compiled(ONE_NUMBER, engine.dialect)
        args, params = engine.dialect.create_connect_args(engine.url)
        self._connect: tuple[list[Any], dict[str, Any]] = (
            list(args),
            {"connect_timeout": PG_CONNECT_TIMEOUT_S, **params, "autocommit": True},
        )
        self.size = size
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def facts(self, org_id: int, e164: str | None, at: datetime) -> Facts:
        """What `Store.facts` gives (None: a number with no history, the organisation's facts only);
        StoreUnavailable when the store cannot answer within `timeout` seconds, counted from the
        call (a free connection waited for included); KeyError for an unknown org.

        The read runs as a task of its own, awaited until the deadline and no longer: cancelled,
        psycopg asks the server to cancel the query and waits for it (up to 5 s, twice) before it
        gives up, and on a stalled link that wait would be the caller's. An abandoned read ends in
        the background, its connection closed, and only then frees its slot: no more than `size`
        connections at once, even while the link stalls."""
        compiled = self._compiled
        at = require_aware(at, "at")
        if e164 is not None:
            check_e164(e164)
        loop = asyncio.get_running_loop()
        self._on_this_loop(loop)
        deadline = loop.time() + self.timeout
        params = compiled.parameters(one_number_values(org_id, e164, at))
        slots = self._slots
        try:
            async with asyncio.timeout_at(deadline):
                await slots.acquire()
        except TimeoutError:
            raise self._late() from None
        read = loop.create_task(self._read(compiled.sql, params))
        abandoned = False

        def finished(task: asyncio.Task[tuple[psycopg.AsyncConnection[Any], list[Any]]]) -> None:
            slots.release()
            if not task.cancelled() and task.exception() is None and abandoned:  # done after all: not kept
                task.result()[0].pgconn.finish()

        read.add_done_callback(finished)
        try:
            done, _ = await asyncio.wait({read}, timeout=max(0.0, deadline - loop.time()))
        except BaseException:  # this request was cancelled (its client left): the read is let go
            abandoned = True
            read.cancel()
            raise
        if not done:
            abandoned = True
            read.cancel()
            raise self._late()
        with unavailable_on_failure(psycopg.Error):  # the statement is ours: any driver error is the store's
            conn, rows = read.result()
        if loop is self._loop and not self._closed:
            self._idle.append(conn)
        else:  # the reads were closed, or moved to another loop, meanwhile
            await conn.close()
        return facts_of_rows(compiled.convert(rows), org_id)

    async def _read(self, sql: str, params: Any) -> tuple[psycopg.AsyncConnection[Any], list[Any]]:
        """A connection and the statement's rows on it; a connection that failed is closed."""
        conn = await self._connection()
        try:
            cursor = conn.cursor()
            await cursor.execute(sql, params)
            return conn, await cursor.fetchall()
        except BaseException:
            await conn.close()  # whatever state it is in, it is not reused
            raise

    def _late(self) -> StoreUnavailable:
        return StoreUnavailable(f"PostgreSQL did not answer within {self.timeout:g} s")

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and not server_spoke(conn.pgconn.socket):
                return conn
            await conn.close()  # ended by the server while idle: a fresh one instead
        args, params = self._connect
        return await psycopg.AsyncConnection.connect(*args, **params)

    def _on_this_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connections and the semaphore belong to one event loop; on another (a new test client's),
        start afresh. The old loop's connections are closed where they lie."""
        if loop is self._loop:
            return
        for conn in self._idle:
            conn.pgconn.finish()  # no await: their loop is not this one
        self._loop, self._idle, self._slots, self._closed = loop, [], asyncio.Semaphore(self.size), False
