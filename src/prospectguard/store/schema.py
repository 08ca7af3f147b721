"""The evidence tables (SQLAlchemy Core).

History is append-only: a withdrawal, a removal or a new setting is a new row, never an UPDATE, so
any past decision can be replayed from what was known then (RGPD art. 7, rule G2). Every row
carries `recorded_at`, the instant it was written, next to the instant it speaks about.

This module is the current shape; `migrations/versions/` holds the hand-written, reviewed steps
that build it (a test checks that they agree).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from prospectguard.store.types import UTCDateTime

CONSENT_CHANNELS = ("voice", "sms", "all")
ATTEMPT_CHANNELS = ("voice", "sms")
OPPOSITION_SOURCES = ("call_objection", "stop", "gdpr", "import", "manual", "removal")
E164_LENGTH = 16  # "+" and at most 15 digits (ITU-T E.164)
SHA256_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _recorded_at() -> Column[datetime]:
    return Column("recorded_at", UTCDateTime(), nullable=False, default=utcnow)


def _org_id() -> Column[int]:
    return Column("org_id", Integer, ForeignKey("organisations.id"), nullable=False)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    _recorded_at(),
    UniqueConstraint("name"),
)

# Append-only: the row with the highest id is the organisation's current settings.
org_settings = Table(
    "org_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("at", UTCDateTime(), nullable=False),
    Column("caller_numbers", JSON, nullable=False),  # sorted list of E.164
    Column("sms_senders", JSON, nullable=False),  # sorted list of sender names
    Column("policies_off", JSON, nullable=False),  # sorted list of policy reason codes switched off
    _recorded_at(),
    Index(None, "org_id", "id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("e164", String(E164_LENGTH), nullable=False),
    Column("collected_at", UTCDateTime(), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("method", String, nullable=False),
    Column("proof_text", Text, nullable=True),
    Column("proof_file_name", String, nullable=True),
    # Proof (A3): the hash of the text shown or of the file's bytes; the file itself is kept elsewhere.
    Column("proof_sha256", String(SHA256_LENGTH), nullable=False),
    Column("slot_start", UTCDateTime(), nullable=True),  # agreed date and time (A7)
    Column("slot_end", UTCDateTime(), nullable=True),
    _recorded_at(),
    CheckConstraint(_in("channel", CONSENT_CHANNELS), name="channel"),
    Index(None, "org_id", "e164"),
)

consent_withdrawals = Table(
    "consent_withdrawals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("e164", String(E164_LENGTH), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("source", String, nullable=False),
    _recorded_at(),
    Index(None, "org_id", "e164"),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("e164", String(E164_LENGTH), nullable=False),
    Column("object", String, nullable=False),
    Column("start", UTCDateTime(), nullable=False),
    Column("end", UTCDateTime(), nullable=True),
    _recorded_at(),
    Index(None, "org_id", "e164"),
)

# active=True adds an opposition, active=False (source "removal") lifts it; the latest event wins.
opposition_events = Table(
    "opposition_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("e164", String(E164_LENGTH), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    _recorded_at(),
    CheckConstraint(_in("source", OPPOSITION_SOURCES), name="source"),
    Index(None, "org_id", "e164"),
)

bloctel_snapshots = Table(
    "bloctel_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("as_of", Date, nullable=False),
    Column("file_sha256", String(SHA256_LENGTH), nullable=False),
    Column("count", Integer, nullable=False),
    _recorded_at(),
    Index(None, "org_id", "as_of"),
)

# Millions of rows per snapshot: no recorded_at of their own, the snapshot row carries it (same
# transaction); the primary key is the (snapshot, number) look-up.
bloctel_numbers = Table(
    "bloctel_numbers",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("bloctel_snapshots.id"), nullable=False),
    Column("e164", String(E164_LENGTH), nullable=False),
    PrimaryKeyConstraint("snapshot_id", "e164"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("e164", String(E164_LENGTH), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("idempotency_key", String, nullable=True),
    _recorded_at(),
    CheckConstraint(_in("channel", ATTEMPT_CHANNELS), name="channel"),
    UniqueConstraint("org_id", "idempotency_key"),
    Index(None, "org_id", "e164", "at"),
)

# The outcome of a reserved attempt (`POST /v1/check` with `reserve`), reported once the call ends:
# a row of its own, so that the attempt row (written when the check allowed it) is never changed.
attempt_outcomes = Table(
    "attempt_outcomes",
    metadata,
    Column("attempt_id", Integer, ForeignKey("attempts.id"), primary_key=True),
    Column("outcome", String(16), nullable=False),
    _recorded_at(),
)

# The first answer to a check made with an idempotency key (e.g. the SIP Call-ID): a retry gets it
# back, and a reserved attempt is not counted twice. `request_sha256` tells a retry from a reuse.
check_answers = Table(
    "check_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("idempotency_key", String, nullable=False),
    Column("request_sha256", String(SHA256_LENGTH), nullable=False),
    Column("answer", Text, nullable=False),  # JSON, as returned
    Column("attempt_id", Integer, ForeignKey("attempts.id"), nullable=True),
    _recorded_at(),
    UniqueConstraint("org_id", "idempotency_key"),
)

# API keys: only their sha256 is kept (the key itself is shown once, at creation). A key belongs to
# one organisation and carries scopes; revoking sets `revoked_at`, the row stays as evidence.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _org_id(),
    Column("prefix", String(16), nullable=False),  # shown in listings, to tell keys apart
    Column("key_sha256", String(SHA256_LENGTH), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("label", String, nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    _recorded_at(),
    UniqueConstraint("key_sha256"),
)

# The decision trail: a hash chain, seq contiguous from 1 (see audit.py).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("org", String, nullable=False),
    Column("request", Text, nullable=False),  # canonical JSON
    Column("facts", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("law_date", Date, nullable=False),
    Column("prev_hash", String(SHA256_LENGTH), nullable=False),
    Column("hash", String(SHA256_LENGTH), nullable=False),
    _recorded_at(),
    # The entry's place among its organisation's entries, from 1: what an organisation pages by.
    Column("org_seq", Integer, nullable=False),
    UniqueConstraint("org", "org_seq"),
)
