"""Each audit entry's place among its organisation's entries (`org_seq`, from 1).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

The chain stays one chain (the hash of an entry covers the previous entry, whatever its
organisation). `org_seq` lets an organisation page through its own entries without the global
`seq`, whose gaps would count the other organisations' decisions. Existing entries are numbered in
seq order; batch mode rebuilds the table on SQLite to make the column NOT NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("org_seq", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE audit_log SET org_seq = numbered.n FROM"
        " (SELECT seq, ROW_NUMBER() OVER (PARTITION BY org ORDER BY seq) AS n FROM audit_log) AS numbered"
        " WHERE audit_log.seq = numbered.seq"
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("org_seq", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_audit_log_org_org_seq", ["org", "org_seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_org_org_seq", type_="unique")
        batch.drop_column("org_seq")
