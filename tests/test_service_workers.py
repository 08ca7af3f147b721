"""`prospectguard serve --workers N`: a listening socket per worker, so that connections opened
together spread over the workers; a worker that dies is replaced; SIGTERM stops everything."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prospectguard.store import Store

TUESDAY_11 = "2026-12-01T11:00:00+01:00"
CONNECTIONS = 32
WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    workers = []
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            workers.append(child)
    return workers


def _writers(pid: int) -> list[int]:
    """The supervisor's shared audit writer processes (one, while it runs)."""
    found = []
    for child in _children(pid):
        with contextlib.suppress(FileNotFoundError):
            if b"auditproc\x00--shared" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def _helpers(pid: int) -> set[int]:
    """Every process `serve` started: its workers, their helpers, the shared audit writer."""
    workers = _workers(pid)
    return set(workers) | {c for w in workers for c in _children(w)} | set(_writers(pid))


def _sockets_on(port: int, state: str) -> set[int]:
    """Inodes of the sockets on local `port` in `state` (01 established, 0A listening)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def _sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _unix_paths(pid: int) -> list[str]:
    """The paths of the Unix sockets bound among `pid`'s open sockets."""
    mine = _sockets_of(pid)
    paths = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and int(fields[6]) in mine:
            paths.append(fields[7])
    return paths


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT_S:.0f} s: {what}")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, str, Path]]:
    """`serve --workers 2` on a SQLite file with an admin key; stopped at teardown whatever happened."""
    db = tmp_path / "store.db"
    with Store.open(f"sqlite:///{db}") as store:
        key = store.create_key(store.org_id("acme"), ["admin"], "workers test")
    port = _free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "prospectguard", "--db", f"sqlite:///{db}", "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--workers", "2"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(
            lambda: len(_sockets_on(port, "0A")) == 2 and _healthy(f"http://127.0.0.1:{port}"), "two workers listening"
        )
        yield server, port, key, db
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # whatever a failed test left behind in the group
        print(log.read_text())


def test_connections_opened_together_spread_over_the_workers(
    served: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    server, port, key, db = served
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # one request each, so that every connection has been accepted
            client.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        accepted = _sockets_on(port, "01")
        per_worker = [len(_sockets_of(pid) & accepted) for pid in _workers(server.pid)]
    finally:
        for client in clients:
            client.close()
    assert sum(per_worker) == CONNECTIONS
    assert min(per_worker) > 0, per_worker  # all in one worker has a chance of 2 in 2^32 if spread fairly

    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
        for minute in range(10):
            answer = http.post("/v1/check", json={"to": "06 12 34 56 78", "at": f"2026-12-01T11:0{minute}:00+01:00"})
            assert answer.status_code == 200 and answer.json()["decision"] == "block"
    with Store.open(f"sqlite:///{db}") as store:
        report = store.verify_audit()
    assert report.ok and report.checked == 10


def test_a_dead_worker_is_replaced_and_sigterm_stops_everything(
    served: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    server, port, key, _ = served
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{base}/v1/check", json={"to": "06 12 34 56 78"}, headers=headers).status_code == 200
    first = _workers(server.pid)
    everything = _helpers(server.pid)
    (writer,) = _writers(server.pid)
    (address,) = set(_unix_paths(writer))  # the socket it listens on (and the connections it accepted)
    assert Path(address).is_socket()
    os.kill(first[0], signal.SIGKILL)
    _wait(lambda: len(set(_workers(server.pid)) - set(first)) == 1, "a new worker in place of the dead one")
    _wait(lambda: len(_sockets_on(port, "0A")) == 2, "the new worker listening")
    for _ in range(5):
        assert httpx.post(f"{base}/v1/check", json={"to": "06 12 34 56 78"}, headers=headers).status_code == 200
    everything |= _helpers(server.pid)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=WAIT_S) == 0
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything), "every worker and writer gone")
    assert not Path(address).parent.exists()  # the shared writer's socket and its directory


def test_every_worker_commits_through_one_audit_writer_which_is_replaced_when_it_dies(
    served: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    server, port, key, db = served
    headers = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{port}"
    (writer,) = _writers(server.pid)

    def check(minute: int) -> int:
        with httpx.Client() as http:  # a new connection each time: the checks land in both workers
            at = f"2026-12-01T11:{minute:02d}:00+01:00"
            answer = http.post(f"{base}/v1/check", json={"to": "06 12 34 56 78", "at": at}, headers=headers)
        assert answer.json()["decision"] == "block"  # a 503 too: never an allow
        return answer.status_code

    assert [check(m) for m in range(8)] == [200] * 8
    for worker in _workers(server.pid):  # no writer of their own
        assert not [c for c in _children(worker) if b"auditproc" in Path(f"/proc/{c}/cmdline").read_bytes()]
    os.kill(writer, signal.SIGKILL)
    _wait(lambda: _writers(server.pid) not in ([], [writer]), "a new audit writer")
    answered = [check(m) for m in range(8, 40)]
    assert set(answered) <= {200, 503} and answered[-8:] == [200] * 8, answered  # a batch cut off fails closed
    with Store.open(f"sqlite:///{db}") as store:
        report = store.verify_audit()
    assert report.ok and report.checked >= 8 + answered.count(200), report


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'store.db'}"
        command = [sys.executable, "-m", "prospectguard", "--db", db, "serve", "--port", str(port), "--workers", "2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_workers_stop_when_their_supervisor_is_killed(
    served: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    server, port, key, _ = served
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(4):  # new connections each time: the audit writers start wherever they land
        with httpx.Client() as http:
            http.post(f"http://127.0.0.1:{port}/v1/check", json={"to": "06 12 34 56 78"}, headers=headers)
    everything = _helpers(server.pid)
    assert len(_workers(server.pid)) == 2 and len(_writers(server.pid)) == 1, everything
    (address,) = set(_unix_paths(_writers(server.pid)[0]))
    server.kill()  # SIGKILL: no chance to stop its workers itself
    server.wait()
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything), "the orphaned workers gone")
    assert not Path(address).parent.exists()  # the orphaned writer removed its socket
    _wait(lambda: not _sockets_on(port, "0A"), "nothing listening on the port")


def test_ctrl_c_stops_every_worker_without_a_traceback(
    served: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole process group: the supervisor, its workers and
    their helpers. Every one stops, and none prints a traceback."""
    server, port, key, db = served
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(4):
        with httpx.Client() as http:
            http.post(f"http://127.0.0.1:{port}/v1/check", json={"to": "06 12 34 56 78"}, headers=headers)
    everything = _helpers(server.pid)
    os.killpg(server.pid, signal.SIGINT)
    assert server.wait(timeout=WAIT_S) == 0
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything), "every worker and helper gone")
    log = db.parent / "serve.log"
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_worker_that_cannot_start_stops_the_server(capfd: pytest.CaptureFixture[str]) -> None:
    """The app does not load in the workers (here: no such module): the supervisor stops and says
    so (status 1) rather than starting new workers over and over."""
    from prospectguard.service.workers import run

    started = time.monotonic()
    assert run("127.0.0.1", _free_port(), 2, app="prospectguard.no_such_module:create_app") == 1
    assert time.monotonic() - started < WAIT_S
    assert "no_such_module" in capfd.readouterr().err
