"""Import quarantine (rows that did not fit, kept encrypted with their reasons) and a status for
import batches (running / done / interrupted).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_batches", sa.Column("status", sa.String(16), nullable=False,
                                              server_default="done"))
    op.add_column("import_batches", sa.Column("actor", sa.String(64)))
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batches.id", ondelete="SET NULL")),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False),
        sa.Column("raw_enc", sa.LargeBinary, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_quarantine_source", "quarantine", ["source", "row_number"])


def downgrade() -> None:
    op.drop_table("quarantine")
    with op.batch_alter_table("import_batches") as batch:
        batch.drop_column("actor")
        batch.drop_column("status")
