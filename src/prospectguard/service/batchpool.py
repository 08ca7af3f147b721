"""A helper process that judges chunks of a batch while the worker judges others: two cores for
one request.

A batch of 10,000 contacts is about a second of Python in one thread (facts read set-wise, the
rules, the audit entries' canonical JSON), and Python runs one thread at a time. The helper opens
the same store and judges with the same `Gate.judge_many`; what comes back is each decision's JSON
and its audit entry's fields, which the worker commits to the trail as for its own chunks; both
travel as plain values (tuples, strings), cheap to pickle. A helper that fails for any reason other
than the store (it died, it could not start) is dropped, and the chunk is judged in the worker
instead: a broken helper costs speed, never a decision.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING

from prospectguard.gate import Gate
from prospectguard.inputs import instant
from prospectguard.model import Audience, Channel, ContactRequest, Sector
from prospectguard.service.workers import when_orphaned
from prospectguard.store import Store, StoreUnavailable

if TYPE_CHECKING:
    from prospectguard.service.schemas import CheckRequest

# A contact as sent to the helper: plain values, cheap to pickle (see `fields_of`).
Fields = tuple[str, str | None, str, str | None, bool, str, str, bool, str | None, str | None, str | None]
# A judged contact as sent back: the decision's canonical JSON (the answer, and the audit entry's
# text), its result and reason codes (for the metrics), and the entry's other fields.
Verdict = tuple[str, str, list[str], datetime, date, dict[str, str]]

_STORE: Store | None = None


def fields_of(body: CheckRequest) -> Fields:
    return (
        body.to,
        body.at,
        body.channel,
        body.from_,
        body.automated,
        body.audience,
        body.sector,
        body.about_contract,
        body.message,
        body.postcode,
        body.territory,
    )


def request_of(fields: Fields, now: datetime) -> ContactRequest:
    """The request of a contact's fields: `at` parsed (InputError when it cannot be), `now` without."""
    to, at, channel, caller, automated, audience, sector, about_contract, message, postcode, territory = fields
    return ContactRequest(
        to=to,
        at=instant(at, "at") if at else now,
        channel=Channel(channel),
        caller=caller,
        automated=automated,
        audience=Audience(audience),
        sector=Sector(sector),
        about_contract=about_contract,
        message=message,
        postcode=postcode,
        territory=territory,
    )


def verdicts(gate: Gate, reqs: list[ContactRequest]) -> list[Verdict]:
    """`gate.judge_many`, each decision given as the text the audit trail keeps."""
    out = []
    for _, answer, entry in gate.judge_many(reqs):
        codes = [str(reason["code"]) for reason in answer["reasons"]]
        out.append((entry.texts["decision"], str(answer["decision"]), codes, entry.at, entry.law_date, entry.texts))
    return out


def _open(url: str, parent: int) -> None:
    global _STORE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the worker stops us
    # A pool's process does not see its parent die (it holds both ends of its queue's pipe).
    when_orphaned(lambda: os._exit(0), parent)
    _STORE = Store.open(url, upgrade=False)


def _ready() -> bool:
    return _STORE is not None


def _judge(org: str, org_id: int, contacts: list[Fields], now: datetime) -> list[Verdict]:
    assert _STORE is not None
    return verdicts(Gate(_STORE, org, org_id=org_id), [request_of(fields, now) for fields in contacts])


class JudgePool:
    """One helper process, started on first use (or by `start`), replaced after a failure."""

    def __init__(self, store: Store) -> None:
        self.url = store.engine.url.render_as_string(hide_password=False)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_open,
                initargs=(self.url, os.getpid()),
            )
        return self._pool

    async def start(self) -> None:
        """Start the helper now, so that the first batch does not wait for its imports."""
        pool = self._executor()
        try:
            await asyncio.wrap_future(pool.submit(_ready))
        except Exception:  # no helper: batches are judged in the worker alone
            self._drop(pool)

    async def judge(self, org: str, org_id: int, contacts: list[Fields], now: datetime) -> list[Verdict] | None:
        """The chunk judged by the helper; None when the helper failed (judge it elsewhere).
        StoreUnavailable when the helper could not read the store."""
        pool = self._executor()
        try:
            return await asyncio.wrap_future(pool.submit(_judge, org, org_id, contacts, now))
        except StoreUnavailable:
            raise
        except Exception:  # died, could not start, could not pickle: not the store's fault
            self._drop(pool)
            return None

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        """Stop `pool` after a failure, and forget it unless a new one already took its place
        (another lane may be judging with the new one: only the failed one goes)."""
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self, *, wait: bool = False) -> None:
        """Stop the helper (`wait`: until it has exited, as at the service's shutdown)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
