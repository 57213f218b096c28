"""Imagery annotations (issue 13): points, lines and polygons drawn on one scene, every version
kept (a delete is a tombstone version), and a site's geometry confirmed on imagery.

Portable tables on both backends: annotations are read by scene (or site), never by a map
viewport, so they need no R*Tree or GiST index; the bbox columns are there for exports.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _bbox() -> list[sa.Column]:
    return [sa.Column(n, sa.Float) for n in ("minx", "miny", "maxx", "maxy")]


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scene_id", sa.String(32), sa.ForeignKey("scenes.id"), nullable=False),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *_bbox(),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("change", sa.String(12)),
        sa.Column("change_scene_id", sa.String(32), sa.ForeignKey("scenes.id")),
        sa.Column("length_m", sa.Float),
        sa.Column("area_m2", sa.Float),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_annotations_scene", "annotations", ["scene_id", "deleted"])
    op.create_index("ix_annotations_site", "annotations", ["site_id"])
    op.create_table(
        "annotation_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("scene_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.Integer),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("note_enc", sa.LargeBinary),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("change", sa.String(12)),
        sa.Column("change_scene_id", sa.String(32)),
        sa.Column("length_m", sa.Float),
        sa.Column("area_m2", sa.Float),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("annotation_id", "version", name="uq_annotation_version"),
    )
    op.create_table(
        "site_imagery_geometry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id"), nullable=False),
        sa.Column("annotation_version", sa.Integer, nullable=False),
        sa.Column("scene_id", sa.String(32), nullable=False),
        sa.Column("acquired", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        sa.Column("area_m2", sa.Float),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_site_imagery_geometry_site", "site_imagery_geometry",
                    ["site_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_site_imagery_geometry_site", table_name="site_imagery_geometry")
    op.drop_table("site_imagery_geometry")
    op.drop_table("annotation_versions")
    op.drop_index("ix_annotations_site", table_name="annotations")
    op.drop_index("ix_annotations_scene", table_name="annotations")
    op.drop_table("annotations")
