"""The service's audit trail commits: group commit on the event loop (`AuditPipeline`), and commits
in another process (`ProcessCommit`: a worker's own child, or the writer every worker shares) on
both stores, including a writer that dies or hangs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from prospectguard.service.auditproc import ProcessCommit, eligible
from prospectguard.service.auditwriter import AuditPipeline, ThreadCommit
from prospectguard.service.workers import SharedWriter
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry
from prospectguard.store.schema import audit_log

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def entry(i: int, org: str = "acme") -> Entry:
    return Entry.of(
        at=AT,
        org=org,
        request={"to": "+33612345678", "n": i},
        facts={"consents": [], "note": "é"},
        decision={"decision": "block", "reasons": [{"code": "NO_CONSENT"}]},
        law_date=date(2026, 12, 1),
    )


def test_a_child_process_commits_batches_that_verify(store: Store) -> None:
    assert eligible(store)
    commit = ProcessCommit(store)

    async def scenario() -> list[list[int]]:
        try:
            return [await commit([entry(3 * b + i, org) for i in range(3)]) for b, org in enumerate("abab")]
        finally:
            await commit.close()

    seqs = asyncio.run(scenario())
    assert seqs == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    report = store.verify_audit()
    assert report.ok and report.checked == 12
    assert [e["request"]["n"] for e in store.org_audit_entries("a")] == [0, 1, 2, 6, 7, 8]
    assert store.org_audit_entries("b")[0]["facts"] == {"consents": [], "note": "é"}


def test_a_dead_child_is_replaced_and_a_hung_one_fails_closed(store: Store) -> None:
    commit = ProcessCommit(store)
    trail = AuditPipeline(commit, timeout=1.0)

    async def scenario() -> None:
        try:
            assert await trail.append(entry(1)) == 1
            first = commit.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)
            assert await trail.append(entry(2)) == 2  # a new child, between batches: nothing lost
            second = commit.pid
            assert second not in (None, first)
            os.kill(second, signal.SIGSTOP)  # hung: the batch fails closed, the child is killed
            with pytest.raises(StoreUnavailable, match="did not commit in time"):
                await trail.append(entry(3))
            assert commit.pid is None
            assert await trail.append(entry(4)) == 3
        finally:
            await commit.close()

    asyncio.run(scenario())
    report = store.verify_audit()
    assert report.ok and report.checked == 3


def test_a_store_the_child_cannot_open_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(f"sqlite:///{path}") as store:
        commit = ProcessCommit(store)
    for name in ("store.db", "store.db-wal", "store.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    path.mkdir()  # the file became a directory

    _fails_closed(commit, "unable to open database file")


def _fails_closed(commit: ProcessCommit, match: str) -> None:
    """A batch through `commit` is refused (StoreUnavailable matching `match`); then it is closed."""

    async def scenario() -> None:
        try:
            with pytest.raises(StoreUnavailable, match=match):
                await commit([entry(1)])
        finally:
            await commit.close()

    asyncio.run(scenario())


@contextmanager
def shared_writer(store: Store) -> Iterator[SharedWriter]:
    """The writer `serve --workers N` starts for its workers, for `store`."""
    writer = SharedWriter(store.engine.url.render_as_string(hide_password=False))
    try:
        yield writer
    finally:
        writer.stop()


def test_batches_of_several_workers_go_together_in_the_shared_writers_commits(store: Store) -> None:
    with shared_writer(store) as writer:
        workers = [ProcessCommit(store, shared=writer.address) for _ in range(3)]

        async def scenario() -> list[list[int]]:
            try:
                for worker in workers:
                    await worker.start()
                    assert worker.pid == writer.pid
                first = [await worker([entry(i, f"org{i}")]) for i, worker in enumerate(workers)]
                assert writer.pid is not None
                os.kill(writer.pid, signal.SIGSTOP)  # the batches sent meanwhile wait in its sockets
                try:
                    sent = [asyncio.create_task(w([entry(10 + i, f"org{i}")] * (i + 1))) for i, w in enumerate(workers)]
                    await asyncio.sleep(0.3)
                finally:
                    os.kill(writer.pid, signal.SIGCONT)
                return first + [await batch for batch in sent]
            finally:
                for worker in workers:
                    await worker.close()

        seqs = asyncio.run(scenario())
    assert sorted(seq for batch in seqs for seq in batch) == list(range(1, 10))
    assert [len(batch) for batch in seqs] == [1, 1, 1, 1, 2, 3]
    with store.engine.connect() as conn:
        requests = dict(conn.execute(audit_log.select().with_only_columns(audit_log.c.seq, audit_log.c.request)).all())
    sent = [[0], [1], [2], [10], [11, 11], [12, 12, 12]]  # each worker's seqs are its own entries'
    assert [[json.loads(requests[seq])["n"] for seq in batch] for batch in seqs] == sent
    with store.engine.connect() as conn:
        commits = conn.execute(audit_log.select().with_only_columns(audit_log.c.recorded_at).distinct()).all()
    assert len(commits) == 4  # one each for the first three, then one for the six entries sent together
    report = store.verify_audit()
    assert report.ok and report.checked == 9
    assert [e["request"]["n"] for e in store.org_audit_entries("org2")] == [2, 12, 12, 12]


def test_a_worker_naming_another_store_is_refused_by_the_shared_writer(store: Store, tmp_path: Path) -> None:
    with shared_writer(store) as writer, Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        _fails_closed(ProcessCommit(other, shared=writer.address), "serves another store")
        assert writer.pid is not None  # refused, not killed
    assert store.verify_audit().checked == 0 and other.verify_audit().checked == 0


def test_a_dead_or_hung_shared_writer_fails_closed_and_its_replacement_takes_over(store: Store) -> None:
    with shared_writer(store) as writer:
        commit = ProcessCommit(store, shared=writer.address)
        trail, hasty = AuditPipeline(commit), AuditPipeline(commit, timeout=1.0)

        def replaced(previous: int) -> int:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                writer.keep_up()  # the supervisor's loop
                if writer.pid not in (None, previous):
                    assert writer.pid is not None
                    return writer.pid
                time.sleep(0.1)
            pytest.fail("no new shared writer within 30 s")

        async def scenario() -> None:
            try:
                assert await trail.append(entry(1)) == 1
                first = writer.pid
                assert first is not None
                os.kill(first, signal.SIGKILL)
                await asyncio.sleep(0.3)  # the link's end is seen: the next batch takes a new one
                waiting = asyncio.create_task(trail.append(entry(2)))
                second = await asyncio.to_thread(replaced, first)
                assert await waiting == 2  # it waited in the socket's backlog for the new writer
                assert commit.pid == second
                os.kill(second, signal.SIGSTOP)  # hung: the batch fails closed, the worker kills it
                with pytest.raises(StoreUnavailable, match="did not commit in time"):
                    await hasty.append(entry(3))
                await asyncio.to_thread(replaced, second)
                assert await trail.append(entry(4)) == 3
            finally:
                await commit.close()

        asyncio.run(scenario())
    report = store.verify_audit()
    assert report.ok and report.checked == 3


def test_an_in_memory_store_commits_on_a_thread() -> None:
    with Store.open("sqlite://") as store:
        assert not eligible(store)
        commit = ThreadCommit(store)

        async def scenario() -> list[int]:
            trail = AuditPipeline(commit)
            try:
                return list(await asyncio.gather(*(trail.append(entry(i)) for i in range(5))))
            finally:
                await commit.close()

        assert sorted(asyncio.run(scenario())) == [1, 2, 3, 4, 5]
        assert store.verify_audit().ok


class Recording:
    """A commit that records its batches and takes a while, or fails when told to."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.batches: list[int] = []
        self.fail = fail

    async def __call__(self, entries: Any) -> list[int]:
        self.batches.append(len(entries))
        await asyncio.sleep(0.05)
        if self.fail is not None:
            raise self.fail
        start = sum(self.batches[:-1])
        return list(range(start + 1, start + len(entries) + 1))


def test_entries_that_arrive_during_a_commit_go_together_in_the_next() -> None:
    commit = Recording()

    async def scenario() -> list[int]:
        trail = AuditPipeline(commit)
        first = asyncio.create_task(trail.append(entry(0)))
        await asyncio.sleep(0.01)  # the first batch is committing
        rest = [asyncio.create_task(trail.append(entry(i))) for i in range(1, 10)]
        return [await first, *[await r for r in rest]]

    assert asyncio.run(scenario()) == list(range(1, 11))
    assert commit.batches == [1, 9]


@pytest.mark.parametrize("failure", [StoreUnavailable("disk gone"), RuntimeError("bug")])
def test_a_failed_commit_fails_every_entry_of_its_batch(failure: BaseException) -> None:
    async def scenario() -> list[BaseException | int]:
        trail = AuditPipeline(Recording(fail=failure))
        return await asyncio.gather(*(trail.append(entry(i)) for i in range(4)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    expected = "disk gone" if isinstance(failure, StoreUnavailable) else "could not be written: RuntimeError"
    assert all(expected in str(o) for o in outcomes)


def test_a_cancelled_check_does_not_break_the_batch() -> None:
    commit = Recording()

    async def scenario() -> int:
        trail = AuditPipeline(commit)
        gone = asyncio.create_task(trail.append(entry(0)))
        kept = asyncio.create_task(trail.append(entry(1)))
        await asyncio.sleep(0.01)
        gone.cancel()  # e.g. the client hung up: its entry is committed all the same
        return await kept

    assert asyncio.run(scenario()) == 2
    assert commit.batches == [2]
