"""The audit trail's commits in another process, so that no request thread slows them down.

Appenders take turns on the store's write lock (one hash chain for every process). Inside a service
process, the committing thread gave up the GIL at every database call within that lock and waited
to get it back from the request threads: the lock was held 3 ms at the median for 0.8 ms of work.
A writer process has a GIL of its own: the lock is held for the commit's work alone, and the
service's event loop only writes a batch to a socket and reads the seqs back.

Under `serve --workers N`, one writer serves every worker (`--shared`, on a Unix socket its
supervisor bound): the batches that reach it while it commits go together in its next commit,
whichever worker sent them, and no two writers queue for the write lock. At 1,000 checks/s on
SQLite (benchmarks/service.py), its commits carried 2.3-3 entries where each worker's own writer's
carried 1.3-1.8. A worker serving alone (`serve`, one worker) starts its own child.

Peer and writer speak in frames (a 4-byte length, then a pickle of plain values): the store's URL
once, answered by "ready" (and the shared writer's pid) or by why not; then batches of entries, each
answered by their seqs or by why they could not be written. A child exits when its parent closes
the socket or dies; the shared writer, when its supervisor stops it or dies. A writer that dies,
hangs or answers nonsense is killed, its batch fails closed, and the next batch starts a new child
(or, shared, waits in the socket's backlog for the one the supervisor starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, datetime
from types import FrameType
from typing import Any

from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.audit import Entry
from prospectguard.store.connect import in_memory

START_SECONDS = 30.0
SEND_SECONDS = 5.0  # the writer drops a service process that does not read its answer in this time
_RECEIVE = 1 << 20
_ANOTHER_STORE = "the shared audit writer serves another store"
_HEADER = struct.Struct("!I")
_Row = tuple[datetime, str, date, dict[str, str]]


def eligible(store: Store) -> bool:
    """A store another process can open: a file or a server, not an in-memory SQLite database."""
    return not in_memory(store.engine.url)


def _frame(value: Any) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class ProcessCommit:
    """`store.append_audit_many` run by another process, awaited on the event loop: this worker's own
    child, or the writer every worker shares (`shared`: its Unix socket's path). One call at a time
    (the pipeline's); StoreUnavailable when the batch cannot be committed."""

    def __init__(self, store: Store, shared: str | None = None) -> None:
        self.url = store.engine.url.render_as_string(hide_password=False)
        self.shared = shared
        self._child: subprocess.Popen[bytes] | None = None
        self._writer_pid: int | None = None  # the shared writer's, as it said when greeted
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
        """The writer's process id, while connected to one."""
        if not self._alive():
            return None
        return self._child.pid if self._child is not None else self._writer_pid

    async def start(self) -> None:
        """Start the child (connect to the shared writer) now, else at the first batch;
        StoreUnavailable when it cannot open the store."""
        if not self._alive():
            await self._start()

    async def _exchange(self, value: Any, stage: str = "") -> tuple[str, Any]:
        """Send `value`, read the answer: a (status, value) pair. Cut off mid-way (EOF, cancelled,
        timed out) or answered nonsense, a child is killed: there is no trust left in it. The
        shared writer is killed (and restarted by its supervisor) only when it hangs or answers
        nonsense: when it closed the link it may have dropped this peer alone, or be dead, its pid
        free for another process."""
        if self._reader is None or self._writer is None:
            raise StoreUnavailable(f"the audit trail's writer process stopped{stage}")
        try:
            self._writer.write(_frame(value))
            (length,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            answer = pickle.loads(await self._reader.readexactly(length))
        except BaseException as exc:
            cut = isinstance(exc, (asyncio.IncompleteReadError, ConnectionError))
            await self.close(kill=self.shared is None or not cut)
            if isinstance(exc, Exception):
                raise StoreUnavailable(f"the audit trail's writer process stopped{stage}") from None
            raise
        if not (isinstance(answer, tuple) and len(answer) == 2):
            await self.close(kill=True)
            raise StoreUnavailable(f"the audit trail's writer process answered nonsense{stage}")
        return answer

    def _alive(self) -> bool:
        # A link the writer closed between batches (a shared writer replaced), once the loop has
        # seen its end, is replaced before the next batch is sent, so that batch is not lost (sent
        # sooner, it fails closed).
        if self._writer is None or self._writer.is_closing() or self._reader is None or self._reader.at_eof():
            return False
        return self.shared is not None or (self._child is not None and self._child.poll() is None)

    async def _start(self) -> None:
        await self.close(kill=self.shared is None)  # a shared writer's end of our link closed: not a hang
        if self.shared is not None:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(self.shared)
            except OSError as exc:
                raise StoreUnavailable(f"the audit trail's shared writer is unreachable: {exc}") from None
        else:
            await self._spawn()
        try:
            status, value = await asyncio.wait_for(self._exchange(self.url, " at start"), START_SECONDS)
        except TimeoutError:
            await self.close(kill=True)
            raise StoreUnavailable("the audit trail's writer process did not start in time") from None
        if status != "ready":
            await self.close(kill=True)
            raise StoreUnavailable(str(value))
        if self.shared is not None and isinstance(value, int):
            self._writer_pid = value

    async def _spawn(self) -> None:
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

    async def close(self, *, kill: bool = False) -> None:
        """Stop the child (it reads the end of its input and exits), or leave the shared writer;
        `kill`: kill it, shared or not."""
        writer, child, shared_pid = self._writer, self._child, self._writer_pid
        self._reader = self._writer = None
        self._child = self._writer_pid = None
        if writer is not None:
            writer.close()
        if kill and shared_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(shared_pid, signal.SIGKILL)
        if child is not None:
            if kill:
                child.kill()
            try:
                await asyncio.to_thread(child.wait, START_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                await asyncio.to_thread(child.wait)


# --- the writer --------------------------------------------------------------------------------------


class _Peer:
    """One service process's connection to the writer: the bytes received so far, and whether it has
    named the store (its first frame)."""

    def __init__(self, sock: socket.socket, greeted: bool) -> None:
        sock.settimeout(SEND_SECONDS)  # answers are sent whole; a peer that stops reading is dropped
        self.sock = sock
        self.greeted = greeted
        self.buffer = bytearray()

    def frames(self) -> list[Any]:
        """The values of the complete frames received, removed from the buffer."""
        values = []
        while len(self.buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + length:
                break
            values.append(pickle.loads(self.buffer[_HEADER.size : _HEADER.size + length]))
            del self.buffer[: _HEADER.size + length]
        return values


def _commit(store: Store, batches: list[tuple[_Peer, list[_Row]]]) -> list[tuple[str, Any]]:
    """Every peer's batch in one transaction: one answer per batch, their seqs or why not."""
    try:
        entries = [Entry(at, org, law_date, texts) for _, rows in batches for at, org, law_date, texts in rows]
        seqs = store.append_audit_many(entries)
    except StoreUnavailable as exc:
        return [("unavailable", str(exc))] * len(batches)
    except Exception as exc:  # a failed write: the checks fail closed
        return [("unavailable", f"the audit trail could not be written: {exc.__class__.__name__}")] * len(batches)
    answers: list[tuple[str, Any]] = []
    for _, rows in batches:
        answers.append(("ok", seqs[: len(rows)]))
        seqs = seqs[len(rows) :]
    return answers


def _writer(store: Store, url: str, listener: socket.socket | None, first: socket.socket | None) -> None:
    """Commit what the peers send: the batches received while a commit runs go together in the next
    one, whichever process sent them. With a `listener` (the shared writer), new peers connect and
    name the store first, and the loop runs until the process is stopped; without (a worker's own
    child), it serves `first` until that peer closes its end."""
    selector = selectors.DefaultSelector()
    if listener is not None:
        selector.register(listener, selectors.EVENT_READ, None)
    if first is not None:
        selector.register(first, selectors.EVENT_READ, _Peer(first, greeted=True))

    def drop(peer: _Peer) -> None:
        selector.unregister(peer.sock)
        peer.sock.close()

    while listener is not None or len(selector.get_map()) > 0:
        batches: list[tuple[_Peer, list[_Row]]] = []
        for key, _ in selector.select():
            if key.data is None:  # the listener: a service process connects
                with contextlib.suppress(OSError):
                    sock, _ = listener.accept()  # type: ignore[union-attr]
                    selector.register(sock, selectors.EVENT_READ, _Peer(sock, greeted=False))
                continue
            peer: _Peer = key.data
            try:
                received = peer.sock.recv(_RECEIVE)
                if not received:
                    raise EOFError
                peer.buffer += received
                values = peer.frames()
            except Exception:  # gone, or sent what is not a frame: no trust left in it
                drop(peer)
                continue
            for value in values:
                if peer.greeted:
                    batches.append((peer, value))
                    continue
                peer.greeted = True
                answer = ("ready", os.getpid()) if value == url else ("unavailable", _ANOTHER_STORE)
                if not _send(peer, answer) or answer[0] != "ready":
                    drop(peer)
                    break
        if batches:
            _STATE["committing"] = True  # a SIGTERM meanwhile takes effect once the answers are sent
            for (peer, _), answer in zip(batches, _commit(store, batches), strict=True):
                if peer.sock.fileno() != -1 and not _send(peer, answer):
                    drop(peer)
            _STATE["committing"] = False
            if _STATE["stopping"]:
                return


def _send(peer: _Peer, answer: tuple[str, Any]) -> bool:
    try:
        peer.sock.sendall(_frame(answer))
    except OSError:
        return False
    return True


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
    """A worker's own child: open the store named by the first frame, then append each batch."""
    try:
        url = _read(sock)
        store = Store.open(url, upgrade=False)
    except EOFError:
        return
    except Exception as exc:  # whatever it is, the parent fails closed on it
        sock.sendall(_frame(("unavailable", f"the audit trail's writer could not open the store: {exc}")))
        return
    try:
        sock.sendall(_frame(("ready", None)))
        _writer(store, url, None, sock)
    finally:
        store.close()


def serve_shared(listener: socket.socket, url: str) -> None:
    """The writer every worker of `serve --workers N` shares, on `listener` (a Unix socket its
    supervisor bound), for the store at `url`."""
    store = Store.open(url, upgrade=False)
    try:
        _writer(store, store.engine.url.render_as_string(hide_password=False), listener, None)
    finally:
        store.close()


# Plain flags, not threading.Event: a signal handler may run inside another, and an Event's lock
# taken twice on one thread would never be released.
_STATE = {"committing": False, "stopping": False}


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: stop now between commits, else once the commit under way is answered."""
    _STATE["stopping"] = True
    if not _STATE["committing"]:
        sys.exit(0)


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent shuts down and closes the socket, then we go.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.argv[1] == "--shared":  # its supervisor stops it (SIGTERM) once the workers have stopped
        signal.signal(signal.SIGTERM, _stop)
        from prospectguard.service.workers import when_orphaned

        with socket.socket(fileno=int(sys.argv[2])) as listener:
            address = listener.getsockname()

            def orphaned() -> None:  # no supervisor left to remove the socket and its directory
                with contextlib.suppress(OSError):
                    os.unlink(address)
                    os.rmdir(os.path.dirname(address))
                os.kill(os.getpid(), signal.SIGTERM)

            when_orphaned(orphaned, parent=int(sys.argv[3]))
            serve_shared(listener, os.environ["PROSPECTGUARD_DB"])
        return
    with socket.socket(fileno=int(sys.argv[1])) as sock, contextlib.suppress(OSError):  # OSError: parent gone
        serve(sock)


if __name__ == "__main__":
    main()
