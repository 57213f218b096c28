"""Geocoding of testimonies that name a place without coordinates: where a location came from
(reported by the witness or geocoded from the name), and the names left for a person to decide.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("testimonies", sa.Column("location_source", sa.String(16), nullable=False,
                                           server_default="reported"))
    op.add_column("testimonies", sa.Column("geocode_note", sa.Text))
    op.create_table(
        "geocode_review",
        sa.Column("testimony_id", sa.Integer,
                  sa.ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("geocode_review")
    with op.batch_alter_table("testimonies") as batch:
        batch.drop_column("geocode_note")
        batch.drop_column("location_source")
