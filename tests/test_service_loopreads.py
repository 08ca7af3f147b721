"""PostgreSQL: a plain check's read on the event loop (`service.loopreads`), and the service failing
closed when PostgreSQL is gone, hung, or ends its sessions."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from prospectguard.service.app import create_app
from prospectguard.service.loopreads import LoopReads
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.connect import normalise_url
from tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
NUM, OTHER = "+33612345678", "+33698765432"
TO, TUESDAY_11 = "06 12 34 56 78", "2026-12-01T11:00:00+01:00"
CALLER = "+33162000001"


def filled(url: str) -> tuple[Store, int]:
    """A store with one number's every kind of fact, and a second organisation's."""
    store = Store.open(url)
    org, other = store.org_id("acme"), store.org_id("other")
    store.set_org(org, caller_numbers=["+33162000009"], at=T0 - timedelta(days=2))
    store.set_org(org, caller_numbers=[CALLER], sms_senders=["ACME"], policies={"CALLEE_FOREIGN": False}, at=T0)
    consent = {"channel": "all", "method": "web form", "proof_text": "ticked the box"}
    store.add_consent(org, NUM, collected_at=T0 - timedelta(days=40), **consent)
    store.add_consent(org, NUM, collected_at=T0 - timedelta(days=1), expires_at=T0 + timedelta(days=9), **consent)
    store.withdraw_consent(org, NUM, at=T0 - timedelta(days=2), source="web")
    store.add_opposition(org, NUM, at=T0 - timedelta(days=5), source="gdpr")
    store.remove_opposition(org, NUM, at=T0 - timedelta(days=4))
    store.add_contract(org, NUM, object="Box", start=T0 - timedelta(days=300), end=T0 + timedelta(days=30))
    for days in (3, 2, 100):
        store.record_attempt(org, NUM, at=T0 - timedelta(days=days), channel="voice", outcome="no_answer")
    store.record_attempt(other, NUM, at=T0 - timedelta(days=1), channel="voice", outcome="refused")
    store.import_bloctel(org, [NUM], as_of=date(2026, 7, 1), file_sha256="a" * 64)
    return store, org


def test_the_loop_read_gives_what_store_facts_gives(pg_url: str) -> None:
    """The same facts as the threads' read (itself held to the batch read in test_store), for a
    number with every kind of history, one without, no number at all, another organisation, and an
    instant before any Bloctel snapshot; an unknown organisation is a KeyError, as there."""
    store, org = filled(pg_url)
    reads = LoopReads(store)

    async def compare() -> None:
        for org_id in (org, store.org_id("other")):
            for at in (T0, T0 - timedelta(days=200)):
                for number in (NUM, OTHER):
                    assert await reads.facts(org_id, number, at) == store.facts(org_id, number, at)
                assert await reads.facts(org_id, None, at) == store.facts_many(org_id, [], at)[0]
        with pytest.raises(KeyError):
            await reads.facts(org + 1000, NUM, T0)
        with pytest.raises(ValueError):
            await reads.facts(org, "0612345678", T0)
        await reads.close()

    try:
        asyncio.run(compare())
        facts = store.facts(org, NUM, T0)
        assert len(facts.attempts) == 2 and facts.bloctel.listed and facts.org.caller_numbers == {CALLER}
    finally:
        store.close()


def served(url: str) -> tuple[Store, str, Any]:
    """`filled`'s store, an admin key, and the service over it (keys remembered for a minute)."""
    store, org = filled(url)
    return store, store.create_key(org, ["admin"]), create_app(store, key_cache_seconds=60)


def _through(proxy: TcpProxy, url: str) -> str:
    parsed = make_url(normalise_url(url))
    return parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def _check(client: TestClient, key: str) -> Any:
    return client.post("/v1/check", json={"to": TO, "from": CALLER, "at": TUESDAY_11}, headers=_auth(key))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_postgresql_gone_is_a_503_block_and_the_service_comes_back(pg_url: str) -> None:
    """PostgreSQL becomes unreachable (every session cut, the port refused): a check, a reserving
    check and a batch are blocks with STORE_UNAVAILABLE and HTTP 503, never an allow, and /healthz
    says 503; once it is back, the same service answers again, on fresh connections."""
    target = make_url(normalise_url(pg_url))
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    store, org = filled(_through(proxy, pg_url))
    key = store.create_key(org, ["admin"])
    store.add_consent(org, "+33612345678", collected_at=T0, channel="all", method="web form", proof_text="yes")
    try:
        with TestClient(create_app(store, key_cache_seconds=60)) as client:
            assert _check(client, key).json()["decision"] == "allow"
            proxy.stop()
            for body in ({}, {"reserve": True}):
                r = client.post(
                    "/v1/check", json={"to": TO, "from": CALLER, "at": TUESDAY_11, **body}, headers=_auth(key)
                )
                assert r.status_code == 503, r.text
                assert r.json()["decision"] == "block"
                assert [x["code"] for x in r.json()["reasons"]] == ["STORE_UNAVAILABLE"]
            batch = client.post(
                "/v1/check/batch", json={"contacts": [{"to": TO, "from": CALLER}] * 2}, headers=_auth(key)
            )
            assert batch.status_code == 503
            assert {d["decision"] for d in batch.json()["decisions"]} == {"block"}
            assert client.get("/healthz").status_code == 503
            proxy.start()  # the same port
            deadline = time.monotonic() + 10
            while (r := _check(client, key)).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)  # the audit writer's process may take a moment to start again
            assert r.status_code == 200, r.text
            assert r.json()["decision"] == "allow"
    finally:
        proxy.stop()
        store.close()


def test_a_read_that_waits_too_long_fails_closed(pg_url: str) -> None:
    """A table locked by another session (a migration, a stuck transaction): the check's read waits,
    and is a block, 503, once `READ_SECONDS` have passed (here 1 s), not a hang; the next check
    answers once the lock is gone."""
    store, key, app = served(pg_url)
    locker = create_engine(store.engine.url)
    try:
        with TestClient(app) as client:
            assert _check(client, key).status_code == 200
            reads = _loop_reads(app)
            reads.timeout = 1.0
            locked, release = threading.Event(), threading.Event()

            def hold() -> None:  # the lock is let go after 8 s at most: a read with no timeout answers late
                with locker.connect() as conn:
                    conn.execute(text("LOCK TABLE consents IN ACCESS EXCLUSIVE MODE"))
                    locked.set()
                    release.wait(8)
                    conn.rollback()

            holder = threading.Thread(target=hold)
            holder.start()
            assert locked.wait(10)
            started = time.monotonic()
            r = _check(client, key)
            waited = time.monotonic() - started
            release.set()
            holder.join()
            assert r.status_code == 503, r.text
            assert [x["code"] for x in r.json()["reasons"]] == ["STORE_UNAVAILABLE"]
            assert "did not answer within 1 s" in r.json()["reasons"][0]["message"]
            assert 1.0 <= waited < 5.0
            assert _check(client, key).status_code == 200
    finally:
        locker.dispose()
        store.close()


def test_a_stalled_link_fails_closed_in_time(pg_url: str) -> None:
    """The link to PostgreSQL stalls mid-read (connections open, nothing comes back): every check is
    a block, 503, within the read timeout (here 1 s) counted from its arrival, although psycopg's
    own cancellation of the abandoned read waits longer, and more checks than connections queue at
    once; the connection that stalled is not reused once the link is back."""
    target = make_url(normalise_url(pg_url))
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    store, key, app = served(_through(proxy, pg_url))
    reads = _loop_reads(app)
    reads.timeout, reads.size = 1.0, 2
    try:
        with TestClient(app) as client:
            assert _check(client, key).status_code == 200
            before = {conn.info.backend_pid for conn in reads._idle}
            proxy.stall()
            timings: list[tuple[int, float]] = []

            def one() -> None:
                started = time.monotonic()
                r = _check(client, key)
                timings.append((r.status_code, time.monotonic() - started))
                assert [x["code"] for x in r.json()["reasons"]] == ["STORE_UNAVAILABLE"]

            callers = [threading.Thread(target=one) for _ in range(5)]  # more than the 2 connections
            for t in callers:
                t.start()
            for t in callers:
                t.join()
            assert [status for status, _ in timings] == [503] * 5
            assert max(took for _, took in timings) < 2.5, timings
            proxy.resume()
            deadline = time.monotonic() + 15
            while (r := _check(client, key)).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)  # the abandoned reads end (psycopg's cancellation), their slots come back
            assert r.status_code == 200, r.text
            assert not {conn.info.backend_pid for conn in reads._idle} & before
    finally:
        proxy.stop()
        store.close()


def test_idle_loop_connections_the_server_ended_are_replaced(pg_url: str) -> None:
    """PostgreSQL ends the loop's idle sessions (a restart, an administrator): the next checks are
    answered on fresh connections, not failed on the dead ones."""
    store, key, app = served(pg_url)
    admin = create_engine(store.engine.url)
    try:
        with TestClient(app) as client:
            for _ in range(3):
                assert _check(client, key).status_code == 200
            reads = _loop_reads(app)
            pids = [conn.info.backend_pid for conn in reads._idle]
            assert pids
            with admin.connect() as conn:
                for pid in pids:
                    assert conn.execute(text(f"SELECT pg_terminate_backend({int(pid)}, 5000)")).scalar_one()
            for _ in range(3):
                assert _check(client, key).status_code == 200
            assert not {conn.info.backend_pid for conn in reads._idle} & set(pids)
    finally:
        admin.dispose()
        store.close()


def _loop_reads(app: Any) -> LoopReads:
    reads = app.state.loop_reads
    assert isinstance(reads, LoopReads)
    return reads


def test_loop_reads_refuse_sqlite(tmp_path: Any) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as store, pytest.raises(ValueError):
        LoopReads(store)


def test_a_store_unavailable_read_is_not_a_value_error(pg_url: str) -> None:
    """Nothing listens: StoreUnavailable (a 503 block upstream), within the connect timeout."""
    store = Store(pg_url)
    try:
        reads = LoopReads(store)
        reads._connect[1].update(port=1)

        async def read() -> None:
            await reads.facts(1, NUM, T0)

        with pytest.raises(StoreUnavailable):
            asyncio.run(read())
    finally:
        store.close()


def test_a_remembered_key_is_held_to_its_scopes_and_revocation(pg_url: str) -> None:
    """On the loop, a key answered from memory is judged as one read from the store: a key without the
    `check` scope is refused (403) both times, an unknown one (401) too; a revoked key stops working
    once the memory of it has expired."""
    store, org = filled(pg_url)
    writer, checker = store.create_key(org, ["write"]), store.create_key(org, ["check"])
    app = create_app(store, key_cache_seconds=0.5)
    try:
        with TestClient(app) as client:
            assert [_check(client, writer).status_code for _ in range(2)] == [403, 403]
            assert [_check(client, "pg_nonsense").status_code for _ in range(2)] == [401, 401]
            assert [_check(client, checker).status_code for _ in range(2)] == [200, 200]
            assert store.revoke_key(checker, at=datetime.now(UTC)) == 1
            time.sleep(0.6)
            assert _check(client, checker).status_code == 401
    finally:
        store.close()


def test_a_refused_read_is_store_unavailable_on_both_paths(pg_url: str) -> None:
    """A role that lost its right to read a table (an operator's mistake): PostgreSQL refuses the
    statement with an error that is neither a connection nor an operational one. Both check reads,
    in a thread and on the loop, give StoreUnavailable (a 503 block upstream), not an error."""
    store, org = filled(pg_url)
    role = f"test_reader_{uuid.uuid4().hex[:8]}"  # a role of the cluster, dropped below
    admin = create_engine(store.engine.url, isolation_level="AUTOCOMMIT")
    schema = make_url(normalise_url(pg_url)).query["options"].split("=", 1)[1]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}"'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'REVOKE SELECT ON opposition_events FROM "{role}"'))
        url = make_url(normalise_url(pg_url))
        limited = url.set(query={**url.query, "options": f"{url.query['options']} -crole={role}"})
        with Store(limited.render_as_string(hide_password=False)) as reader:
            with pytest.raises(StoreUnavailable, match="permission denied"):
                reader.facts(org, NUM, T0)
            reads = LoopReads(reader)

            async def read() -> None:
                try:
                    await reads.facts(org, NUM, T0)
                finally:
                    await reads.close()

            with pytest.raises(StoreUnavailable, match="permission denied"):
                asyncio.run(read())
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
        store.close()
