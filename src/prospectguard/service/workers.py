"""Several service processes on one port, each listening on a socket of its own (SO_REUSEPORT).

Why not uvicorn's own `--workers`: there, the workers share one listening socket, and whichever
wakes first accepts every connection waiting (asyncio accepts up to the backlog at once). A dialer
opens its keep-alive connections together, so they all landed in one worker and stayed there: under
a 1,000 checks/s load from 16 connections, one worker used a full core while the other idled, and
the answers queued behind each other (benchmarks/service.py). With a socket per worker, the kernel
spreads new connections across the workers by a hash of their addresses.

The supervisor restarts a worker that dies after it started, stops every worker (SIGTERM: uvicorn
finishes the requests in flight and runs the app's shutdown) on SIGINT or SIGTERM, and exits 1 when
a worker cannot start (the port taken, the store unreachable). A worker whose supervisor is gone
(even SIGKILLed) stops itself within a second.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

APP = "prospectguard.service.app:create_app"
# The Unix socket of the audit writer every worker shares (`auditproc`), set in each worker's
# environment by its supervisor.
AUDIT_WRITER_ENV = "PROSPECTGUARD_AUDIT_WRITER"
STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start
STOP_SECONDS = 30.0
STARTUP_SECONDS = 10.0  # a worker of the first start that exits sooner could not start
RESTART_SECONDS = 1.0  # a dead worker is replaced at most this often
ORPHAN_CHECK_SECONDS = 0.5


class CannotListen(Exception):
    """The address cannot be listened on (taken by another program, not a local address...)."""


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _worker(host: str, port: int, log_level: str, app: str, audit_writer: str | None = None) -> None:
    if audit_writer is not None:
        os.environ[AUDIT_WRITER_ENV] = audit_writer
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole group: uvicorn has shut down
        _serve(host, port, log_level, app)


def _serve(host: str, port: int, log_level: str, app: str) -> None:
    import uvicorn

    try:
        sock = _listener(host, port)
    except CannotListen as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    # Not serving on, unsupervised, with a port no one will stop: uvicorn's graceful stop.
    when_orphaned(lambda: os.kill(os.getpid(), signal.SIGTERM))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def when_orphaned(action: Callable[[], object], parent: int | None = None) -> None:
    """Run `action` (on a thread of its own) once this process's parent (`parent`, as the parent
    saw itself, or else as this process sees it now) is gone, even SIGKILLed: the workers' and
    their helpers' way not to outlive what started them."""
    parent = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        action()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def run(
    host: str, port: int, workers: int, log_level: str = "warning", app: str = APP, audit_writer: str | None = None
) -> int:
    """Serve with `workers` processes until SIGINT or SIGTERM; the exit status (0, or 1 when a worker
    could not start). CannotListen at once when the address is taken.

    `audit_writer`: a store's URL; one process commits every worker's audit entries to it
    (`auditproc --shared`), on a Unix socket bound here: entries from every worker share its
    commits, and no two writers take turns on the store's write lock. It is restarted like a worker;
    while it is down, workers connect to the socket all the same and wait for the next one.

    A worker of the first start that exits with an error within `STARTUP_SECONDS` could not start
    (the app would not load, the store would not open): everything stops, status 1. One killed, or
    dying later, is replaced, at most once a second, so that a worker failing over and over does
    not spin."""
    _listener(host, port).close()  # a clear error now rather than from every worker
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    shared: SharedWriter | None = None
    processes: list[BaseProcess] = []

    def start() -> BaseProcess:
        address = shared.address if shared is not None else None
        process = spawn.Process(target=_worker, args=(host, port, log_level, app, address), name="prospectguard-worker")
        process.start()
        return process

    status = 0
    try:
        if audit_writer is not None:
            try:
                shared = SharedWriter(audit_writer)
            except OSError as exc:  # each worker then commits through a child of its own
                print(f"warning: no shared audit writer ({exc}); each worker starts its own", file=sys.stderr)
        for _ in range(workers):
            processes.append(start())
        started = [time.monotonic()] * workers
        first = [True] * workers
        while not stopping:
            time.sleep(0.2)
            if shared is not None:
                shared.keep_up()
            for i, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                ran = time.monotonic() - started[i]
                code = process.exitcode or 0
                if code == STARTUP_FAILURE or (first[i] and ran < STARTUP_SECONDS and code > 0):
                    status, stopping = 1, True
                    break
                if ran < RESTART_SECONDS:
                    continue  # replaced at the next look once it has had its second
                processes[i], started[i], first[i] = start(), time.monotonic(), False
    finally:
        # Ctrl-C reached the workers too (one process group): give them a moment to stop on their own,
        # as a second signal would make uvicorn skip its graceful shutdown.
        settle = time.monotonic() + 1.0
        while any(p.is_alive() for p in processes) and time.monotonic() < settle:
            time.sleep(0.05)
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        if shared is not None:
            shared.stop()  # after the workers: their last requests' entries go through it
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status


class SharedWriter:
    """The shared audit writer's process for the store at `db`, and the Unix socket it serves, in a
    private directory. The socket outlives the process: a worker connecting while it is being
    replaced waits in the backlog for the next one."""

    def __init__(self, db: str) -> None:
        self._environment = {**os.environ, "PROSPECTGUARD_DB": db}
        self._directory = tempfile.mkdtemp(prefix="prospectguard-audit-")  # mode 0700: ours alone
        self.address = os.path.join(self._directory, "writer.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.address)
            self._listener.listen(128)
        except OSError:  # e.g. a path too long for a Unix socket, under a long TMPDIR
            self._listener.close()
            shutil.rmtree(self._directory, ignore_errors=True)
            raise
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self.keep_up()

    def keep_up(self) -> None:
        """Start the writer, or replace a dead one (at most once a second)."""
        if self._process is not None and self._process.poll() is None:
            return
        if time.monotonic() - self._started < RESTART_SECONDS:
            return
        fd = self._listener.fileno()
        command = [sys.executable, "-m", "prospectguard.service.auditproc", "--shared", str(fd), str(os.getpid())]
        self._started = time.monotonic()
        try:
            # A session of its own: Ctrl-C in a terminal does not reach it (not even while it imports);
            # its supervisor stops it once the workers have stopped, or it sees itself orphaned.
            self._process = subprocess.Popen(
                command, pass_fds=(fd,), stdin=subprocess.DEVNULL, env=self._environment, start_new_session=True
            )
        except OSError as exc:  # tried again a second later; meanwhile the workers' batches wait, or fail closed
            print(f"warning: the shared audit writer could not start: {exc}", file=sys.stderr)

    @property
    def pid(self) -> int | None:
        """The writer's process id, while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def stop(self) -> None:
        """Stop the writer (it finishes the commit under way) and remove its socket."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._listener.close()
        shutil.rmtree(self._directory, ignore_errors=True)
