"""Column types shared by the evidence tables.

Every instant is evidence, so it must mean one thing on every backend: UTC. SQLite has no time zone
type (it stores text), PostgreSQL returns `timestamptz` in the session's zone; `UTCDateTime` hides
both differences and refuses naive datetimes, whose meaning would depend on the server's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return `value` in UTC; raise ValueError when it is naive (its instant would be a guess)."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC; read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = require_aware(value)
        # SQLite's DATETIME text drops the offset anyway: store the UTC wall time, explicitly.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
