"""Tables (SQLAlchemy Core). Portable SQL only: dialect-specific objects (SQLite's R*Tree,
later PostGIS columns) are created by migrations and used only inside geomap.store.

Geometry is stored as WKB with its bounding box in four float columns; exact predicates run in
shapely on the candidates the bbox index returns.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _bbox_columns() -> list[Column]:
    return [Column(n, Float, nullable=True) for n in ("minx", "miny", "maxx", "maxy")]


boundary_units = Table(
    "boundary_units",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("level", Integer, nullable=False),
    Column("code", String(64), nullable=False),
    Column("name_en", Text, nullable=False),
    Column("name_ko", Text),
    Column("unit_type", Text),
    Column("source", Text),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    UniqueConstraint("level", "code", name="uq_boundary_level_code"),
)

sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(128), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("name_ko", Text),
    Column("aliases", Text, nullable=False, default="[]"),  # JSON list of strings
    Column("facility_type", String(32), nullable=False),
    Column("facility_type_note", Text),
    Column("geom", LargeBinary),
    Column("perimeter", LargeBinary),
    Column("location_status", String(32), nullable=False, default="reported"),
    Column("precision", String(16), nullable=False),
    Column("period_text", Text),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("status_note", Text),
    Column("precision_note", Text),
    Column("sources", Text),
    Column("tier", String(16), nullable=False),
    Column("admin1_id", Integer, ForeignKey("boundary_units.id", ondelete="SET NULL")),
    Column("admin1_outside", Boolean, nullable=False, default=False),
    Column("admin1_distance_m", Float),
    *_bbox_columns(),
    # facts of the structured public list (0011); status_note, precision_note and sources
    # above are the free text of lists before it, NULL once the structured list is imported
    Column("authority", String(8)),  # MSS | MPS
    Column("name_ko_composed", Boolean, nullable=False, default=False, server_default="0"),
    Column("extent_km2", Float),
    Column("opened", Integer),
    Column("opened_approx", Boolean, nullable=False, default=False, server_default="0"),
    Column("closed", Integer),
    Column("closed_approx", Boolean, nullable=False, default=False, server_default="0"),
    Column("status", String(24)),
    Column("confidence", String(8)),
    Column("note", Text),  # one public sentence
    Column("research_note", Text),  # staff only
)

# A site's sources as citations, in the order the list gives them.
site_sources = Table(
    "site_sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("publisher", Text, nullable=False),
    Column("title", Text),
    Column("url", Text),
    Column("date", String(32)),
    Column("supports", Text, nullable=False, default="", server_default=""),  # "location|name"
    Column("accessed_via", Text),
    Column("point_source", Boolean, nullable=False, default=False, server_default="0"),
    Column("detail", Text),  # staff only
    Index("ix_site_sources_site", "site_id", "position"),
)

testimonies = Table(
    "testimonies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    # witness code and narrative are AES-GCM ciphertexts (geomap.crypto); witness_ref is a
    # keyed HMAC of the code, so one witness's testimonies can be grouped without decrypting.
    # (Nullable only because SQLite cannot add NOT NULL to existing columns; the store always
    # writes both.)
    Column("witness_enc", LargeBinary),
    Column("witness_ref", String(32)),
    Column("interview_date", Date),
    Column("narrative_enc", LargeBinary),
    Column("place_text", Text),
    Column("geom", LargeBinary),
    Column("radius_m", Float),
    Column("precision", String(16)),
    Column("period_text", Text),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("relationship", String(32)),
    # sorted comma-separated codes, a copy of testimony_violations for one-table map reads
    Column("violations", Text, nullable=False, default="", server_default=""),
    Column("tier", String(16), nullable=False),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("admin1_id", Integer, ForeignKey("boundary_units.id", ondelete="SET NULL")),
    Column("admin1_outside", Boolean, nullable=False, default=False),
    Column("admin1_distance_m", Float),
    # "reported" by the witness, or "geocoded" from the place name (geomap.geocode)
    Column("location_source", String(16), nullable=False, default="reported",
           server_default="reported"),
    Column("geocode_note", Text),
    *_bbox_columns(),
    Index("ix_testimonies_stats", "tier", "witness_ref", "synthetic", "minx"),  # covering: stats()
    # (no index on witness_ref alone: nothing looks one up; 0017 dropped it)
    Index("ix_testimonies_period", "period_start", "period_end"),
    Index("ix_testimonies_tier_point", "tier", "minx", "miny"),  # covering: viewports (0012)
    Index("ix_testimonies_tier_lat", "tier", "miny", "minx"),  # a view's top/bottom strips (0013)
)

# Located testimonies counted per tier and grid cell at each level of a power-of-two ladder
# (cell = 2**-level degrees, cx = floor((lon + 180) * 2**level)), with the sums of their
# coordinates; kept in step by triggers (migration 0013), read by geomap.store.viewport.
testimony_cells = Table(
    "testimony_cells",
    metadata,
    Column("level", SmallInteger, primary_key=True),
    Column("tier", String(16), primary_key=True),
    Column("cx", Integer, primary_key=True),
    Column("cy", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("sx", Float, nullable=False),
    Column("sy", Float, nullable=False),
)

testimony_violations = Table(
    "testimony_violations",
    metadata,
    Column("testimony_id", Integer, ForeignKey("testimonies.id", ondelete="CASCADE"),
           primary_key=True),
    Column("violation", String(32), primary_key=True),
    Index("ix_testimony_violations_violation", "violation", "testimony_id"),
)

# Ground truth of the synthetic generator: which site a synthetic testimony was drawn from.
# Kept out of every testimony query on purpose; only evaluation code reads it.
synthetic_truth = Table(
    "synthetic_truth",
    metadata,
    Column("testimony_id", Integer, ForeignKey("testimonies.id", ondelete="CASCADE"),
           primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE")),
    Column("kind", String(16), nullable=False),  # site | no_site | name_only
)

import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("source", Text, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("report", Text),
    Column("status", String(16), nullable=False, default="done", server_default="done"),
    Column("actor", String(64)),
)

# Rows an import could not take, with the reasons a person can act on. The row itself may hold
# witness codes and narratives, so it is encrypted like they are (geomap.crypto).
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("batch_id", Integer, ForeignKey("import_batches.id", ondelete="SET NULL")),
    Column("source", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("raw_enc", LargeBinary, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of {"code", "field", "message"}
    Column("created_at", DateTime, nullable=False),
    Index("ix_quarantine_source", "source", "row_number"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("totp_enc", LargeBinary),  # encrypted TOTP secret; NULL until enrolled
    Column("totp_last_step", Integer, nullable=False, default=0),
    Column("recovery_hashes", Text, nullable=False, default="[]"),
    Column("created_at", DateTime, nullable=False),
)

# Server-side sessions: the cookie holds a random token, the table its SHA-256.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),
    Column("data", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_sessions_user", "user_id"),
)

# One-time links to set a password (a new account, or a reset by an admin): the link carries
# a random token, the table only its SHA-256; single use, and it expires.
password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    Column("created_by", String(64), nullable=False),
    Index("ix_password_resets_user", "user_id"),
)

# Personal API tokens (issue 15, migration 0015): QGIS, GDAL and scripts send one instead of a
# session. The token is `gmt_<public_id>_<secret>`; only the public id (to find the row) and
# the SHA-256 of the whole token are stored. Revoked rows stay for the record.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("public_id", String(16), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(80), nullable=False),
    Column("scope", String(16), nullable=False),  # read | read-write
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
    Column("revoked_by", String(64)),
    Index("ix_api_tokens_user", "user_id"),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ts", Float, nullable=False),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # success | failure | refused
    Index("ix_login_attempts_user_ts", "username", "ts"),
    Index("ix_login_attempts_addr_ts", "address", "ts"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Place names the geocoder would not decide alone (ambiguous or weak), with the candidates.
geocode_review = Table(
    "geocode_review",
    metadata,
    Column("testimony_id", Integer, ForeignKey("testimonies.id", ondelete="CASCADE"),
           primary_key=True),
    Column("reason", Text, nullable=False),
    Column("candidates", Text, nullable=False),  # JSON list of Candidate.as_dict()
    Column("created_at", DateTime, nullable=False),
)

# Testimony <-> site links: proposed by geomap.corroboration (status "candidate") with the
# evidence that produced them, then confirmed or rejected by a person (who, when). A re-run of
# the engine never touches a link a person decided.
links = Table(
    "links",
    metadata,
    Column("testimony_id", Integer, ForeignKey("testimonies.id", ondelete="CASCADE"),
           primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("score", Float, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: distance, radii, name match, overlap...
    Column("status", String(16), nullable=False),  # candidate | confirmed | rejected
    Column("decided_by", String(64)),
    Column("decided_at", DateTime),
    Column("engine", String(32), nullable=False),
    Index("ix_links_site_status", "site_id", "status"),
    Index("ix_links_status_score", "status", "score"),
)

# Imagery scenes. Files live in the instance folder under the scene id (a server-made name):
# original.tif (read-only evidentiary copy, hashed) and cog.tif (the working copy for tiles).
scenes = Table(
    "scenes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("acquired", Date, nullable=False),
    Column("sensor", Text),
    Column("provider", Text),
    Column("licence", Text),
    Column("original_name", Text, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size_bytes", Integer, nullable=False),
    Column("crs", Text, nullable=False),
    Column("res_m", Float, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bands", Integer, nullable=False),
    Column("dtype", String(16), nullable=False),
    Column("rescale", Text),  # JSON [[min, max], ...] per band for display, 16-bit data
    Column("footprint", LargeBinary, nullable=False),  # WKB, WGS84, where the data is
    Column("tier", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    *_bbox_columns(),
    Index("ix_scenes_acquired", "acquired"),
)

# Named column mappings for imports ("our 2019 spreadsheet"): field -> column header, as JSON.
# Headers only, never cell values: nothing confidential is kept here.
column_mappings = Table(
    "column_mappings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("mapping", Text, nullable=False),  # JSON {"field": "column header", ...}
    Column("created_by", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Annotations drawn on one imagery scene (issue 13, migration 0014): the current state of each,
# and every version it ever had (append-only; a delete is a tombstone version). Geometry is
# WKB in EPSG:4326 with its bbox; notes are encrypted (they may name a witness) and kept on
# the versions only. Tier: the most restrictive of the scene's and the site's.
annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scene_id", String(32), ForeignKey("scenes.id"), nullable=False),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="SET NULL")),
    Column("kind", String(8), nullable=False),  # point | line | polygon
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Column("label", String(32), nullable=False),
    Column("confidence", String(8), nullable=False),
    Column("change", String(12)),  # appeared | gone | changed | unchanged
    Column("change_scene_id", String(32), ForeignKey("scenes.id")),
    Column("length_m", Float),
    Column("area_m2", Float),
    Column("tier", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False, server_default="0"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_annotations_scene", "scene_id", "deleted"),
    Index("ix_annotations_site", "site_id"),
)

annotation_versions = Table(
    "annotation_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("annotation_id", Integer, ForeignKey("annotations.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # create | update | delete
    Column("scene_id", String(32), nullable=False),
    Column("site_id", Integer),
    Column("kind", String(8), nullable=False),
    Column("geom", LargeBinary, nullable=False),
    Column("label", String(32), nullable=False),
    Column("note_enc", LargeBinary),
    Column("confidence", String(8), nullable=False),
    Column("change", String(12)),
    Column("change_scene_id", String(32)),
    Column("length_m", Float),
    Column("area_m2", Float),
    Column("tier", String(16), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False, server_default="0"),
    Column("author", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    UniqueConstraint("annotation_id", "version", name="uq_annotation_version"),
)

# A site's geometry confirmed on imagery: a polygon annotation promoted by an analyst, with its
# scene and date, kept apart from the reported point. Append-only: the newest row is current.
site_imagery_geometry = Table(
    "site_imagery_geometry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("annotation_id", Integer, ForeignKey("annotations.id"), nullable=False),
    Column("annotation_version", Integer, nullable=False),
    Column("scene_id", String(32), nullable=False),
    Column("acquired", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    Column("area_m2", Float),
    Column("tier", String(16), nullable=False),
    Column("confirmed_by", String(64), nullable=False),
    Column("confirmed_at", DateTime, nullable=False),
    Index("ix_site_imagery_geometry_site", "site_id", "id"),
)

# Publications (issue 14, migration 0016): a redacted public view. `settings` is the draft
# composition; each publish appends a version holding the settings it used and the snapshot
# computed once from allow-lists (public requests read the snapshot, never live records).
publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("settings", Text, nullable=False),  # JSON: the draft composition
    Column("state", String(12), nullable=False),  # draft | published | unpublished
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

publication_versions = Table(
    "publication_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("publication_id", Integer, ForeignKey("publications.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("settings", Text, nullable=False),  # JSON: the composition published
    Column("snapshot", Text, nullable=False),  # JSON: what the public gets, nothing more
    Column("published_by", String(64), nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("unpublished_by", String(64)),
    Column("unpublished_at", DateTime),
    UniqueConstraint("publication_id", "version", name="uq_publication_version"),
)

# Tables that carry geometry, and so a bbox index.
SPATIAL_TABLES = ("boundary_units", "sites", "testimonies")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For migration autogeneration: the bbox indexes (SQLite's R*Tree tables, PostGIS's GiST
    indexes) are managed by hand, not by metadata, and PostGIS's own table is not ours."""
    name = name or ""
    if type_ == "table":
        return "_rtree" not in name and name != "spatial_ref_sys"
    return not (type_ == "index" and name.endswith("_bbox_gist"))
