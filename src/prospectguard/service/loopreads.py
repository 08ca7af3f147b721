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

    async def facts(self, org_id: int, e164: str | None, at: datetime) -> Facts:
        """What `Store.facts` gives (None: a number with no history, the organisation's facts only);
        StoreUnavailable when the store cannot answer in time; KeyError for an unknown org."""
        compiled = self._compiled
        at = require_aware(at, "at")
        if e164 is not None:
            check_e164(e164)
        self._on_this_loop()
        async with self._slots:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                with unavailable_on_failure(psycopg.OperationalError, psycopg.InterfaceError):
                    async with asyncio.timeout(self.timeout):
                        conn = await self._connection()
                        cursor = conn.cursor()
                        await cursor.execute(compiled.sql, compiled.parameters(one_number_values(org_id, e164, at)))
                        rows = await cursor.fetchall()
            except BaseException as exc:
                if conn is not None:
                    await conn.close()  # whatever state it is in, it is not reused
                if isinstance(exc, TimeoutError):
                    raise StoreUnavailable(f"PostgreSQL did not answer within {self.timeout:g} s") from None
                raise
            self._idle.append(conn)
        return facts_of_rows(compiled.convert(rows), org_id)

    async def close(self) -> None:
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

    def _on_this_loop(self) -> None:
        """Connections and the semaphore belong to one event loop; on another (a new test client's),
        start afresh. The old loop's connections are closed where they lie."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        for conn in self._idle:
            conn.pgconn.finish()  # no await: their loop is not this one
        self._loop, self._idle, self._slots = loop, [], asyncio.Semaphore(self.size)
