"""The evidence store: append-only facts about contacts, and the hash-chained audit trail.

SQLAlchemy Core over SQLite (the default, one file) or PostgreSQL (shared). Import `Store` from here;
the submodules are the implementation.
"""

from prospectguard.store.api import Store
from prospectguard.store.audit import AuditReport
from prospectguard.store.connect import DEFAULT_URL
from prospectguard.store.errors import StoreUnavailable

__all__ = ["DEFAULT_URL", "AuditReport", "Store", "StoreUnavailable"]
