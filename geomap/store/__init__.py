"""The store: every read and write of geomap's database goes through `Store`.

Callers get domain objects or plain dicts back; SQL stays in this package. Bounding-box
queries use an index to find candidates (SQLite's R*Tree, PostGIS's GiST: spatial_sqlite.py,
spatial_postgis.py) and shapely for the exact predicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from .. import audit
from ..crypto import FieldCipher
from ..keys import KeyRing
from ..model import (
    AdminTag,
    Authority,
    BoundaryUnit,
    Citation,
    Confidence,
    FacilityType,
    Precision,
    Relationship,
    Site,
    SiteStatus,
    Testimony,
    Tier,
    Violation,
)
from ..periods import Period
from ..policy import Permission, Principal
from . import engine as _engine
from . import spatial_postgis, spatial_sqlite, viewport
from .schema import (
    boundary_units,
    import_batches,
    site_sources,
    sites,
    synthetic_truth,
    testimonies,
    testimony_violations,
)

BBox = tuple[float, float, float, float]
_CHUNK = 500  # keys per IN (...) list; stays under SQLite's variable limit


def geom_columns(g: BaseGeometry | None, column: str = "geom") -> dict:
    """WKB plus bbox columns for a geometry (all None for no geometry)."""
    if g is None or g.is_empty:
        return {column: None, "minx": None, "miny": None, "maxx": None, "maxy": None}
    minx, miny, maxx, maxy = g.bounds
    return {column: shapely.to_wkb(g), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def geoms_columns(gs: Sequence[BaseGeometry | None], column: str = "geom") -> list[dict]:
    """geom_columns of many geometries, with one WKB and one bounds call for all (the same
    values: a bulk insert of 100,000 rows spent a second in per-geometry calls)."""
    arr = np.array([g if g is not None and not g.is_empty else None for g in gs], dtype=object)
    wkbs, bounds = shapely.to_wkb(arr), shapely.bounds(arr).tolist()
    return [{column: None, "minx": None, "miny": None, "maxx": None, "maxy": None}
            if g is None else {column: w, "minx": b[0], "miny": b[1], "maxx": b[2], "maxy": b[3]}
            for g, w, b in zip(arr, wkbs, bounds, strict=True)]


def _geom(wkb: bytes | None) -> BaseGeometry | None:
    return shapely.from_wkb(wkb) if wkb is not None else None


def _period(row) -> Period | None:
    if row.period_text is None:
        return None
    return Period(row.period_text, row.period_start, row.period_end)


def _admin(row) -> AdminTag | None:
    if row.admin1_id is None:
        return None
    return AdminTag(row.admin1_id, bool(row.admin1_outside), row.admin1_distance_m or 0.0)


def _chunks(seq: Sequence, n: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class TestimonyFilter:
    bbox: BBox | None = None
    violations: tuple[Violation, ...] = ()
    period: Period | None = None
    with_geometry: bool = True
    ids: tuple[int, ...] = ()  # only these testimonies (e.g. one item of the OGC API)


class Store:
    """`keys` encrypts witness codes and narratives; `audit_head` is the file that keeps the
    newest audit entry's id and hash outside the database (see geomap.audit)."""

    def __init__(self, url: str, keys: KeyRing, *, migrate: bool = True,
                 audit_head: Path | None = None):
        self.url = url
        self.keys = keys
        self.cipher = FieldCipher(keys)
        self.audit_head = audit_head
        self.reader, self.writer = _engine.make_engines(url)
        self.dialect = self.writer.dialect.name
        # the dialect's spatial SQL (index-backed bbox candidates, grid cells)
        self.spatial = {"sqlite": spatial_sqlite, "postgresql": spatial_postgis}.get(self.dialect)
        if migrate:
            _engine.upgrade(self.writer, keys=keys)

    @classmethod
    def for_instance(cls, settings) -> Store:
        """The store of an instance folder, with its keys (created on first run)."""
        keys = KeyRing.load_or_create(settings.instance_path / "keys", settings.keys_file)
        return cls(settings.database_url, keys, audit_head=settings.instance_path / "audit.head")

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): all of it lands or none of it."""
        with self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn, conn.begin():
            yield conn

    def schema_revision(self) -> str | None:
        return _engine.current_revision(self.reader)

    # -- audit --------------------------------------------------------------------------------
    @contextmanager
    def audited(self, actor: str, action: str, target: str | None = None,
                details: dict | None = None) -> Iterator[Connection]:
        """A write transaction that appends one audit entry with the change it makes."""
        with self.write() as conn:
            yield conn
            entry = audit.append(conn, actor, action, target, details)
        if self.audit_head is not None:
            audit.write_head(self.audit_head, *entry)

    def audit(self, actor: str, action: str, target: str | None = None,
              details: dict | None = None) -> None:
        with self.audited(actor, action, target, details):
            pass

    # -- spatial candidates -------------------------------------------------------------------
    def _bbox_candidates(self, table, bbox: BBox):
        """A WHERE clause selecting rows of `table` whose bbox may intersect `bbox`."""
        if self.spatial is not None:
            return self.spatial.bbox_candidates(table, bbox)
        minx, miny, maxx, maxy = bbox
        return and_(table.c.minx <= maxx, table.c.maxx >= minx,
                    table.c.miny <= maxy, table.c.maxy >= miny)

    def ids_intersecting(self, table_name: str, bbox: BBox) -> list[int]:
        """Ids of rows whose geometry intersects the box exactly (index, then shapely)."""
        table = {t.name: t for t in (boundary_units, sites, testimonies)}[table_name]
        with self.read() as conn:
            rows = conn.execute(
                select(table.c.id, table.c.geom).where(self._bbox_candidates(table, bbox))
            ).all()
        if not rows:
            return []
        geoms = shapely.from_wkb([r.geom for r in rows])
        hit = shapely.intersects(geoms, box(*bbox))
        return sorted(r.id for r, h in zip(rows, hit, strict=True) if h)

    # -- boundaries ---------------------------------------------------------------------------
    def upsert_boundary_units(self, units: Iterable[BoundaryUnit]) -> UpsertResult:
        ins = upd = 0
        with self.write() as conn:
            for u in units:
                values = {
                    "level": u.level, "code": u.code, "name_en": u.name_en, "name_ko": u.name_ko,
                    "unit_type": u.unit_type, "source": u.source, **geom_columns(u.geometry),
                }
                existing = conn.execute(
                    select(boundary_units.c.id).where(
                        boundary_units.c.level == u.level, boundary_units.c.code == u.code)
                ).scalar()
                if existing is None:
                    u.id = conn.execute(boundary_units.insert().values(**values)).inserted_primary_key[0]
                    ins += 1
                else:
                    conn.execute(boundary_units.update().where(
                        boundary_units.c.id == existing).values(**values))
                    u.id = existing
                    upd += 1
        return UpsertResult(ins, upd)

    def boundary_units(self, level: int | None = None) -> list[BoundaryUnit]:
        q = select(boundary_units).order_by(boundary_units.c.level, boundary_units.c.name_en)
        if level is not None:
            q = q.where(boundary_units.c.level == level)
        with self.read() as conn:
            return [
                BoundaryUnit(level=r.level, code=r.code, name_en=r.name_en, name_ko=r.name_ko,
                             geometry=shapely.from_wkb(r.geom), unit_type=r.unit_type,
                             source=r.source, id=r.id)
                for r in conn.execute(q)
            ]

    # -- sites --------------------------------------------------------------------------------
    def _site_values(self, s: Site) -> dict:
        p = s.period
        return {
            "key": s.key, "name": s.name, "name_ko": s.name_ko,
            "aliases": json.dumps(s.aliases, ensure_ascii=False),
            "facility_type": str(s.facility_type), "facility_type_note": s.facility_type_note,
            **geom_columns(s.geometry),
            "perimeter": shapely.to_wkb(s.perimeter) if s.perimeter is not None else None,
            "location_status": s.location_status, "precision": str(s.precision),
            "period_text": p.text if p else None, "period_start": p.earliest if p else None,
            "period_end": p.latest if p else None, "status_note": s.status_note,
            "precision_note": s.precision_note, "sources": s.sources, "tier": str(s.tier),
            "admin1_id": s.admin1.unit_id if s.admin1 else None,
            "admin1_outside": bool(s.admin1 and s.admin1.outside),
            "admin1_distance_m": s.admin1.distance_m if s.admin1 else None,
            "authority": str(s.authority) if s.authority else None,
            "name_ko_composed": s.name_ko_composed, "extent_km2": s.extent_km2,
            "opened": s.opened, "opened_approx": s.opened_approx, "closed": s.closed,
            "closed_approx": s.closed_approx, "status": str(s.status) if s.status else None,
            "confidence": str(s.confidence) if s.confidence else None, "note": s.note,
            "research_note": s.research_note,
        }

    def upsert_sites(self, items: Iterable[Site],
                     former_keys: Mapping[str, str] | None = None) -> UpsertResult:
        """Insert or update sites by key, with their citations. `former_keys` (old key -> key)
        lets a site stored under an earlier key take the new one, keeping its id and so its
        links and decisions."""
        ins = upd = 0
        earlier: dict[str, list[str]] = {}
        for old, new in (former_keys or {}).items():
            earlier.setdefault(new, []).append(old)
        with self.write() as conn:
            for s in items:
                values = self._site_values(s)
                existing = conn.execute(select(sites.c.id).where(sites.c.key == s.key)).scalar()
                if existing is None and earlier.get(s.key):
                    existing = conn.execute(select(sites.c.id).where(
                        sites.c.key.in_(earlier[s.key]))).scalar()
                if existing is None:
                    s.id = conn.execute(sites.insert().values(**values)).inserted_primary_key[0]
                    ins += 1
                else:
                    conn.execute(sites.update().where(sites.c.id == existing).values(**values))
                    s.id = existing
                    upd += 1
                conn.execute(site_sources.delete().where(site_sources.c.site_id == s.id))
                if s.citations:
                    conn.execute(site_sources.insert(), [{
                        "site_id": s.id, "position": i, "publisher": c.publisher,
                        "title": c.title, "url": c.url, "date": c.date,
                        "supports": "|".join(c.supports), "accessed_via": c.accessed_via,
                        "point_source": c.point_source, "detail": c.detail,
                    } for i, c in enumerate(s.citations)])
        return UpsertResult(ins, upd)

    def _with_citations(self, conn: Connection, out: list[Site]) -> list[Site]:
        by_id = {s.id: s for s in out}
        q = select(site_sources).order_by(site_sources.c.site_id, site_sources.c.position)
        if len(by_id) <= _CHUNK:
            q = q.where(site_sources.c.site_id.in_(list(by_id)))
        for r in conn.execute(q):
            if (s := by_id.get(r.site_id)) is not None:
                s.citations.append(Citation(
                    publisher=r.publisher, title=r.title, url=r.url, date=r.date,
                    supports=[x for x in (r.supports or "").split("|") if x],
                    accessed_via=r.accessed_via, point_source=bool(r.point_source),
                    detail=r.detail))
        return out

    @staticmethod
    def _site(r) -> Site:
        return Site(
            key=r.key, name=r.name, name_ko=r.name_ko, aliases=json.loads(r.aliases or "[]"),
            facility_type=FacilityType(r.facility_type), facility_type_note=r.facility_type_note,
            geometry=_geom(r.geom), perimeter=_geom(r.perimeter),
            location_status=r.location_status, precision=Precision(r.precision),
            period=_period(r), status_note=r.status_note, precision_note=r.precision_note,
            sources=r.sources, tier=Tier(r.tier), admin1=_admin(r), id=r.id,
            authority=Authority(r.authority) if r.authority else None,
            name_ko_composed=bool(r.name_ko_composed), extent_km2=r.extent_km2,
            opened=r.opened, opened_approx=bool(r.opened_approx), closed=r.closed,
            closed_approx=bool(r.closed_approx),
            status=SiteStatus(r.status) if r.status else None,
            confidence=Confidence(r.confidence) if r.confidence else None,
            note=r.note, research_note=r.research_note,
        )

    def sites(
        self,
        viewer: Principal,
        facility_types: Sequence[FacilityType] = (),
        period: Period | None = None,
        bbox: BBox | None = None,
    ) -> list[Site]:
        """Sites `viewer` may see (by tier), filtered."""
        q = select(sites).order_by(sites.c.name).where(
            sites.c.tier.in_([str(t) for t in viewer.tiers]))
        if facility_types:
            q = q.where(sites.c.facility_type.in_([str(f) for f in facility_types]))
        if period is not None:
            # a site whose operating period is unknown stays on the map (it may have operated)
            q = q.where(*_overlap(sites, period, keep_unknown=True))
        if bbox is not None:
            q = q.where(self._bbox_candidates(sites, bbox))
        with self.read() as conn:
            out = self._with_citations(conn, [self._site(r) for r in conn.execute(q)])
        if bbox is not None:
            b = box(*bbox)
            out = [s for s in out if s.geometry is not None and s.geometry.intersects(b)]
        return out

    def site_support(self, viewer: Principal) -> dict[int, tuple[int, int]]:
        """site id -> (independent witnesses, first-hand witnesses) over confirmed links."""
        from .schema import links

        t = testimonies
        q = (select(links.c.site_id, t.c.witness_ref, t.c.relationship)
             .join(t, t.c.id == links.c.testimony_id)
             .where(links.c.status == "confirmed", t.c.tier.in_([str(x) for x in viewer.tiers])))
        seen: dict[int, set] = {}
        first: dict[int, set] = {}
        with self.read() as conn:
            for site_id, ref, rel in conn.execute(q):
                seen.setdefault(site_id, set()).add(ref)
                if rel in ("detained", "saw_directly"):
                    first.setdefault(site_id, set()).add(ref)
        return {k: (len(v), len(first.get(k, ()))) for k, v in seen.items()}

    def linked_points(self, site_id: int, viewer: Principal) -> list[dict]:
        """Confirmed testimonies of a site as points (for lines on the map)."""
        from .schema import links

        t = testimonies
        with self.read() as conn:
            return [{"id": r.id, "lon": r.minx, "lat": r.miny, "radius_m": r.radius_m}
                    for r in conn.execute(
                        select(t.c.id, t.c.minx, t.c.miny, t.c.radius_m)
                        .join(links, links.c.testimony_id == t.c.id)
                        .where(links.c.site_id == site_id, links.c.status == "confirmed",
                               t.c.minx.is_not(None),
                               t.c.tier.in_([str(x) for x in viewer.tiers])))]

    def site_by_key(self, key: str, viewer: Principal) -> Site | None:
        with self.read() as conn:
            r = conn.execute(select(sites).where(
                sites.c.key == key, sites.c.tier.in_([str(t) for t in viewer.tiers]))).first()
            return self._with_citations(conn, [self._site(r)])[0] if r else None

    # -- testimonies --------------------------------------------------------------------------
    def add_testimonies(
        self,
        items: Sequence[Testimony],
        truth: Sequence[tuple[int | None, str]] | None = None,
        conn: Connection | None = None,
    ) -> UpsertResult:
        """Insert testimonies whose content key is new; existing keys are skipped (no duplicates).

        `truth`, for synthetic data only, gives (site id, kind) per item.
        """
        if conn is None:
            with self.write() as c:
                return self.add_testimonies(items, truth, c)
        from .intake import insert_testimonies

        return insert_testimonies(conn, self.cipher, items, truth)

    def testimony_rows(self, f: TestimonyFilter, viewer: Principal,
                       limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """Map-facing rows of the testimonies `viewer` may see, and the total that matched.

        Never the narrative. `witness_code` (decrypted) only for roles allowed to read codes;
        `witness_ref` (a keyed HMAC) groups one witness's testimonies either way. Rows are
        plain dicts with lon/lat (`minx`/`miny`), ordered by id so a capped answer (and a
        page from `offset`) is stable. The total costs a second query only when the cap was
        reached or a page skipped rows.
        """
        t = testimonies
        codes = viewer.can(Permission.READ_WITNESS_CODES)
        cols = [t.c.id, t.c.key, t.c.witness_ref, t.c.place_text, t.c.minx, t.c.miny,
                t.c.radius_m, t.c.precision, t.c.period_text, t.c.relationship, t.c.violations,
                t.c.synthetic, t.c.tier, t.c.admin1_id, t.c.admin1_outside]
        if codes:
            cols.append(t.c.witness_enc)
        where = self._testimony_where(f, viewer)
        q = select(*cols).where(*where).order_by(t.c.id)
        if limit is not None:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        names = [c.name for c in cols]
        with self.read() as conn:
            rows = [dict(zip(names, r, strict=True)) for r in conn.execute(q).all()]
            if (limit is not None and len(rows) >= limit) or (offset and not rows):
                total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
            else:
                total = offset + len(rows)
        dec = self.cipher.decrypt
        for r in rows:
            r["violations"] = r["violations"].split(",") if r["violations"] else []
            if codes:
                r["witness_code"] = dec(r.pop("witness_enc"), "testimonies", r["key"],
                                        "witness_code")
        return rows, total

    def testimony(self, testimony_id: int, viewer: Principal,
                  narrative: bool = True) -> dict | None:
        """One testimony as `viewer` may see it (None if its tier is hidden from them). Reading
        a narrative is recorded in the audit log in the same transaction that returns it;
        `narrative=False` leaves it unread (a page that shows it only on request)."""
        t = testimonies
        with self.read() as conn:
            r = conn.execute(select(t).where(
                t.c.id == testimony_id, t.c.tier.in_([str(x) for x in viewer.tiers]))).first()
        if r is None:
            return None
        out = {
            "id": r.id, "witness_ref": r.witness_ref, "place_text": r.place_text,
            "lon": r.minx, "lat": r.miny, "radius_m": r.radius_m, "precision": r.precision,
            "period": r.period_text, "relationship": r.relationship,
            "violations": r.violations.split(",") if r.violations else [],
            "interview_date": r.interview_date.isoformat() if r.interview_date else None,
            "tier": r.tier, "synthetic": bool(r.synthetic),
        }
        if viewer.can(Permission.READ_WITNESS_CODES):
            out["witness_code"] = self.cipher.decrypt(r.witness_enc, "testimonies", r.key,
                                                      "witness_code")
        if narrative and viewer.can(Permission.READ_NARRATIVES) and r.narrative_enc is not None:
            with self.audited(viewer.username, "narrative.view", f"testimony:{r.id}"):
                out["narrative"] = self.cipher.decrypt(r.narrative_enc, "testimonies", r.key,
                                                       "narrative")
        return out

    # -- visibility checks: id and tier only; nothing decrypted, nothing audited ---------------
    def testimony_visible(self, testimony_id: int, viewer: Principal) -> bool:
        """Whether `viewer` may see this testimony. For paths that only need to know that
        (a link decision): `testimony()` decrypts the narrative and audits a read of it."""
        t = testimonies
        with self.read() as conn:
            return conn.execute(select(t.c.id).where(
                t.c.id == testimony_id, t.c.tier.in_([str(x) for x in viewer.tiers]))
            ).first() is not None

    def site_visible(self, site_id: int, viewer: Principal) -> bool:
        """Whether `viewer` may see this site (one indexed row, not every visible site)."""
        with self.read() as conn:
            return conn.execute(select(sites.c.id).where(
                sites.c.id == site_id, sites.c.tier.in_([str(x) for x in viewer.tiers]))
            ).first() is not None

    def count_matching(self, f: TestimonyFilter, viewer: Principal,
                       at_most: int | None = None) -> int:
        """How many testimonies match; with `at_most`, counting stops there (cheap on a
        country-wide view: enough to choose between points and a grid)."""
        if at_most is not None:
            return viewport.count_at_most(self, f, viewer, at_most)
        with self.read() as conn:
            return conn.execute(select(func.count()).select_from(testimonies)
                                .where(*self._testimony_where(f, viewer))).scalar_one()

    def testimony_grid(self, f: TestimonyFilter, viewer: Principal,
                       cell: float) -> tuple[list[dict], int]:
        """Testimonies matching `f` counted per grid cell (for zoomed-out views holding more
        points than a browser should draw): one row per non-empty cell with the count and the
        mean position of its testimonies. Cells are `cell` degrees snapped to a power of two,
        aligned on the world (geomap.store.viewport: precomputed where possible)."""
        cells, total, _size = viewport.testimony_grid(self, f, viewer, cell)
        return cells, total

    def _testimony_where(self, f: TestimonyFilter, viewer: Principal) -> list:
        t = testimonies
        where = [t.c.tier.in_([str(x) for x in viewer.tiers])]
        if f.with_geometry:
            where.append(t.c.minx.is_not(None))
        if f.bbox is not None:
            # testimonies are points: the covering (tier, minx, miny) index answers the
            # comparisons below directly on both backends (a country-wide view on SQLite: 7 ms
            # against 60 ms through the R*Tree's candidate set; 0018 and 0020 dropped the
            # R*Tree and the GiST index). The bbox is the point: the exact test is a comparison
            minx, miny, maxx, maxy = f.bbox
            where += [t.c.minx >= minx, t.c.minx <= maxx, t.c.miny >= miny, t.c.miny <= maxy]
        if f.ids:
            where.append(t.c.id.in_(list(f.ids)))
        if f.violations:
            where.append(exists().where(
                testimony_violations.c.testimony_id == t.c.id,
                testimony_violations.c.violation.in_([str(v) for v in f.violations])))
        if f.period is not None:
            where += _overlap(t, f.period)
        return where

    def count_testimonies(self, with_geometry: bool | None = None) -> int:
        q = select(func.count()).select_from(testimonies)
        if with_geometry is True:
            q = q.where(testimonies.c.minx.is_not(None))
        elif with_geometry is False:
            q = q.where(testimonies.c.minx.is_(None))
        with self.read() as conn:
            return conn.execute(q).scalar_one()

    def testimony_points(self) -> list[tuple[int, BaseGeometry | None]]:
        with self.read() as conn:
            return [(r.id, _geom(r.geom)) for r in conn.execute(
                select(testimonies.c.id, testimonies.c.geom))]

    def site_points(self) -> list[tuple[int, BaseGeometry | None]]:
        with self.read() as conn:
            return [(r.id, _geom(r.geom)) for r in conn.execute(select(sites.c.id, sites.c.geom))]

    def set_admin_tags(self, table_name: str, tags: dict[int, AdminTag | None]) -> None:
        table = {"sites": sites, "testimonies": testimonies}[table_name]
        rows = [{"rid": i, "a": t.unit_id if t else None, "o": bool(t and t.outside),
                 "d": t.distance_m if t else None} for i, t in tags.items()]
        if not rows:
            return
        stmt = update(table).where(table.c.id == bindparam("rid")).values(
            admin1_id=bindparam("a"), admin1_outside=bindparam("o"),
            admin1_distance_m=bindparam("d"))
        with self.write() as conn:
            conn.execute(stmt, rows)

    def synthetic_truth(self) -> dict[int, tuple[int | None, str]]:
        """Generator ground truth: testimony id -> (site id or None, kind). Evaluation only."""
        with self.read() as conn:
            return {r.testimony_id: (r.site_id, r.kind) for r in conn.execute(select(synthetic_truth))}

    # -- import batches -----------------------------------------------------------------------
    def record_batch(self, conn: Connection, kind: str, source: str, result: UpsertResult,
                     report: dict | None = None, started: datetime | None = None) -> int:
        now = datetime.now(UTC).replace(tzinfo=None)
        return conn.execute(import_batches.insert().values(
            kind=kind, source=source, started_at=started or now, finished_at=now,
            inserted=result.inserted, updated=result.updated, skipped=result.skipped,
            report=json.dumps(report, ensure_ascii=False) if report else None,
        )).inserted_primary_key[0]

    def stats(self, viewer: Principal) -> dict[str, int]:
        """Counts of what `viewer` may see (one pass over testimonies)."""
        tiers = [str(t) for t in viewer.tiers]
        t = testimonies
        with self.read() as conn:
            n, unlocated, witnesses, synthetic = conn.execute(
                select(func.count(), func.count(t.c.id) - func.count(t.c.minx),
                       func.count(func.distinct(t.c.witness_ref)),
                       func.coalesce(func.sum(func.cast(t.c.synthetic, Integer)), 0))
                .where(t.c.tier.in_(tiers))).one()
            return {
                "boundary_units": conn.execute(
                    select(func.count()).select_from(boundary_units)).scalar_one(),
                "sites": conn.execute(select(func.count()).select_from(sites)
                                      .where(sites.c.tier.in_(tiers))).scalar_one(),
                "testimonies": n, "testimonies_without_location": unlocated,
                "witnesses": witnesses, "synthetic": synthetic,
            }


def _overlap(table, period: Period, keep_unknown: bool = False) -> list:
    """Rows with a period that can share a day with `period` (open bounds match anything).
    Rows with no period at all match only with `keep_unknown`."""
    conds = [] if keep_unknown else [table.c.period_text.is_not(None)]
    if period.earliest is not None:
        conds.append(or_(table.c.period_end.is_(None), table.c.period_end >= period.earliest))
    if period.latest is not None:
        conds.append(or_(table.c.period_start.is_(None), table.c.period_start <= period.latest))
    return conds


__all__ = ["Store", "TestimonyFilter", "UpsertResult", "BBox", "Relationship", "geom_columns"]
