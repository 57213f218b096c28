"""Initial schema: boundaries, sites, testimonies, violations, synthetic truth, import batches,
and a bbox index per spatial table: on SQLite an R*Tree kept in step by triggers, on
PostgreSQL a PostGIS GiST index on the bbox envelope.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SPATIAL_TABLES = ("boundary_units", "sites", "testimonies")


def _bbox():
    return [sa.Column(n, sa.Float, nullable=True) for n in ("minx", "miny", "maxx", "maxy")]


def upgrade() -> None:
    op.create_table(
        "boundary_units",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("name_ko", sa.Text),
        sa.Column("unit_type", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *_bbox(),
        sa.UniqueConstraint("level", "code", name="uq_boundary_level_code"),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_ko", sa.Text),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("facility_type", sa.String(32), nullable=False),
        sa.Column("facility_type_note", sa.Text),
        sa.Column("geom", sa.LargeBinary),
        sa.Column("perimeter", sa.LargeBinary),
        sa.Column("location_status", sa.String(32), nullable=False),
        sa.Column("precision", sa.String(16), nullable=False),
        sa.Column("period_text", sa.Text),
        sa.Column("period_start", sa.Date),
        sa.Column("period_end", sa.Date),
        sa.Column("status_note", sa.Text),
        sa.Column("precision_note", sa.Text),
        sa.Column("sources", sa.Text),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("admin1_id", sa.Integer,
                  sa.ForeignKey("boundary_units.id", ondelete="SET NULL")),
        sa.Column("admin1_outside", sa.Boolean, nullable=False),
        sa.Column("admin1_distance_m", sa.Float),
        *_bbox(),
    )
    op.create_table(
        "testimonies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("witness_code", sa.String(64), nullable=False),
        sa.Column("interview_date", sa.Date),
        sa.Column("narrative", sa.Text),
        sa.Column("place_text", sa.Text),
        sa.Column("geom", sa.LargeBinary),
        sa.Column("radius_m", sa.Float),
        sa.Column("precision", sa.String(16)),
        sa.Column("period_text", sa.Text),
        sa.Column("period_start", sa.Date),
        sa.Column("period_end", sa.Date),
        sa.Column("relationship", sa.String(32)),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("admin1_id", sa.Integer,
                  sa.ForeignKey("boundary_units.id", ondelete="SET NULL")),
        sa.Column("admin1_outside", sa.Boolean, nullable=False),
        sa.Column("admin1_distance_m", sa.Float),
        *_bbox(),
    )
    op.create_index("ix_testimonies_witness", "testimonies", ["witness_code"])
    op.create_index("ix_testimonies_period", "testimonies", ["period_start", "period_end"])
    op.create_table(
        "testimony_violations",
        sa.Column("testimony_id", sa.Integer,
                  sa.ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("violation", sa.String(32), primary_key=True),
    )
    op.create_index("ix_testimony_violations_violation", "testimony_violations",
                    ["violation", "testimony_id"])
    op.create_table(
        "synthetic_truth",
        sa.Column("testimony_id", sa.Integer,
                  sa.ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("report", sa.Text),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in SPATIAL_TABLES:
            _sqlite_rtree(t)
    elif dialect == "postgresql":
        for t in SPATIAL_TABLES:
            _postgis_gist(t)


def _sqlite_rtree(t: str) -> None:
    # R*Tree stores 32-bit floats rounded outwards: a candidate filter, never the final answer.
    op.execute(f"CREATE VIRTUAL TABLE {t}_rtree USING rtree(id, minx, maxx, miny, maxy)")
    op.execute(f"""
        CREATE TRIGGER {t}_rtree_ins AFTER INSERT ON {t} WHEN new.minx IS NOT NULL BEGIN
          INSERT INTO {t}_rtree VALUES (new.id, new.minx, new.maxx, new.miny, new.maxy);
        END""")
    op.execute(f"""
        CREATE TRIGGER {t}_rtree_upd AFTER UPDATE OF minx, miny, maxx, maxy ON {t} BEGIN
          DELETE FROM {t}_rtree WHERE id = old.id;
          INSERT INTO {t}_rtree SELECT new.id, new.minx, new.maxx, new.miny, new.maxy
            WHERE new.minx IS NOT NULL;
        END""")
    op.execute(f"""
        CREATE TRIGGER {t}_rtree_del AFTER DELETE ON {t} BEGIN
          DELETE FROM {t}_rtree WHERE id = old.id;
        END""")


def _ensure_postgis() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION postgis"))
    except sa.exc.DBAPIError as e:
        raise RuntimeError(
            "this PostgreSQL database has no PostGIS and geomap's role may not add it: as a "
            "superuser, install postgresql-15-postgis-3 (Debian) and run CREATE EXTENSION "
            f"postgis in this database ({str(e.orig).strip().splitlines()[0]})") from None


def _postgis_gist(t: str) -> None:
    # A GiST index on the bbox envelope, computed from the bbox columns the store writes (the
    # geometry itself stays WKB for shapely): nothing to keep in step, no column to add.
    # geomap.store.spatial_postgis queries this exact expression. The extension is created
    # by a superuser beforehand (CREATE EXTENSION postgis needs one); geomap creates it only
    # when its own role may, and otherwise says what to do.
    _ensure_postgis()
    op.execute(f"CREATE INDEX ix_{t}_bbox_gist ON {t} "
               f"USING gist (ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in SPATIAL_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {t}_rtree")
    elif dialect == "postgresql":
        for t in SPATIAL_TABLES:
            op.execute(f"DROP INDEX IF EXISTS ix_{t}_bbox_gist")
    for t in ("import_batches", "synthetic_truth", "testimony_violations", "testimonies",
              "sites", "boundary_units"):
        op.drop_table(t)
