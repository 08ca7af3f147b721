"""The evidence store, on SQLite and PostgreSQL (the `store` fixture runs each test on both)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine

from prospectguard.model import BloctelFacts, OrgSettings
from prospectguard.store import AuditReport, Store, StoreUnavailable, audit, evidence
from prospectguard.store.schema import (
    attempts,
    audit_log,
    bloctel_numbers,
    consent_withdrawals,
    consents,
    metadata,
    opposition_events,
    org_settings,
)
from prospectguard.store.types import UTCDateTime

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
NUM = "+33612345678"
OTHER = "+33698765432"


@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[str]]:
    """Every statement the engine sends while the block runs."""
    statements: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def consent_kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "collected_at": T0,
        "channel": "voice",
        "method": "web_form",
        "proof_text": "J'accepte d'être appelé par Acme.",
    }
    kwargs.update(overrides)
    return kwargs


# --- migrations and connections ------------------------------------------------------------------


def test_migrations_twice_are_a_no_op(store_url: str) -> None:
    with Store.open(store_url) as first:
        org = first.org_id("acme")
    with Store.open(store_url) as second, captured_sql(second.engine) as sql:
        second.upgrade()
        assert second.org_id("acme", create=False) == org
    writes = [s for s in sql if s.lstrip().split()[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE"}]
    assert writes == []
    with second.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == ("0003",)


def test_head_is_the_newest_migration_and_read_as_alembic_reads_it(store_url: str) -> None:
    """`migrate.HEAD` names the head Alembic finds in the scripts, and `at_head` (the check without
    Alembic at every start) says what Alembic's own reading says: on an empty database, one a
    migration behind, and at head."""
    from alembic import command

    from prospectguard.store import migrate
    from prospectguard.store.connect import write_tx

    assert migrate.head_revisions() == {migrate.HEAD}
    with Store.open(store_url, upgrade=False) as store:
        for step in ("empty", "behind", "head"):
            if step != "empty":
                with write_tx(store.engine) as conn:
                    config = migrate.alembic_config()
                    config.attributes["connection"] = conn
                    command.upgrade(config, "0002" if step == "behind" else "head")
            with store.engine.connect() as conn:
                assert migrate.at_head(conn) == (migrate.current_revisions(conn) == {migrate.HEAD}) == (step == "head")
        store.upgrade()  # a no-op at head


def test_hand_written_migration_matches_schema_module(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diffs == []


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000


def test_unreachable_postgresql_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        Store.open("postgresql://root@127.0.0.1:1/test")  # nothing listens on port 1
    store = Store("postgresql://root@127.0.0.1:1/test")
    with pytest.raises(StoreUnavailable):
        store.facts(1, NUM, T0)
    store.close()


def test_a_read_that_fails_midway_is_store_unavailable(store: Store) -> None:
    """The check's read on the driver's cursor (store/compiled.py) fails closed like SQLAlchemy's, and
    recovers: a statement that fails is StoreUnavailable (SQLite: a table gone), and connections the
    server dropped while pooled are not used (PostgreSQL)."""
    org = store.org_id("acme")
    store.add_opposition(org, NUM, at=T0, source="manual")
    assert store.facts(org, NUM, T0).oppositions
    if store.engine.dialect.name == "postgresql":
        from sqlalchemy import create_engine

        with store.engine.connect() as one, store.engine.connect() as two:  # idle in the pool once closed
            pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in (one, two)]
        admin = create_engine(store.engine.url)
        with admin.connect() as conn:  # the server ends both sessions while the pool holds them
            for pid in pids:  # and waits (up to 5 s) until each is gone: its goodbye has been sent
                assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)").scalar_one()
        admin.dispose()
        for _ in range(4):  # a connection the server ended while pooled is not handed out: it is replaced
            assert store.facts(org, NUM, T0).oppositions
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE opposition_events RENAME TO opposition_events_away")
        with pytest.raises(StoreUnavailable):
            store.facts(org, NUM, T0)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE opposition_events_away RENAME TO opposition_events")
        assert store.facts(org, NUM, T0).oppositions


@pytest.mark.postgres
def test_a_check_read_that_fails_leaves_its_connection_usable(pg_url: str) -> None:
    """PostgreSQL: the check's one-statement read fails (a table gone); the read is StoreUnavailable,
    as on SQLite, and the connections, back in the pool, serve the next reads (no transaction left
    open, nor autocommit left on)."""
    with Store.open(pg_url) as store:
        org = store.org_id("acme")
        store.add_opposition(org, NUM, at=T0, source="manual")
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE opposition_events RENAME TO opposition_events_away")
        with pytest.raises(StoreUnavailable, match="opposition_events"):
            store.facts(org, NUM, T0)
        with pytest.raises(StoreUnavailable, match="opposition_events"):
            store.add_opposition(org, NUM, at=T0, source="manual")  # the SQLAlchemy path says the same
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE opposition_events_away RENAME TO opposition_events")
        for _ in range(8):  # more than the pool hands out between uses: the failed one is among them
            assert store.facts(org, NUM, T0).oppositions
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM opposition_events").scalar_one() == 1


@pytest.mark.postgres
def test_the_check_read_gives_its_connection_back_in_transaction_mode(pg_url: str) -> None:
    """PostgreSQL: the check's read runs in autocommit (one statement, its own snapshot); the pooled
    connection goes back to the writers that use it next in transaction mode: what they write and
    roll back is gone."""
    with Store.open(pg_url) as store:
        org = store.org_id("acme")
        for _ in range(3):  # sequential: the same pooled connection each time
            assert store.facts(org, NUM, T0).oppositions == ()
            with store.engine.connect() as conn:
                assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
                conn.execute(
                    opposition_events.insert().values(org_id=org, e164=NUM, at=T0, active=True, source="manual")
                )
                conn.rollback()
            assert store.facts(org, NUM, T0).oppositions == ()


def test_the_checks_read_keeps_postgresql_prepared_statements(pg_url: str) -> None:
    """psycopg prepares a statement run 5 times on a connection, and forgets every prepared statement
    at each rollback(): a read ended by ROLLBACK had its statements parsed and planned afresh at every
    check (4x PostgreSQL's CPU). In autocommit there is nothing to roll back: it stays prepared."""
    prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%UNION ALL%'")
    with Store.open(pg_url) as store:
        org = store.org_id("acme")
        store.add_consent(org, NUM, **consent_kwargs())
        for _ in range(8):  # sequential reads: the same pooled connection each time
            assert store.facts(org, NUM, T0).consents
        with store.engine.connect() as conn:
            assert conn.execute(prepared).scalar() == 1  # the check's one statement


def test_unwritable_sqlite_path_is_store_unavailable(tmp_path: Any) -> None:
    with pytest.raises(StoreUnavailable):
        Store.open(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_utc_datetime_rejects_naive_and_returns_utc(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), store.engine.dialect)
    org = store.org_id("acme")
    paris = datetime(2026, 9, 1, 12, 30, 15, 123456, tzinfo=PARIS)
    store.add_consent(org, NUM, **consent_kwargs(collected_at=paris))
    (consent,) = store.facts(org, NUM, T0).consents
    assert consent.collected_at == paris
    assert consent.collected_at.tzinfo is UTC
    assert consent.collected_at.hour == 10  # 12:30 CEST is 10:30 UTC


@pytest.mark.parametrize(
    "call",
    [
        lambda s, o: s.set_org(o, caller_numbers=[], at=datetime(2026, 1, 1)),
        lambda s, o: s.add_consent(o, NUM, **consent_kwargs(collected_at=datetime(2026, 1, 1))),
        lambda s, o: s.add_consent(o, NUM, **consent_kwargs(expires_at=datetime(2027, 1, 1))),
        lambda s, o: s.add_consent(o, NUM, **consent_kwargs(slot_start=datetime(2026, 9, 2, 18))),
        lambda s, o: s.withdraw_consent(o, NUM, at=datetime(2026, 1, 1), source="manual"),
        lambda s, o: s.add_opposition(o, NUM, at=datetime(2026, 1, 1), source="manual"),
        lambda s, o: s.remove_opposition(o, NUM, at=datetime(2026, 1, 1)),
        lambda s, o: s.import_oppositions(o, [NUM], at=datetime(2026, 1, 1)),
        lambda s, o: s.add_contract(o, NUM, object="box", start=datetime(2026, 1, 1)),
        lambda s, o: s.add_contract(o, NUM, object="box", start=T0, end=datetime(2027, 1, 1)),
        lambda s, o: s.record_attempt(o, NUM, at=datetime(2026, 1, 1), channel="voice", outcome="busy"),
        lambda s, o: s.facts(o, NUM, datetime(2026, 1, 1)),
        lambda s, o: s.append_audit(
            at=datetime(2026, 1, 1), org="acme", request={}, facts={}, decision={}, law_date=date(2026, 1, 1)
        ),
    ],
)
def test_naive_datetimes_are_rejected(store: Store, call: Callable[[Store, int], object]) -> None:
    org = store.org_id("acme")
    with pytest.raises(ValueError, match="timezone-aware"):
        call(store, org)


# --- organisations and settings ------------------------------------------------------------------


def test_org_id_creates_once_and_finds(store: Store) -> None:
    acme = store.org_id("acme")
    assert store.org_id("acme") == acme
    assert store.org_id("acme", create=False) == acme
    assert store.org_id("globex") != acme
    with pytest.raises(KeyError):
        store.org_id("initech", create=False)


def test_org_settings_merge_and_append(store: Store) -> None:
    org = store.org_id("acme")
    assert store.org_settings(org) == OrgSettings(name="acme")
    with pytest.raises(KeyError):
        store.org_settings(org + 1000)
    with pytest.raises(KeyError):
        store.facts(org + 1000, NUM, T0)

    store.set_org(
        org,
        caller_numbers=["+33162000001", "+33162000000"],
        sms_senders=["ACME"],
        policies={"POLICY_SMS_QUIET_HOURS": False, "CALLEE_NOT_PROSPECTABLE": False},
        at=T0,
    )
    merged = store.set_org(org, caller_numbers=None, policies={"CALLEE_NOT_PROSPECTABLE": True}, at=T0)
    expected = OrgSettings(
        name="acme",
        caller_numbers=frozenset({"+33162000000", "+33162000001"}),
        sms_senders=frozenset({"ACME"}),
        policies_off=frozenset({"POLICY_SMS_QUIET_HOURS"}),
    )
    assert merged == expected
    assert store.org_settings(org) == expected
    assert store.facts(org, NUM, T0).org == expected
    assert count(store, org_settings) == 2  # appended, never updated
    with pytest.raises(ValueError):
        store.set_org(org, caller_numbers=["0162000000"], at=T0)


# --- consents ------------------------------------------------------------------------------------


def test_add_consent_hashes_the_proof(store: Store) -> None:
    org = store.org_id("acme")
    text_id = store.add_consent(org, NUM, **consent_kwargs(proof_text="oui"))
    file_id = store.add_consent(
        org,
        NUM,
        **consent_kwargs(
            proof_text=None,
            proof_bytes=b"RIFF....WAVE",
            proof_file_name="call-42.wav",
            channel="all",
            expires_at=T0 + timedelta(days=365),
            slot_start=T0 + timedelta(days=2),
            slot_end=T0 + timedelta(days=2, minutes=30),
        ),
    )
    history = {h["id"]: h for h in store.consent_history(org, NUM)}
    assert history[text_id]["proof_sha256"] == hashlib.sha256(b"oui").hexdigest()
    assert history[text_id]["proof_text"] == "oui"
    assert history[file_id]["proof_sha256"] == hashlib.sha256(b"RIFF....WAVE").hexdigest()
    assert history[file_id]["proof_file_name"] == "call-42.wav"
    assert history[file_id]["proof_text"] is None
    with store.engine.connect() as conn:  # the file's bytes are not kept, only its name and hash
        assert b"RIFF" not in repr(conn.execute(select(consents)).all()).encode()

    facts = store.facts(org, NUM, T0)
    assert [c.id for c in facts.consents] == [text_id, file_id]
    assert all(c.has_proof for c in facts.consents)
    assert facts.consents[1].channel == "all"
    assert facts.consents[1].expires_at == T0 + timedelta(days=365)
    assert facts.consents[1].slot_start == T0 + timedelta(days=2)
    assert facts.consents[1].slot_end == T0 + timedelta(days=2, minutes=30)


@pytest.mark.parametrize(
    "overrides",
    [
        {"proof_text": None},  # no proof at all (A3)
        {"proof_bytes": b"x"},  # both
        {"proof_file_name": "x.pdf"},  # a file name without the file
        {"channel": "email"},
        {"method": " "},
        {"slot_end": T0 + timedelta(hours=1)},  # an end without a start
        {"slot_start": T0, "slot_end": T0},
    ],
)
def test_add_consent_rejects_bad_input(store: Store, overrides: dict[str, Any]) -> None:
    org = store.org_id("acme")
    with pytest.raises(ValueError):
        store.add_consent(org, NUM, **consent_kwargs(**overrides))
    with pytest.raises(ValueError):
        store.add_consent(org, "0612345678", **consent_kwargs())
    assert count(store, consents) == 0


def test_consent_history_is_in_time_order(store: Store) -> None:
    org = store.org_id("acme")
    later = store.add_consent(org, NUM, **consent_kwargs(collected_at=T0 + timedelta(days=10)))
    withdrawal = store.withdraw_consent(org, NUM, at=T0 + timedelta(days=5), source="sms_reply")
    first = store.add_consent(org, NUM, **consent_kwargs(collected_at=T0))
    store.add_consent(org, OTHER, **consent_kwargs())
    history = store.consent_history(org, NUM)
    assert [(h["type"], h["id"]) for h in history] == [
        ("consent", first),
        ("withdrawal", withdrawal),
        ("consent", later),
    ]
    assert history[1] == {
        "type": "withdrawal",
        "id": withdrawal,
        "at": (T0 + timedelta(days=5)).isoformat(),
        "source": "sms_reply",
        "recorded_at": history[1]["recorded_at"],
    }
    json.dumps(history)  # JSON-ready
    assert store.facts(org, NUM, T0).withdrawals == (T0 + timedelta(days=5),)


# --- oppositions and contracts -------------------------------------------------------------------


def test_oppositions_add_remove_import(store: Store) -> None:
    org = store.org_id("acme")
    store.add_opposition(org, NUM, at=T0, source="gdpr")
    store.remove_opposition(org, NUM, at=T0 + timedelta(days=1))
    store.add_opposition(org, NUM, at=T0 + timedelta(days=2), source="stop")
    assert [(o.at, o.active) for o in store.facts(org, NUM, T0).oppositions] == [
        (T0, True),
        (T0 + timedelta(days=1), False),
        (T0 + timedelta(days=2), True),
    ]
    with pytest.raises(ValueError):
        store.add_opposition(org, NUM, at=T0, source="removal")  # only remove_opposition lifts one

    numbers = [f"+3361{i:07d}" for i in range(evidence.CHUNK * 2 + 7)]  # crosses chunk boundaries
    assert store.import_oppositions(org, iter(numbers), at=T0) == len(numbers)
    assert store.facts(org, numbers[-1], T0).oppositions[0].active
    before = count(store, opposition_events)
    with pytest.raises(ValueError):  # one bad number: nothing of the import is kept
        store.import_oppositions(org, [OTHER, "not a number"], at=T0)
    assert count(store, opposition_events) == before
    assert store.facts(org, OTHER, T0).oppositions == ()


def test_contracts(store: Store) -> None:
    org = store.org_id("acme")
    later = store.add_contract(org, NUM, object="fibre", start=T0 + timedelta(days=30))
    first = store.add_contract(org, NUM, object="box", start=T0, end=T0 + timedelta(days=365))
    contracts = store.facts(org, NUM, T0).contracts
    assert [(c.id, c.start, c.end) for c in contracts] == [
        (first, T0, T0 + timedelta(days=365)),
        (later, T0 + timedelta(days=30), None),
    ]
    with pytest.raises(ValueError):
        store.add_contract(org, NUM, object="box", start=T0, end=T0 - timedelta(days=1))


def test_facts_are_per_organisation(store: Store) -> None:
    acme, globex = store.org_id("acme"), store.org_id("globex")
    store.add_consent(acme, NUM, **consent_kwargs())
    store.add_opposition(acme, NUM, at=T0, source="manual")
    store.record_attempt(acme, NUM, at=T0, channel="voice", outcome="busy")
    store.import_bloctel(acme, [NUM], as_of=T0.date(), file_sha256="a" * 64)
    facts = store.facts(globex, NUM, T0)
    assert (facts.consents, facts.oppositions, facts.attempts) == ((), (), ())
    assert facts.bloctel == BloctelFacts(as_of=None)
    assert facts.org.name == "globex"


# --- attempts ------------------------------------------------------------------------------------


def test_record_attempt_and_window(store: Store) -> None:
    org = store.org_id("acme")
    for days in (-120, -90, -89, -1, 0, 3):  # -90 days is outside (at > at - 90 days), the future inside
        store.record_attempt(org, NUM, at=T0 + timedelta(days=days), channel="voice", outcome="no_answer")
    store.record_attempt(org, NUM, at=T0, channel="sms", outcome="answered")
    store.record_attempt(org, OTHER, at=T0, channel="voice", outcome="busy")
    facts = store.facts(org, NUM, T0)
    assert [(a.at - T0).days for a in facts.attempts] == [-89, -1, 0, 0, 3]
    assert {a.channel for a in facts.attempts} == {"voice", "sms"}
    with pytest.raises(ValueError):
        store.record_attempt(org, NUM, at=T0, channel="fax", outcome="busy")
    with pytest.raises(ValueError):
        store.record_attempt(org, NUM, at=T0, channel="voice", outcome="hung_up")


def test_opposed_attempt_writes_opposition_and_withdrawal(store: Store) -> None:
    org = store.org_id("acme")
    store.add_consent(org, NUM, **consent_kwargs())
    store.record_attempt(org, NUM, at=T0 + timedelta(hours=1), channel="voice", outcome="opposed")
    facts = store.facts(org, NUM, T0)
    assert [(o.at, o.active) for o in facts.oppositions] == [(T0 + timedelta(hours=1), True)]
    assert facts.withdrawals == (T0 + timedelta(hours=1),)
    with store.engine.connect() as conn:
        assert conn.execute(select(opposition_events.c.source)).scalar_one() == "call_objection"
        assert conn.execute(select(consent_withdrawals.c.source)).scalar_one() == "call_objection"


def test_opposed_attempt_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    org = store.org_id("acme")

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(evidence, "insert_withdrawal", broken)
    with pytest.raises(RuntimeError):
        store.record_attempt(org, NUM, at=T0, channel="voice", outcome="opposed")
    assert [count(store, t) for t in (attempts, opposition_events, consent_withdrawals)] == [0, 0, 0]


def test_idempotency_key(store: Store) -> None:
    acme, globex = store.org_id("acme"), store.org_id("globex")
    opposed: dict[str, Any] = {
        "at": T0,
        "channel": "voice",
        "outcome": "opposed",
        "idempotency_key": "call-1",
    }
    first = store.record_attempt(acme, NUM, **opposed)
    again = store.record_attempt(acme, NUM, **opposed)
    assert again == first
    assert (count(store, attempts), count(store, opposition_events)) == (1, 1)
    with pytest.raises(ValueError, match="different attempt"):
        store.record_attempt(acme, NUM, at=T0, channel="voice", outcome="busy", idempotency_key="call-1")
    other = store.record_attempt(globex, NUM, at=T0, channel="voice", outcome="busy", idempotency_key="call-1")
    assert other != first
    store.record_attempt(acme, NUM, at=T0, channel="voice", outcome="busy")
    store.record_attempt(acme, NUM, at=T0, channel="voice", outcome="busy")  # no key: no uniqueness
    assert count(store, attempts) == 4


def test_idempotency_key_under_concurrency(store: Store) -> None:
    org = store.org_id("acme")
    ids: list[int] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        ids.append(store.record_attempt(org, NUM, at=T0, channel="voice", outcome="busy", idempotency_key="k"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 6
    assert len(set(ids)) == 1
    assert count(store, attempts) == 1


# --- Bloctel -------------------------------------------------------------------------------------


def test_bloctel_snapshot_for_the_date(store: Store) -> None:
    org = store.org_id("acme")
    july = store.import_bloctel(org, [NUM, OTHER, NUM], as_of=date(2026, 7, 1), file_sha256="1" * 64)
    store.import_bloctel(org, [OTHER], as_of=date(2026, 8, 1), file_sha256="2" * 64)
    in_july = select(func.count()).where(bloctel_numbers.c.snapshot_id == july)
    with store.engine.connect() as conn:
        assert conn.execute(in_july).scalar_one() == 2  # duplicates in the file are stored once

    def bloctel(at: datetime, e164: str = NUM) -> BloctelFacts | None:
        return store.facts(org, e164, at).bloctel

    assert bloctel(datetime(2026, 6, 30, 12, tzinfo=UTC)) == BloctelFacts(as_of=None)
    assert bloctel(datetime(2026, 7, 1, 8, tzinfo=UTC)) == BloctelFacts(as_of=date(2026, 7, 1), listed=True)
    assert bloctel(datetime(2026, 7, 31, 12, tzinfo=UTC)) == BloctelFacts(as_of=date(2026, 7, 1), listed=True)
    assert bloctel(datetime(2026, 8, 5, 12, tzinfo=UTC)) == BloctelFacts(as_of=date(2026, 8, 1), listed=False)
    assert bloctel(datetime(2026, 8, 5, 12, tzinfo=UTC), OTHER) == BloctelFacts(as_of=date(2026, 8, 1), listed=True)
    # 22:30 UTC on 31 July is already 1 August in France: the August snapshot applies.
    assert bloctel(datetime(2026, 7, 31, 22, 30, tzinfo=UTC)).as_of == date(2026, 8, 1)  # type: ignore[union-attr]
    # a later import with the same date supersedes the earlier one
    store.import_bloctel(org, [NUM], as_of=date(2026, 8, 1), file_sha256="3" * 64)
    assert bloctel(datetime(2026, 8, 5, 12, tzinfo=UTC)) == BloctelFacts(as_of=date(2026, 8, 1), listed=True)
    with pytest.raises(ValueError):
        store.import_bloctel(org, [NUM], as_of=datetime(2026, 8, 1, tzinfo=UTC), file_sha256="3" * 64)
    with pytest.raises(ValueError):
        store.import_bloctel(org, [NUM], as_of=date(2026, 8, 1), file_sha256="not a hash")


def test_bloctel_bulk_import(store: Store) -> None:
    org = store.org_id("acme")
    numbers = (f"+3362{i:07d}" for i in range(evidence.CHUNK + 123))
    snapshot = store.import_bloctel(org, numbers, as_of=date(2026, 7, 1), file_sha256="f" * 64)
    assert count(store, bloctel_numbers) == evidence.CHUNK + 123
    at = datetime(2026, 7, 2, tzinfo=UTC)
    assert store.facts(org, f"+3362{evidence.CHUNK:07d}", at).bloctel == BloctelFacts(date(2026, 7, 1), True)
    assert snapshot > 0


# --- append-only ---------------------------------------------------------------------------------


def test_store_never_updates_or_deletes(store: Store) -> None:
    with captured_sql(store.engine) as sql:
        org = store.org_id("acme")
        store.org_id("acme")
        store.set_org(org, caller_numbers=["+33162000000"], sms_senders=["ACME"], policies={"X": False}, at=T0)
        store.set_org(org, caller_numbers=None, sms_senders=None, policies={"X": True}, at=T0)
        store.add_consent(org, NUM, **consent_kwargs())
        store.withdraw_consent(org, NUM, at=T0, source="manual")
        store.add_opposition(org, NUM, at=T0, source="gdpr")
        store.remove_opposition(org, NUM, at=T0)
        store.import_oppositions(org, [OTHER], at=T0)
        store.add_contract(org, NUM, object="box", start=T0)
        store.record_attempt(org, NUM, at=T0, channel="voice", outcome="opposed", idempotency_key="a")
        store.record_attempt(org, NUM, at=T0, channel="voice", outcome="opposed", idempotency_key="a")
        store.import_bloctel(org, [NUM], as_of=T0.date(), file_sha256="0" * 64)
        facts = store.facts(org, NUM, T0)
        store.consent_history(org, NUM)
        store.append_audit(at=T0, org="acme", request={}, facts=facts.to_json(), decision={}, law_date=T0.date())
        store.verify_audit()
        store.audit_entries(0, 10)
        store.upgrade()
    verbs = {s.lstrip().split()[0].upper() for s in sql}
    assert "INSERT" in verbs and "SELECT" in verbs
    assert not verbs & {"UPDATE", "DELETE", "TRUNCATE", "DROP", "ALTER", "MERGE", "REPLACE"}


# --- audit chain ---------------------------------------------------------------------------------


def append_n(store: Store, n: int) -> None:
    for i in range(n):
        store.append_audit(
            at=T0 + timedelta(minutes=i),
            org="acme",
            request={"to": NUM, "i": i, "nested": {"b": 1, "a": [1, 2]}},
            facts={"consents": []},
            decision={"decision": "allow" if i % 2 else "block", "why": "défaut"},
            law_date=date(2026, 9, 1),
        )


def test_audit_chain_intact(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.verify_audit() == AuditReport(ok=True, checked=0)
    monkeypatch.setattr(audit, "_STREAM_BATCH", 3)  # stream over several batches
    append_n(store, 10)
    entries = store.audit_entries(0, 100)
    head = entries[-1]["hash"]
    assert store.verify_audit() == AuditReport(ok=True, checked=10, head=head)
    assert store.verify_audit(anchor=entries[4]["hash"]).anchor_found
    assert not store.verify_audit(anchor="f" * 64).anchor_found
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert [e["seq"] for e in store.audit_entries(offset=4, limit=3)] == [5, 6, 7]
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(entries))
    # The hash is reproducible outside the store: sha256(prev_hash + canonical JSON of the entry).
    first = entries[0]
    canonical = json.dumps(
        {k: first[k] for k in ("seq", "at", "org", "request", "facts", "decision", "law_date")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert first["hash"] == hashlib.sha256(("0" * 64 + canonical).encode()).hexdigest()
    assert first["decision"] == {"decision": "block", "why": "défaut"}


def test_audit_detects_tampered_content(store: Store) -> None:
    append_n(store, 5)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET decision = :d WHERE seq = 3"), {"d": '{"decision":"allow","why":"x"}'})
    report = store.verify_audit()
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert report.problem is not None and "hash" in report.problem


def test_audit_detects_unreadable_content(store: Store) -> None:
    append_n(store, 3)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET facts = 'not json' WHERE seq = 2"))
    report = store.verify_audit()
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_audit_detects_a_deleted_entry(store: Store) -> None:
    append_n(store, 5)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    report = store.verify_audit()
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert report.problem is not None and "missing seq 3" in report.problem


def test_audit_detects_a_changed_prev_hash(store: Store) -> None:
    append_n(store, 5)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET prev_hash = :h WHERE seq = 4"), {"h": "f" * 64})
    report = store.verify_audit()
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert report.problem is not None and "prev_hash" in report.problem


def test_audit_appends_after_tampering_still_link(store: Store) -> None:
    """A new entry links to the stored last hash; verify still points at the tampered one."""
    append_n(store, 2)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET org = 'evil' WHERE seq = 1"))
    append_n(store, 1)
    assert store.verify_audit().first_bad_seq == 1


def test_audit_rejects_non_json(store: Store) -> None:
    with pytest.raises(ValueError):
        store.append_audit(at=T0, org="acme", request={"x": float("nan")}, facts={}, decision={}, law_date=T0.date())
    with pytest.raises(ValueError):
        store.append_audit(at=T0, org="acme", request={}, facts={}, decision={}, law_date=T0)
    assert count(store, audit_log) == 0


@pytest.mark.parametrize("literal_rows", [audit.LITERAL_ROWS, 0])
def test_audit_texts_come_back_as_written(store: Store, literal_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quotes, backslashes, percent signs, semicolons, newlines and non-ASCII text in an entry come
    back byte for byte (PostgreSQL binds a few rows' values into the statement's text on the client,
    more on the server: both ways here)."""
    monkeypatch.setattr(audit, "LITERAL_ROWS", literal_rows)
    awkward = 'it\'s \\ 100% %s %(seq)s; COMMIT; -- é\n\t"q" 𝄞'
    store.append_audit(
        at=T0, org=awkward, request={"to": awkward}, facts={awkward: [awkward]}, decision={}, law_date=T0.date()
    )
    (entry,) = store.audit_entries(0, 10)
    assert (entry["org"], entry["request"], entry["facts"]) == (awkward, {"to": awkward}, {awkward: [awkward]})
    assert store.verify_audit().ok


@pytest.mark.parametrize("literal_rows", [audit.LITERAL_ROWS, 0])
def test_an_audit_append_that_collides_retries_on_a_clean_connection(
    store: Store, literal_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append whose seq another appender took (IntegrityError) is rolled back and tried again: the
    chain stays whole, and the connection serves the next appends and reads."""
    monkeypatch.setattr(audit, "LITERAL_ROWS", literal_rows)
    append_n(store, 2)
    chained, collided = audit._chained, []

    def colliding(last: Any, org_last: dict[str, int], entries: Any) -> Any:
        rows, seqs = chained(last, org_last, entries)
        if not collided:  # the first time only: as if it had read the trail before the last append
            collided.append(True)
            rows[0]["seq"] -= 1
        return rows, seqs

    monkeypatch.setattr(audit, "_chained", colliding)
    store.append_audit(at=T0, org="acme", request={"n": 3}, facts={}, decision={}, law_date=T0.date())
    assert collided
    append_n(store, 2)
    report = store.verify_audit()
    assert (report.ok, report.checked) == (True, 5)


def test_concurrent_audit_appends_keep_one_chain(store: Store) -> None:
    """Threads on one engine and on a second engine (as another process would) never fork the chain."""
    concurrent_appends(store)


@pytest.mark.postgres
def test_concurrent_audit_appends_under_a_repeatable_read_default(pg_url: str) -> None:
    """A database whose sessions default to REPEATABLE READ: the appends still read the heads after
    the lock (their transactions say READ COMMITTED), so none collides and none fails."""
    isolation = "%20-cdefault_transaction_isolation%3Drepeatable%5C%20read"
    with Store.open(pg_url + isolation) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW default_transaction_isolation").scalar_one() == "repeatable read"
        concurrent_appends(store)


def concurrent_appends(store: Store) -> None:
    threads_per_store, per_thread = 4, 15
    errors: list[BaseException] = []
    with Store(store.url) as second:
        barrier = threading.Barrier(2 * threads_per_store)

        def worker(target: Store, name: str) -> None:
            try:
                barrier.wait()
                for i in range(per_thread):
                    target.append_audit(at=T0, org=name, request={"i": i}, facts={}, decision={}, law_date=T0.date())
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=(target, f"{n}-{k}"))
            for n, target in enumerate((store, second))
            for k in range(threads_per_store)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    total = 2 * threads_per_store * per_thread
    report = store.verify_audit()
    assert (report.ok, report.checked) == (True, total)
    with store.engine.connect() as conn:
        seqs = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars().all()
    assert seqs == list(range(1, total + 1))


def test_read_facts_of_one_number_is_read_facts_many(store: Store) -> None:
    """The service's one-statement read of a number gives what the batch read gives, in the same order."""
    from datetime import date, timedelta

    from prospectguard.store.connect import read_tx
    from prospectguard.store.facts import read_facts, read_facts_many

    org = store.org_id("acme")
    other = store.org_id("other")  # never given settings: the defaults
    store.set_org(
        org, caller_numbers=["+33162000009"], policies={"POLICY_SMS_QUIET_HOURS": False}, at=T0 - timedelta(days=1)
    )
    store.set_org(org, caller_numbers=["+33162000001"], sms_senders=["ACME"], at=T0)  # the latest row wins
    for i, when in enumerate([T0 - timedelta(days=40), T0 - timedelta(days=3), T0 - timedelta(days=3)]):
        store.add_consent(org, NUM, **consent_kwargs(collected_at=when, channel=["all", "sms", "voice"][i]))
        store.record_attempt(org, NUM, at=when, channel="voice", outcome="no_answer")
    store.add_consent(
        org,
        NUM,
        **consent_kwargs(collected_at=T0 - timedelta(days=1), expires_at=T0 + timedelta(days=9)),
        slot_start=T0 + timedelta(hours=1),
        slot_end=T0 + timedelta(hours=2),
    )
    store.withdraw_consent(org, NUM, at=T0 - timedelta(days=2), source="web")
    store.add_opposition(org, NUM, at=T0 - timedelta(days=5), source="gdpr")
    store.remove_opposition(org, NUM, at=T0 - timedelta(days=4))
    store.add_contract(org, NUM, object="Box", start=T0 - timedelta(days=300), end=T0 + timedelta(days=30))
    store.record_attempt(org, NUM, at=T0 - timedelta(days=100), channel="voice", outcome="refused")  # out of window
    store.record_attempt(other, NUM, at=T0 - timedelta(days=1), channel="voice", outcome="refused")  # not ours
    store.import_bloctel(org, [NUM], as_of=date(2026, 7, 1), file_sha256="a" * 64)
    with read_tx(store.engine) as conn:
        for number in (NUM, "+33699999999"):
            for at in (T0, T0 - timedelta(days=200)):  # before the Bloctel snapshot: no snapshot in force
                base, found = read_facts_many(conn, org, [number], at)
                expected = found.get(number, base)
                assert read_facts(conn, org, number, at) == expected
                # The service's read, on the driver's cursor (store/compiled.py): the same facts, and the
                # same audit text (instants aware and in UTC, flags as booleans, settings as sets).
                fast = store.facts(org, number, at)
                assert fast == expected
                assert fast.to_json() == expected.to_json()
        assert read_facts(conn, org, NUM, T0).bloctel is not None and read_facts(conn, org, NUM, T0).bloctel.listed
        assert len(read_facts(conn, org, NUM, T0).attempts) == 3
        assert read_facts(conn, org, NUM, T0).org == store.org_settings(org)
        assert store.org_settings(org).caller_numbers == {"+33162000001"}
        assert store.org_settings(org).policies_off == {"POLICY_SMS_QUIET_HOURS"}
        base, found = read_facts_many(conn, other, [NUM], T0)
        assert store.facts(other, NUM, T0) == read_facts(conn, other, NUM, T0) == found[NUM]
        assert found[NUM].org == OrgSettings(name="other") and found[NUM].bloctel.as_of is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(request=_JSON, facts=_JSON, decision=_JSON, org=st.text(max_size=8), seq=st.integers(1, 10**9))
@settings(max_examples=300, deadline=None)
def test_hash_from_texts_is_the_hash_verify_makes(request: Any, facts: Any, decision: Any, org: str, seq: int) -> None:
    """Appending hashes the canonical texts as they are; verify hashes what it parses back."""
    from prospectguard.store.audit import Entry, entry_hash, text_hash

    at = datetime(2026, 12, 1, 10, 0, 5, 123, tzinfo=PARIS)
    entry = Entry.of(at=at, org=org, request=request, facts=facts, decision=decision, law_date=date(2026, 12, 1))
    parsed = {k: json.loads(v) for k, v in entry.texts.items()}
    expected = entry_hash("f" * 64, seq=seq, at=at, org=org, law_date=date(2026, 12, 1), **parsed)
    assert text_hash("f" * 64, seq=seq, at=at, org=org, law_date=date(2026, 12, 1), texts=entry.texts) == expected


def test_migration_0003_numbers_existing_entries_per_organisation(store: Store) -> None:
    """Entries written before 0003 get their place among their organisation's entries; the chain
    still verifies, and new entries continue each organisation's numbering."""
    from alembic import command

    from prospectguard.store.connect import write_tx
    from prospectguard.store.migrate import alembic_config

    for org in ("a", "b", "a", "a", "b"):
        store.append_audit(at=T0, org=org, request={}, facts={}, decision={}, law_date=T0.date())

    def migrate(step: Callable[..., None], target: str) -> None:
        with write_tx(store.engine) as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            step(config, target)

    migrate(command.downgrade, "0002")
    migrate(command.upgrade, "0003")
    assert [(e["org"], e["org_seq"]) for e in store.audit_entries(0, 10)] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
        ("b", 2),
    ]
    assert store.verify_audit().ok
    store.append_audit(at=T0, org="b", request={}, facts={}, decision={}, law_date=T0.date())
    assert [e["n"] for e in store.org_audit_entries("b")] == [1, 2, 3]
    assert store.audit_head("b")[0] == 3


def test_the_check_statement_stays_in_psycopgs_query_cache() -> None:
    """psycopg caches its parse of a statement's text only up to 4,096 characters; beyond, it parsed
    the check's statement again at every check (~6% of its CPU). Its text must stay under."""
    from psycopg import _queries

    from prospectguard.store.compiled import Compiled
    from prospectguard.store.connect import create_store_engine
    from prospectguard.store.facts import ONE_NUMBER

    engine = create_store_engine("postgresql://nobody@127.0.0.1:1/none")  # the store's dialect; no connection
    sql = Compiled(ONE_NUMBER, engine.dialect).sql
    assert "::" in sql  # psycopg's dialect, which casts its parameters
    assert len(sql) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_an_in_memory_store_never_reads_another_threads_uncommitted_writes() -> None:
    """In-memory SQLite has one connection for every thread: a check's read while another thread's
    write transaction is open must not see its rows (they may yet be rolled back). It fails closed
    instead (StoreUnavailable), and reads what was committed once the writer is done."""
    from sqlalchemy import insert

    from prospectguard.store.schema import opposition_events

    store = Store.open("sqlite://")
    org = store.org_id("acme")
    started, done = threading.Event(), threading.Event()

    def writer() -> None:
        with contextlib.suppress(RuntimeError), store._statements.write() as (run, _):
            row = {"org_id": org, "e164": NUM, "at": T0, "active": True, "source": "manual", "recorded_at": T0}
            run(insert(opposition_events).values(**row), {})
            started.set()
            done.wait(10)
            raise RuntimeError("rolled back")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(10)
        with pytest.raises(StoreUnavailable):
            store.facts(org, NUM, T0)
    finally:
        done.set()
        thread.join()
    assert store.facts(org, NUM, T0).oppositions == ()
    store.close()


@pytest.mark.parametrize("literal_rows", [audit.LITERAL_ROWS, 0])
def test_an_audit_batch_that_fails_midway_writes_nothing(
    store: Store, literal_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 20 whose 15th row collides every time: after the retries, none of its rows is in
    the trail, no lock is left held, and the next appends chain on as if it had never been tried."""
    monkeypatch.setattr(audit, "LITERAL_ROWS", literal_rows)
    append_n(store, 2)
    chained = audit._chained

    def colliding(last: Any, org_last: dict[str, int], entries: Any) -> Any:
        rows, seqs = chained(last, org_last, entries)
        if len(rows) == 20:
            rows[14]["seq"] = rows[0]["seq"] - 1  # the last entry's seq, already taken
        return rows, seqs

    monkeypatch.setattr(audit, "_chained", colliding)
    batch = [
        audit.Entry.of(at=T0, org="acme", request={"n": i}, facts={}, decision={}, law_date=T0.date())
        for i in range(20)
    ]
    with pytest.raises(store.engine.dialect.loaded_dbapi.IntegrityError):  # the driver's, once retries run out
        store.append_audit_many(batch)
    assert len(store.audit_entries(0, 100)) == 2
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            held = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").scalar_one()
        assert held == 0
    append_n(store, 2)
    report = store.verify_audit()
    assert (report.ok, report.checked) == (True, 4)


def test_facts_of_many_numbers_read_in_chunks_are_each_numbers_facts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch read takes its numbers a chunk at a time (an IN list on SQLite, an array on
    PostgreSQL): with chunks of 2, seven numbers with and without history, and another
    organisation's rows on the same numbers, each number's facts are its single read's."""
    from prospectguard.store import facts as facts_module

    monkeypatch.setattr(facts_module, "IN_BATCH", 2)
    org, other = store.org_id("acme"), store.org_id("other")
    numbers = [f"+3361234567{i}" for i in range(7)]
    for i, number in enumerate(numbers):
        if i % 2:
            store.add_consent(org, number, **consent_kwargs(collected_at=T0 - timedelta(days=i)))
        if i % 3 == 0:
            store.record_attempt(org, number, at=T0 - timedelta(days=1), channel="voice", outcome="no_answer")
        store.add_opposition(other, number, at=T0 - timedelta(days=2), source="manual")
    store.import_bloctel(org, numbers[2:4], as_of=date(2026, 7, 1), file_sha256="b" * 64)
    base, found = store.facts_many(org, numbers, T0)
    assert {n: found.get(n, base) for n in numbers} == {n: store.facts(org, n, T0) for n in numbers}
    assert len(found) >= 5
