"""Schema migrations, run from code: `Store.open()` upgrades to head on start.

No alembic.ini: the configuration is built here, and the upgrade runs on the caller's connection in
one write transaction under a lock (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE), so several
processes starting at once do not race to create the same tables. At head it only reads the
version table.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from prospectguard.store.connect import unavailable_on_failure, write_tx

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant shared by every process migrating the same PostgreSQL database.
_PG_MIGRATION_LOCK = 0x70677374_6F726501  # "pgstore" 1


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config without a file; `url` is only needed for offline (`--sql`) use."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Bring the database to the head revision; a no-op (one read) when it is already there."""
    heads = head_revisions()
    with unavailable_on_failure(), engine.connect() as conn:
        if current_revisions(conn) == heads:
            return
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
