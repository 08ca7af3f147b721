"""The HTTP service's tables: API keys, idempotent check answers, outcomes of reserved attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Hand-written and reviewed, types spelled out as in 0001.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHA256 = sa.String(64)


def _instant(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=f"fk_{table}_org_id_organisations")


def upgrade() -> None:
    op.create_table(
        "attempt_outcomes",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("attempt_id", name="pk_attempt_outcomes"),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name="fk_attempt_outcomes_attempt_id_attempts"),
    )
    op.create_table(
        "check_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("request_sha256", SHA256, nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_check_answers"),
        _org_fk("check_answers"),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name="fk_check_answers_attempt_id_attempts"),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_check_answers_org_id_idempotency_key"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_sha256", SHA256, nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(), nullable=True),
        _instant("revoked_at", nullable=True),
        _instant("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        _org_fk("api_keys"),
        sa.UniqueConstraint("key_sha256", name="uq_api_keys_key_sha256"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("check_answers")
    op.drop_table("attempt_outcomes")
