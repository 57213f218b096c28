"""Testimonies carry their violation codes in a column too (comma-separated, sorted), so map
queries read one table; testimony_violations stays the index used for filtering.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("testimonies") as batch:
        batch.add_column(sa.Column("violations", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    codes: dict[int, list[str]] = {}
    for tid, v in conn.execute(sa.text(
            "SELECT testimony_id, violation FROM testimony_violations ORDER BY violation")):
        codes.setdefault(tid, []).append(v)
    if codes:
        conn.execute(sa.text("UPDATE testimonies SET violations = :v WHERE id = :id"),
                     [{"id": k, "v": ",".join(v)} for k, v in codes.items()])


def downgrade() -> None:
    with op.batch_alter_table("testimonies") as batch:
        batch.drop_column("violations")
