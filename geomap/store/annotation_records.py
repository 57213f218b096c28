"""SQL for imagery annotations and a site's geometry confirmed on imagery (geomap.annotations
decides what to write and who may).

Writers take the caller's connection, so the current row, its new version and the audit entry
land in one transaction (`Store.audited`). `annotations` holds each annotation's current state
(what a scene's page and the exports read); `annotation_versions` every state it ever had,
notes included (encrypted), and is only ever appended to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, and_, func, select

from .schema import annotation_versions, annotations, scenes, site_imagery_geometry, sites

if TYPE_CHECKING:
    from .protocol import StoreLike

# the columns an annotation's current row and each of its versions share
PAYLOAD = ("scene_id", "site_id", "kind", "geom", "label", "confidence", "change",
           "change_scene_id", "length_m", "area_m2", "tier", "deleted")


def scene_facts(conn: Connection, scene_id: str) -> Row | None:
    """(id, acquired, sensor, provider, licence, tier, footprint) of one scene, any tier."""
    s = scenes
    return conn.execute(select(s.c.id, s.c.acquired, s.c.sensor, s.c.provider, s.c.licence,
                               s.c.tier, s.c.footprint).where(s.c.id == scene_id)).first()


def site_facts(conn: Connection, site_id: int) -> Row | None:
    """(id, key, name, tier) of one site, any tier."""
    return conn.execute(select(sites.c.id, sites.c.key, sites.c.name, sites.c.tier)
                        .where(sites.c.id == site_id)).first()


def insert(conn: Connection, values: dict) -> int:
    """A new annotation's current row (version 1); its id."""
    return conn.execute(annotations.insert().values(**values)).inserted_primary_key[0]


def for_update(conn: Connection, annotation_id: int) -> Row | None:
    """The current row of an annotation, read inside the write transaction (any tier)."""
    return conn.execute(select(annotations).where(annotations.c.id == annotation_id)).first()


def update(conn: Connection, annotation_id: int, values: dict) -> None:
    conn.execute(annotations.update().where(annotations.c.id == annotation_id).values(**values))


def add_version(conn: Connection, values: dict) -> None:
    conn.execute(annotation_versions.insert().values(**values))


def version_note(conn: Connection, annotation_id: int, version: int) -> bytes | None:
    v = annotation_versions
    return conn.execute(select(v.c.note_enc).where(v.c.annotation_id == annotation_id,
                                                   v.c.version == version)).scalar()


def _current_note():
    """The note of each annotation's current version (a correlated subquery)."""
    v = annotation_versions
    return (select(v.c.note_enc).where(v.c.annotation_id == annotations.c.id,
                                       v.c.version == annotations.c.version)
            .scalar_subquery().label("note_enc"))


def _listing():
    a, s = annotations, scenes
    return (select(a, _current_note(), s.c.acquired, s.c.sensor, s.c.provider, s.c.licence,
                   sites.c.key.label("site_key"), sites.c.name.label("site_name"))
            .join(s, s.c.id == a.c.scene_id).outerjoin(sites, sites.c.id == a.c.site_id))


def one(store: StoreLike, annotation_id: int, tiers: Sequence[str]) -> Row | None:
    """An annotation (deleted or not) with its scene's date and sensor, if its tier is seen."""
    with store.read() as conn:
        return conn.execute(_listing().where(annotations.c.id == annotation_id,
                                             annotations.c.tier.in_(list(tiers)))).first()


def for_scene(store: StoreLike, scene_id: str, tiers: Sequence[str]) -> list[Row]:
    """A scene's annotations (not deleted) of the given tiers, oldest first."""
    a = annotations
    with store.read() as conn:
        return conn.execute(_listing().where(a.c.scene_id == scene_id, a.c.deleted.is_(False),
                                             a.c.tier.in_(list(tiers))).order_by(a.c.id)).all()


def for_site(store: StoreLike, site_id: int, tiers: Sequence[str]) -> list[Row]:
    """A site's annotations (not deleted) of the given tiers, by scene date."""
    a = annotations
    with store.read() as conn:
        return conn.execute(_listing().where(a.c.site_id == site_id, a.c.deleted.is_(False),
                                             a.c.tier.in_(list(tiers)))
                            .order_by(scenes.c.acquired, a.c.id)).all()


def versions(store: StoreLike, annotation_id: int) -> list[Row]:
    """Every version of an annotation, newest first (the caller checked its tier)."""
    v = annotation_versions
    with store.read() as conn:
        return conn.execute(select(v).where(v.c.annotation_id == annotation_id)
                            .order_by(v.c.version.desc())).all()


def scene_dates(store: StoreLike, ids: Sequence[str]) -> dict[str, object]:
    """Acquisition dates of these scenes (for naming a change's earlier scene)."""
    if not ids:
        return {}
    with store.read() as conn:
        return dict(conn.execute(select(scenes.c.id, scenes.c.acquired)
                                 .where(scenes.c.id.in_(list(set(ids))))).all())


# -- a site's geometry confirmed on imagery ---------------------------------------------------
def add_site_geometry(conn: Connection, values: dict) -> int:
    return conn.execute(site_imagery_geometry.insert().values(**values)).inserted_primary_key[0]


def site_geometry(store: StoreLike, site_id: int, tiers: Sequence[str]) -> Row | None:
    """The newest confirmed geometry of a site among the given tiers, with its scene's sensor."""
    g = site_imagery_geometry
    with store.read() as conn:
        return conn.execute(
            select(g, scenes.c.sensor).join(scenes, scenes.c.id == g.c.scene_id)
            .where(g.c.site_id == site_id, g.c.tier.in_(list(tiers)))
            .order_by(g.c.id.desc()).limit(1)).first()


def site_geometries(store: StoreLike, tiers: Sequence[str]) -> dict[int, Row]:
    """The newest confirmed geometry of every site that has one (for the map's site layer)."""
    g = site_imagery_geometry
    newest = (select(g.c.site_id, func.max(g.c.id).label("id"))
              .where(g.c.tier.in_(list(tiers))).group_by(g.c.site_id).subquery())
    with store.read() as conn:
        rows = conn.execute(select(g).join(newest, and_(newest.c.id == g.c.id))).all()
    return {r.site_id: r for r in rows}


# -- key rotation ------------------------------------------------------------------------------
def note_version_ids(conn: Connection) -> list[int]:
    v = annotation_versions
    return list(conn.execute(select(v.c.id).where(v.c.note_enc.is_not(None))
                             .order_by(v.c.id)).scalars())


def note_blobs(conn: Connection, ids: Sequence[int]) -> list[Row]:
    """(id, annotation_id, version, note_enc) of these version rows."""
    v = annotation_versions
    return conn.execute(select(v.c.id, v.c.annotation_id, v.c.version, v.c.note_enc)
                        .where(v.c.id.in_(list(ids)))).all()


def set_note_blob(conn: Connection, version_row_id: int, blob: bytes) -> None:
    v = annotation_versions
    conn.execute(v.update().where(v.c.id == version_row_id).values(note_enc=blob))
