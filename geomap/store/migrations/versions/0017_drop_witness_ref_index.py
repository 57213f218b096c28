"""Drop ix_testimonies_witness_ref: no query looks a testimony up by its witness reference.

Witnesses are counted through the covering index (tier, witness_ref, synthetic, minx) of 0004
and grouped in Python; this index was only ever written. Its keys are keyed HMACs, so every
insert landed on a random page of it: dropping it takes ~10 % off storing a 100,000-row import
(bench/intake.py) and nothing off any read.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_testimonies_witness_ref", table_name="testimonies")


def downgrade() -> None:
    op.create_index("ix_testimonies_witness_ref", "testimonies", ["witness_ref"])
