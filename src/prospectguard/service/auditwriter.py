"""Group commit for the audit trail, on the event loop: many decisions, one transaction.

Every decision is appended to the hash chain before it is answered (fail closed: no entry, no
allow). One transaction per decision would cap the service at the disk's commit rate; here a check
hands its entry to the pipeline and awaits it, and the pipeline commits whatever has queued up in
one transaction, then the next batch. Under load a commit carries dozens of decisions; alone, a
check waits for its own commit only.

It lives on the event loop, not in a thread of its own: a writer thread had to win the GIL from the
request threads at every step (woken by the queue, then by the database, then to release the
waiting requests), which at 1,000 checks/s added tens of milliseconds to the slowest answers. The
commit itself runs elsewhere: in a child process (`auditproc.ProcessCommit`, what `serve` uses) or
on one thread of its own (`ThreadCommit`, for a store only this process can open).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry

MAX_BATCH = 1000
WAIT_SECONDS = 30.0

Commit = Callable[[Sequence[Entry]], Awaitable[list[int]]]


class AuditPipeline:
    """Appends entries in batches, one batch committing at a time, on the running event loop."""

    def __init__(self, commit: Commit, timeout: float = WAIT_SECONDS) -> None:
        self.commit = commit
        self.timeout = timeout
        self._pending: list[tuple[Entry, asyncio.Future[int]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def append(self, entry: Entry) -> int:
        """The entry's seq once committed; StoreUnavailable when it cannot be."""
        (seq,) = await self.append_many([entry])
        return seq

    async def append_many(self, entries: Sequence[Entry]) -> list[int]:
        """The entries' seqs once every one is committed; StoreUnavailable when one cannot be."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (a test client's): what the old one left cannot finish
            self._pending, self._draining, self._loop = [], None, loop
        waiting: list[asyncio.Future[int]] = [loop.create_future() for _ in entries]
        self._pending += zip(entries, waiting, strict=True)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return list(await asyncio.gather(*waiting))

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    seqs = await asyncio.wait_for(self.commit([entry for entry, _ in batch]), self.timeout)
                except (StoreUnavailable, TimeoutError) as exc:
                    failure = (
                        exc
                        if isinstance(exc, StoreUnavailable)
                        else StoreUnavailable("the audit trail did not commit in time")
                    )
                    _fail(batch, failure)
                except Exception as exc:  # anything else is a failed write too: the checks fail closed
                    failure = StoreUnavailable(f"the audit trail could not be written: {exc.__class__.__name__}")
                    failure.__cause__ = exc
                    _fail(batch, failure)
                else:
                    for (_, done), seq in zip(batch, seqs, strict=True):
                        if not done.done():  # its request may have been cancelled meanwhile
                            done.set_result(seq)
        finally:
            self._draining = None


def _fail(batch: list[tuple[Entry, asyncio.Future[int]]], failure: StoreUnavailable) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(failure)


class ThreadCommit:
    """`store.append_audit_many` on one thread of its own (the loop must not block on the database)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread: ThreadPoolExecutor | None = None

    async def __call__(self, entries: Sequence[Entry]) -> list[int]:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-commit")
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.store.append_audit_many, entries)

    async def close(self) -> None:
        """Wait for the commit under way; a later call starts a new thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)
