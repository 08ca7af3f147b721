"""`POST /v1/check` with `"reserve": true` under real concurrency: separate server processes
(`prospectguard serve`) on one store, many clients released together by a barrier.

The check and the recording of the attempt are one atomic step (`Store.check_atomically`), so
however many reserves for one consumer race through however many processes, the frequency cap
(B3: at most 4 voice attempts in any rolling 30 days) lets exactly 4 through and records exactly 4
attempts. A check-then-record done in two steps lets more through under this same load.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import NPV_CALLER
from prospectguard.store import Store
from prospectguard.store.schema import attempts

AT = "2026-12-01T11:00:00+01:00"  # a Tuesday, 11:00 in Paris: within the allowed hours
CONSUMER = "+33612345678"
OTHER_CONSUMER = "+33612345679"
CAP = 4  # B3: voice attempts per consumer in any rolling 30 days
RACERS = 50
SERVERS = 2
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0

Start = Callable[[str], list[str]]
Result = tuple[int, dict[str, Any]]


def _prepare(url: str, *consumers: str) -> tuple[int, str]:
    """Organisation `acme` calling from its declared number, a consent per consumer, a check key."""
    with Store.open(url) as store:
        org_id = store.org_id("acme")
        store.set_org(org_id, caller_numbers=[NPV_CALLER], at=datetime(2026, 1, 1, tzinfo=UTC))
        for number in consumers:
            store.add_consent(
                org_id,
                number,
                collected_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
                channel="all",
                method="web",
                proof_text="J'accepte d'être contacté par Acme.",
            )
        return org_id, store.create_key(org_id, ["check"], "concurrency test")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server {base} exited with {process.returncode}; its output:\n{log.read_text()}")
        try:
            response = httpx.get(f"{base}/healthz", timeout=1.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"server {base} not healthy after {STARTUP_TIMEOUT_S:.0f} s ({last}); its output:\n{log.read_text()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Start]:
    """`serve(url)` starts SERVERS separate `prospectguard serve` processes on `url` and returns their
    base URLs once each answers /healthz; every process is stopped at teardown, whatever happened,
    and its output printed (pytest shows it when the test failed)."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROSPECTGUARD_DB", None)

    def start(url: str) -> list[str]:
        launched = []
        for _ in range(SERVERS):
            port = _free_port()
            log = tmp_path / f"server-{len(started)}-{port}.log"
            command = [sys.executable, "-m", "prospectguard", "--db", url, "serve"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            with log.open("wb") as output:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
            started.append((process, log))
            launched.append((process, f"http://127.0.0.1:{port}", log))
        for process, base, log in launched:
            _wait_healthy(process, base, log)
        return [base for _, base, _ in launched]

    try:
        yield start
    finally:
        for process, _ in started:
            process.terminate()
        for process, log in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            print(f"--- {log.name} (exit {process.returncode}):\n{log.read_text()}")


def _race(bases: list[str], key: str, body: dict[str, Any], count: int) -> list[Result]:
    """`count` threads, each with its own connection to one of `bases` in turn (opened beforehand),
    all released by one barrier to POST `body` to /v1/check at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Result | None] = [None] * count
    failures: list[str] = []

    def one(i: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with httpx.Client(base_url=bases[i % len(bases)], headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
                client.get("/healthz").raise_for_status()  # connect now, so the checks leave together
                barrier.wait(timeout=REQUEST_TIMEOUT_S)
                response = client.post("/v1/check", json=body)
                results[i] = (response.status_code, response.json())
        except Exception as exc:  # reported below with the others
            barrier.abort()
            failures.append(f"client {i} ({bases[i % len(bases)]}): {exc!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, "\n".join(failures)
    done = [r for r in results if r is not None]
    assert len(done) == count
    return done


def _codes(answer: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in answer.get("reasons", [])}


def _attempt_ids(url: str, org_id: int, e164: str) -> list[int]:
    """The ids of the number's attempts in the store, after checking that the facts the rules read
    (`Store.facts`) count exactly those, all reserved voice attempts at AT."""
    at = datetime.fromisoformat(AT)
    with Store.open(url, upgrade=False) as store:
        seen = store.facts(org_id, e164, at).attempts
        with store.engine.connect() as conn:
            rows = conn.execute(select(attempts.c.id).where(attempts.c.org_id == org_id, attempts.c.e164 == e164)).all()
    assert all((a.at, a.channel, a.outcome) == (at, "voice", "reserved") for a in seen), seen
    assert len(seen) == len(rows), f"facts count {len(seen)} attempts, the table holds {len(rows)}"
    return sorted(row.id for row in rows)


def _reserve(to: str, **extra: Any) -> dict[str, Any]:
    return {"to": to, "from": NPV_CALLER, "at": AT, "channel": "voice", "reserve": True, **extra}


def test_cap_holds_for_concurrent_reserves_across_processes(store_url: str, serve: Start) -> None:
    org_id, key = _prepare(store_url, CONSUMER)
    bases = serve(store_url)

    results = _race(bases, key, _reserve(CONSUMER), RACERS)

    unexpected = [(status, answer) for status, answer in results if status != 200]
    assert not unexpected, f"{len(unexpected)} of {RACERS} checks did not answer 200: {unexpected[:3]}"
    answers = [answer for _, answer in results]
    allowed = [a for a in answers if a["decision"] == "allow"]
    blocked = [a for a in answers if a["decision"] == "block"]
    assert len(allowed) == CAP, f"{len(allowed)} of {RACERS} concurrent reserves allowed, cap is {CAP}"
    assert len(blocked) == RACERS - CAP
    assert all(_codes(a) == {"FREQUENCY_CAP"} for a in blocked), [a["reasons"] for a in blocked][:3]
    assert all(a["attempt_id"] is None for a in blocked)
    reserved = sorted(a["attempt_id"] for a in allowed)
    assert all(isinstance(i, int) for i in reserved) and len(set(reserved)) == CAP, reserved
    assert not any(a.get("replayed") for a in answers)

    # What the store holds: the 4 attempts the allowed answers reserved, and no others.
    assert _attempt_ids(store_url, org_id, CONSUMER) == reserved

    # And it stays closed: one more reserve, through either process, is blocked too.
    for base in bases:
        response = httpx.post(
            f"{base}/v1/check", json=_reserve(CONSUMER), headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 200 and response.json()["decision"] == "block", response.text
        assert _codes(response.json()) == {"FREQUENCY_CAP"}
    assert _attempt_ids(store_url, org_id, CONSUMER) == reserved


def test_one_idempotency_key_reserves_once_under_concurrency(store_url: str, serve: Start) -> None:
    org_id, key = _prepare(store_url, OTHER_CONSUMER)
    bases = serve(store_url)
    count = 20

    results = _race(bases, key, _reserve(OTHER_CONSUMER, idempotency_key="campaign-42/contact-7"), count)

    unexpected = [(status, answer) for status, answer in results if status != 200]
    assert not unexpected, f"{len(unexpected)} of {count} checks did not answer 200: {unexpected[:3]}"
    answers = [answer for _, answer in results]
    replays = [a for a in answers if a.get("replayed") is True]
    assert len(replays) == count - 1, f"{len(replays)} replays of {count} uses of one idempotency key"
    first = next(a for a in answers if "replayed" not in a)
    assert first["decision"] == "allow" and isinstance(first["attempt_id"], int), first
    assert all({k: v for k, v in a.items() if k != "replayed"} == first for a in replays)

    assert _attempt_ids(store_url, org_id, OTHER_CONSUMER) == [first["attempt_id"]]
