"""Group commit for the audit trail: many decisions, one transaction.

Every decision is appended to the hash chain before it is answered (fail closed: no entry, no
allow). One transaction per decision would cap the service at the disk's commit rate; here the
request threads hand their entries to one writer thread, which appends whatever has queued up in
a single transaction and then releases each waiting request. Under load a commit carries dozens of
decisions; alone, a request waits for its own commit only.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry

MAX_BATCH = 1000
WAIT_SECONDS = 30.0


class AuditWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[tuple[Entry, Future[int]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, entry: Entry) -> int:
        """Append `entry`; returns its seq once committed. StoreUnavailable when it cannot be."""
        try:
            return self.submit(entry).result(timeout=WAIT_SECONDS)
        except TimeoutError:
            raise StoreUnavailable("the audit trail did not commit in time") from None

    def submit(self, entry: Entry) -> Future[int]:
        """Queue `entry`; the future gives its seq once committed, or StoreUnavailable."""
        self._start()
        done: Future[int] = Future()
        self._queue.put((entry, done))
        return done

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                seqs = self.store.append_audit_many([entry for entry, _ in batch])
            except StoreUnavailable as exc:
                for _, done in batch:
                    done.set_exception(exc)
            except Exception as exc:  # anything else is a failed write too: the requests fail closed
                failure = StoreUnavailable(f"the audit trail could not be written: {exc.__class__.__name__}")
                failure.__cause__ = exc
                for _, done in batch:
                    done.set_exception(failure)
            else:
                for (_, done), seq in zip(batch, seqs, strict=True):
                    done.set_result(seq)
