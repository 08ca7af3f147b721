"""Shared fixtures: a `store` on SQLite and on PostgreSQL.

PostgreSQL: 127.0.0.1:5432, trust auth, user root or postgres, database `test` (override with
PROSPECTGUARD_TEST_PG_URL). Each test gets a fresh schema, dropped afterwards. When the server does
not answer, the PostgreSQL tests skip, except under CI=true, where they fail: CI must prove both
backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from prospectguard.store import Store

PG_CANDIDATES = (
    "postgresql+psycopg://root@127.0.0.1:5432/test",
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
)


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A PostgreSQL URL that answers; skip (or fail under CI=true) when none does."""
    override = os.environ.get("PROSPECTGUARD_TEST_PG_URL")
    candidates = (override,) if override else PG_CANDIDATES
    errors = []
    for url in candidates:
        engine = _admin_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url
        except SQLAlchemyError as exc:
            errors.append(f"{url}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    message = "PostgreSQL is not reachable, PostgreSQL tests not run:\n  " + "\n  ".join(errors)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "\n(CI=true: the PostgreSQL backend must be tested)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh schema; the URL puts it first on the search path. Given as plain postgresql:// on purpose."""
    schema = f"test_store_{uuid.uuid4().hex[:12]}"  # "pg_" is reserved by PostgreSQL
    admin = _admin_engine(pg_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = pg_admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '10s'"))  # a leaked open transaction must not hang the run
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened
