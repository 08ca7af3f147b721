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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# --- the HTTP service --------------------------------------------------------------------------

NPV_CALLER = "+33162000001"


@dataclass
class Tenant:
    name: str
    org_id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Api:
    """The service in-process (Starlette's TestClient over its ASGI app) on a real store."""

    client: Any
    store: Store
    tenants: dict[str, Tenant] = field(default_factory=dict)

    def tenant(self, name: str, scopes: tuple[str, ...] = ("admin",)) -> Tenant:
        """An organisation with a key; its declared caller number is the NPV the tests call from."""
        from datetime import UTC, datetime

        org_id = self.store.org_id(name)
        if name not in self.tenants:
            self.store.set_org(org_id, caller_numbers=[NPV_CALLER], at=datetime(2026, 1, 1, tzinfo=UTC))
        made = Tenant(name, org_id, self.store.create_key(org_id, scopes, "test"))
        self.tenants.setdefault(name, made)
        return made

    def post(self, path: str, tenant: Tenant, body: Any) -> Any:
        return self.client.post(path, json=body, headers=tenant.headers)

    def get(self, path: str, tenant: Tenant, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=tenant.headers)


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from prospectguard.service.app import create_app

    with TestClient(create_app(store, key_cache_seconds=0)) as client:
        yield Api(client, store)
