"""Initial evidence schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Hand-written and reviewed. Types are spelled out here rather than imported from `schema.py`, so this
step keeps building the same tables when the schema evolves. `sa.DateTime(timezone=True)` is what
`UTCDateTime` stores: text in UTC on SQLite, `timestamptz` on PostgreSQL.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

E164 = sa.String(16)
SHA256 = sa.String(64)


def _instant(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=f"fk_{table}_org_id_organisations")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("name", name="uq_organisations_name"),
    )

    op.create_table(
        "org_settings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        _instant("at"),
        sa.Column("caller_numbers", sa.JSON(), nullable=False),
        sa.Column("sms_senders", sa.JSON(), nullable=False),
        sa.Column("policies_off", sa.JSON(), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_org_settings"),
        _org_fk("org_settings"),
    )
    op.create_index("ix_org_settings_org_id_id", "org_settings", ["org_id", "id"])

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        _instant("collected_at"),
        sa.Column("channel", sa.String(8), nullable=False),
        _instant("expires_at", nullable=True),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("proof_text", sa.Text(), nullable=True),
        sa.Column("proof_file_name", sa.String(), nullable=True),
        sa.Column("proof_sha256", SHA256, nullable=False),
        _instant("slot_start", nullable=True),
        _instant("slot_end", nullable=True),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        _org_fk("consents"),
        sa.CheckConstraint("channel IN ('voice', 'sms', 'all')", name="ck_consents_channel"),
    )
    op.create_index("ix_consents_org_id_e164", "consents", ["org_id", "e164"])

    op.create_table(
        "consent_withdrawals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        _instant("at"),
        sa.Column("source", sa.String(), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_consent_withdrawals"),
        _org_fk("consent_withdrawals"),
    )
    op.create_index("ix_consent_withdrawals_org_id_e164", "consent_withdrawals", ["org_id", "e164"])

    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        sa.Column("object", sa.String(), nullable=False),
        _instant("start"),
        _instant("end", nullable=True),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_contracts"),
        _org_fk("contracts"),
    )
    op.create_index("ix_contracts_org_id_e164", "contracts", ["org_id", "e164"])

    op.create_table(
        "opposition_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        _instant("at"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_opposition_events"),
        _org_fk("opposition_events"),
        sa.CheckConstraint(
            "source IN ('call_objection', 'stop', 'gdpr', 'import', 'manual', 'removal')",
            name="ck_opposition_events_source",
        ),
    )
    op.create_index("ix_opposition_events_org_id_e164", "opposition_events", ["org_id", "e164"])

    op.create_table(
        "bloctel_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("file_sha256", SHA256, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_bloctel_snapshots"),
        _org_fk("bloctel_snapshots"),
    )
    op.create_index("ix_bloctel_snapshots_org_id_as_of", "bloctel_snapshots", ["org_id", "as_of"])

    op.create_table(
        "bloctel_numbers",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", "e164", name="pk_bloctel_numbers"),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["bloctel_snapshots.id"], name="fk_bloctel_numbers_snapshot_id_bloctel_snapshots"
        ),
    )

    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("e164", E164, nullable=False),
        _instant("at"),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        _org_fk("attempts"),
        sa.CheckConstraint("channel IN ('voice', 'sms')", name="ck_attempts_channel"),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_attempts_org_id_idempotency_key"),
    )
    op.create_index("ix_attempts_org_id_e164_at", "attempts", ["org_id", "e164", "at"])

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        _instant("at"),
        sa.Column("org", sa.String(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("law_date", sa.Date(), nullable=False),
        sa.Column("prev_hash", SHA256, nullable=False),
        sa.Column("hash", SHA256, nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )


def downgrade() -> None:
    # Dropping these tables would destroy the evidence and the audit trail the law asks us to keep.
    raise NotImplementedError("the initial evidence schema is never downgraded; restore from a backup")
