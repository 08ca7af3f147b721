"""The audit trail's commits in a child process, so that no request thread slows them down.

Appenders take turns on the store's write lock (one hash chain for every process). Inside a service
process, the committing thread gave up the GIL at every database call within that lock and waited
to get it back from the request threads: the lock was held 3 ms at the median for 0.8 ms of work.
A child process has a GIL of its own: the lock is held for the commit's work alone, and the
service's event loop only writes a batch to a socket and reads the seqs back.

Parent and child speak over a socket pair, in frames (a 4-byte length, then a pickle of plain
values): the store's URL once, answered by "ready"; then batches of entries, each answered by their
seqs or by why they could not be written. The child exits when its parent closes the socket or
dies. A child that dies, hangs or answers nonsense is killed, its batch fails closed, and the next
batch starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry
from prospectguard.store.connect import in_memory

START_SECONDS = 30.0
_HEADER = struct.Struct("!I")
_Row = tuple[datetime, str, date, dict[str, str]]


def eligible(store: Store) -> bool:
    """A store another process can open: a file or a server, not an in-memory SQLite database."""
    return not in_memory(store.engine.url)


def _frame(value: Any) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class ProcessCommit:
    """`store.append_audit_many` run by a child process, awaited on the event loop. One call at a
    time (the pipeline's); StoreUnavailable when the batch cannot be committed."""

    def __init__(self, store: Store) -> None:
        self.url = store.engine.url.render_as_string(hide_password=False)
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __call__(self, entries: Sequence[Entry]) -> list[int]:
        rows: list[_Row] = [(e.at, e.org, e.law_date, e.texts) for e in entries]
        await self.start()
        status, value = await self._exchange(rows)
        if status != "ok":
            raise StoreUnavailable(str(value))
        seqs: list[int] = value
        if len(seqs) != len(entries):
            await self.close(kill=True)
            raise StoreUnavailable("the audit trail's writer process answered for another batch")
        return seqs

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        return self._child.pid if self._alive() and self._child is not None else None

    async def start(self) -> None:
        """Start the child now (else at the first batch); StoreUnavailable when it cannot open the store."""
        if not self._alive():
            await self._start()

    async def _exchange(self, value: Any, stage: str = "") -> tuple[str, Any]:
        """Send `value`, read the answer: a (status, value) pair. Cut off mid-way (EOF, cancelled,
        timed out) or answered nonsense, the child is killed: there is no trust left in it."""
        if self._reader is None or self._writer is None:
            raise StoreUnavailable(f"the audit trail's writer process stopped{stage}")
        try:
            self._writer.write(_frame(value))
            (length,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            answer = pickle.loads(await self._reader.readexactly(length))
        except BaseException as exc:
            await self.close(kill=True)
            if isinstance(exc, Exception):
                raise StoreUnavailable(f"the audit trail's writer process stopped{stage}") from None
            raise
        if not (isinstance(answer, tuple) and len(answer) == 2):
            await self.close(kill=True)
            raise StoreUnavailable(f"the audit trail's writer process answered nonsense{stage}")
        return answer

    def _alive(self) -> bool:
        return self._writer is not None and self._child is not None and self._child.poll() is None

    async def _start(self) -> None:
        await self.close(kill=True)
        ours, theirs = socket.socketpair()
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "prospectguard.service.auditproc", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            ours.close()
            raise StoreUnavailable(f"the audit trail's writer process could not start: {exc}") from None
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        try:
            status, value = await asyncio.wait_for(self._exchange(self.url, " at start"), START_SECONDS)
        except TimeoutError:
            await self.close(kill=True)
            raise StoreUnavailable("the audit trail's writer process did not start in time") from None
        if status != "ready":
            await self.close(kill=True)
            raise StoreUnavailable(str(value))

    async def close(self, *, kill: bool = False) -> None:
        """Stop the child: it reads the end of its input and exits (or is killed)."""
        writer, child = self._writer, self._child
        self._reader = self._writer = None
        self._child = None
        if writer is not None:
            writer.close()
        if child is not None:
            if kill:
                child.kill()
            try:
                await asyncio.to_thread(child.wait, START_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                await asyncio.to_thread(child.wait)


# --- the child ---------------------------------------------------------------------------------------


def _read(sock: socket.socket) -> Any:
    """The next frame's value; EOFError when the parent has closed its end."""
    (length,) = _HEADER.unpack(_exactly(sock, _HEADER.size))
    return pickle.loads(_exactly(sock, length))


def _exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError
        got += n
    return bytes(buffer)


def serve(sock: socket.socket) -> None:
    """Open the store named by the first frame, then append each batch received."""
    try:
        store = Store.open(_read(sock), upgrade=False)
    except EOFError:
        return
    except Exception as exc:  # whatever it is, the parent fails closed on it
        sock.sendall(_frame(("unavailable", f"the audit trail's writer could not open the store: {exc}")))
        return
    try:
        sock.sendall(_frame(("ready", None)))
        while True:
            try:
                rows: list[_Row] = _read(sock)
            except EOFError:
                return
            entries = [Entry(at, org, law_date, texts) for at, org, law_date, texts in rows]
            answer: tuple[str, Any]
            try:
                answer = ("ok", store.append_audit_many(entries))
            except StoreUnavailable as exc:
                answer = ("unavailable", str(exc))
            except Exception as exc:  # a failed write: the checks fail closed
                answer = ("unavailable", f"the audit trail could not be written: {exc.__class__.__name__}")
            sock.sendall(_frame(answer))
    finally:
        store.close()


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent shuts down and closes the socket, then we go.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=int(sys.argv[1])) as sock, contextlib.suppress(OSError):  # OSError: parent gone
        serve(sock)


if __name__ == "__main__":
    main()
