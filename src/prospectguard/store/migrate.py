"""Schema migrations, run from code: `Store.open()` upgrades to head on start.

No alembic.ini: the configuration is built here, and the upgrade runs on the caller's connection in
one write transaction under a lock (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE), so several
processes starting at once do not race to create the same tables. At head it only looks the
version table up and reads it, and Alembic is not even imported: that import was a tenth of a
second of every CLI command (a scrub of ten million rows takes nine).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from prospectguard.store.connect import unavailable_on_failure, write_tx

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision: a test holds it equal to the heads Alembic finds in MIGRATIONS_DIR,
# so a new migration without this line changed fails it.
HEAD = "0003"
# Arbitrary constant shared by every process migrating the same PostgreSQL database.
_PG_MIGRATION_LOCK = 0x70677374_6F726501  # "pgstore" 1


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config without a file; `url` is only needed for offline (`--sql`) use."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(conn: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())


def at_head(conn: Connection) -> bool:
    """Whether the database's version table names HEAD alone (what Alembic's own reading gives, a test
    holds them equal), without importing Alembic."""
    if not inspect(conn).has_table("alembic_version"):
        return False
    return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == {HEAD}


def upgrade(engine: Engine) -> None:
    """Bring the database to the head revision; a no-op (two small reads) when it is already there."""
    with unavailable_on_failure(), engine.connect() as conn:
        if at_head(conn):
            return
    from alembic import command

    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
