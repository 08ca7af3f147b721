"""The service's audit trail commits: group commit on the event loop (`AuditPipeline`), and commits
in a child process (`ProcessCommit`) on both stores, including a child that dies or hangs."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from prospectguard.service.auditproc import ProcessCommit, eligible
from prospectguard.service.auditwriter import AuditPipeline, ThreadCommit
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry

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

    async def scenario() -> None:
        try:
            with pytest.raises(StoreUnavailable, match="unable to open database file"):
                await commit([entry(1)])
        finally:
            await commit.close()

    asyncio.run(scenario())


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
