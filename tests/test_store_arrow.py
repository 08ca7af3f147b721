"""The history of an organisation as Arrow tables (`store/arrow.py`), on SQLite and PostgreSQL.

ADBC (the fast path) and SQLAlchemy (the fallback) must return the same rows and values: the same
instants to the microsecond, flags, ids; attempts cut 90 days before the instant; the Bloctel numbers
of the snapshot in force only; another organisation's history never.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from prospectguard.store import Store
from prospectguard.store import arrow as store_arrow

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def fill(store: Store) -> int:
    org = store.org_id("acme")
    other = store.org_id("other")
    n1, n2, n3 = "+33612345678", "+262692123456", "+3221234567"
    store.add_consent(
        org, n1, collected_at=AT - timedelta(days=10, microseconds=7), channel="voice", method="web", proof_text="oui"
    )
    store.add_consent(
        org,
        n2,
        collected_at=AT - timedelta(days=400),
        channel="all",
        method="web",
        expires_at=AT + timedelta(days=3),
        proof_text="oui",
        slot_start=AT + timedelta(days=1),
        slot_end=AT + timedelta(days=1, hours=1),
    )
    store.withdraw_consent(org, n1, at=AT - timedelta(days=2), source="stop")
    store.add_opposition(org, n3, at=AT - timedelta(days=5), source="manual")
    store.remove_opposition(org, n3, at=AT - timedelta(days=4))
    store.add_contract(org, n2, object="box", start=AT - timedelta(days=30))
    store.record_attempt(org, n1, at=AT - timedelta(days=1), channel="voice", outcome="refused")
    store.record_attempt(org, n1, at=AT - timedelta(days=91), channel="voice", outcome="no_answer")  # too old
    store.record_attempt(other, n1, at=AT - timedelta(days=1), channel="voice", outcome="answered")
    store.import_bloctel(org, [n1], as_of=date(2026, 11, 1), file_sha256="1" * 64)
    store.import_bloctel(org, [n2], as_of=date(2026, 12, 15), file_sha256="2" * 64)  # after AT: not in force
    return org


def plain(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(t.to_pylist(), key=repr) for name, t in tables.items()}


def test_adbc_and_sqlalchemy_give_the_same_history(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    org = fill(store)
    fast = store.history_tables(org, AT)
    monkeypatch.setattr(store_arrow, "_adbc", lambda engine, params, fetched: False)
    slow = store.history_tables(org, AT)
    assert plain(fast) == plain(slow)
    at_us = int(AT.timestamp() * 1_000_000)
    consents = sorted(fast["consents"].to_pylist(), key=lambda r: r["e164"])
    assert [c["e164"] for c in consents] == ["+262692123456", "+33612345678"]
    assert consents[1]["at"] == at_us - (10 * 86_400_000_000 + 7)  # to the microsecond
    assert consents[0]["expires_at"] == at_us + 3 * 86_400_000_000 and consents[1]["expires_at"] is None
    assert (consents[0]["slot"], consents[1]["slot"]) == (True, False)
    assert all(c["proof"] for c in consents)
    assert [a["outcome"] for a in fast["attempts"].to_pylist()] == ["refused"]  # not 91 days old, not other org
    assert [r["active"] for r in sorted(fast["oppositions"].to_pylist(), key=lambda r: r["at"])] == [True, False]
    assert fast["bloctel"].column("e164").to_pylist() == ["+33612345678"]
    assert fast["contracts"].column("e164").to_pylist() == ["+262692123456"]


def test_adbc_is_used_for_a_store_on_disk(store: Store) -> None:
    org = fill(store)
    params = {
        "org": org,
        "snapshot": -1,
        "expires": "expires_at" if store.url.startswith("postgresql") else "COALESCE(expires_at, '')",
        "org_id": "org_id",
    }
    fetched: list[str] = []
    assert store_arrow._adbc(store.engine, params, lambda name, table: fetched.append(name)) is True
    assert fetched == list(store_arrow.QUERIES)


def test_each_table_comes_with_what_each_makes_of_it(store: Store) -> None:
    """`history_tables_with` hands `each` the normalised table (attempts already cut to the window)."""
    org = fill(store)
    plain_tables = store.history_tables(org, AT)
    seen = store.history_tables_with(org, AT, True, lambda name, table: (name, table.num_rows, table.schema))
    assert list(seen) == list(store_arrow.QUERIES)
    for name, (table, (named, rows, schema)) in seen.items():
        assert table.equals(plain_tables[name])
        assert (named, rows, schema) == (name, table.num_rows, table.schema)
    assert seen["attempts"][1][1] == 1  # the 91-day-old attempt and the other organisation's are out


def test_a_failure_in_each_reaches_the_caller(store: Store) -> None:
    org = fill(store)

    def each(name: str, table: pa.Table) -> None:
        if name == "oppositions":
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.history_tables_with(org, AT, True, each)


def test_the_tables_are_read_on_one_state_of_the_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write committed after the first table is read (consents) is seen in none of the others."""
    import threading

    org = fill(store)
    before = plain(store.history_tables(org, AT))
    new = "+33699999999"

    def write() -> None:
        store.add_opposition(org, new, at=AT - timedelta(days=1), source="manual")

    def between() -> None:
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=15)

    monkeypatch.setattr(store_arrow, "_after_first_table", between)
    during = plain(store.history_tables(org, AT))
    monkeypatch.setattr(store_arrow, "_after_first_table", lambda: None)
    assert new in store.history_tables(org, AT)["oppositions"].column("e164").to_pylist()  # it did land
    assert during == before


def test_reading_the_history_leaves_the_other_connections_working(sqlite_url: str) -> None:
    """ADBC links its own copy of SQLite. Its connection, closing, once deleted the WAL and its index
    from under a connection of Python's sqlite3 left open in the process: that connection's later
    writes went to the deleted file, and a new connection met a disk I/O error."""
    import sqlite3

    with Store.open(sqlite_url) as store:
        org = fill(store)
        path = store.engine.url.database
        assert path
        insert = (
            "INSERT INTO opposition_events (org_id, e164, at, active, source, recorded_at)"
            " VALUES (?, ?, '2026-11-30 10:00:00.000000', 1, 'manual', '2026-11-30 10:00:00.000000')"
        )
        other = sqlite3.connect(path, isolation_level=None)  # open across the read, as a pooled one was
        other.execute(insert, (org, "+33699999997"))  # in the WAL, not yet checkpointed
        store.history_tables(org, AT)
        other.execute(insert, (org, "+33699999998"))
        other.close()
        fresh = sqlite3.connect(path)
        found = fresh.execute("SELECT e164 FROM opposition_events WHERE e164 LIKE '+336999999%'").fetchall()
        fresh.close()
        assert sorted(found) == [("+33699999997",), ("+33699999998",)]
        assert "+33699999998" in store.history_tables(org, AT)["oppositions"].column("e164").to_pylist()
