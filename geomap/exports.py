"""Exports: sites, testimonies, links, annotations and boundaries as CSV, GeoJSON, KML and
GeoPackage, for analysts' QGIS and Google Earth and for moving records to another instance.

What goes out is decided by explicit allow-lists, one per dataset: which columns each role
may get (`COLUMNS`), and the audience the file is for (`Tier`): an internal export holds what
the viewer's role may read; a partner export holds partner and public records with a viewer's
columns; a public export holds public records, never a testimony or a link. Witness codes go
only to roles with READ_WITNESS_CODES; narratives only to READ_NARRATIVES and EXPORT, and only
when asked (`with_narratives`). Records come from the builders the map and the OGC API use
(geomap.features, geomap.geojson, geomap.ogcapi), so an export says what they say.

The columns match the importers (geomap.sites' facility list, geomap.intake's testimony
columns): exporting and importing into a fresh instance gives the same records. Every export
is audited (who, dataset, format, audience, count; never a record's content).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import features
from .corroboration import GradeRule
from .errors import Forbidden, InvalidInput
from .messages import N_, Message
from .model import Tier, operating_period
from .periods import parse_period
from .policy import Permission, Principal, Role

if TYPE_CHECKING:
    from .store.protocol import StoreLike

DATASETS = ("sites", "testimonies", "links", "annotations", "boundaries")
FORMATS: dict[str, tuple[str, str]] = {  # format -> (media type, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "geojson": ("application/geo+json", "geojson"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
}
# the records each audience may receive
AUDIENCE_TIERS: dict[Tier, frozenset[str]] = {
    Tier.INTERNAL: frozenset(t.value for t in Tier),
    Tier.PARTNER: frozenset({Tier.PARTNER.value, Tier.PUBLIC.value}),
    Tier.PUBLIC: frozenset({Tier.PUBLIC.value}),
}

# -- the allow-lists: dataset -> role -> columns ------------------------------------------------
# The facility list's own column names (geomap.sites reads them back). Never a research note.
_SITE = ("key", "name", "name_ko", "aliases", "facility_type", "location_precision",
         "authority", "extent_km2", "opened", "opened_approx", "closed", "closed_approx",
         "period", "start", "end", "status", "confidence", "note", "tier", "admin1",
         "imagery_confirmed", "lon", "lat")
_SITE_GRADED = (*_SITE, "grade", "witnesses")  # counts of testimonies: not for the public
# The testimony importer's column names (geomap.intake.mapping). Never the witness's
# content key or HMAC reference.
_TESTIMONY = ("id", "place_text", "lon", "lat", "radius_m", "precision", "period", "start",
              "end", "violations", "relationship", "synthetic", "tier", "admin1")
_TESTIMONY_CODES = (*_TESTIMONY, "witness_code", "interview_date")
_TESTIMONY_ALL = (*_TESTIMONY_CODES, "narrative")  # narrative: only when asked
_LINK = ("testimony_id", "site_key", "status", "score", "decided_at")
_ANNOTATION = ("id", "label", "label_text", "confidence", "scene_id", "scene_date", "sensor",
               "site_key", "length_m", "area_m2", "area_km2", "change", "change_scene_id",
               "version", "author")
_BOUNDARY = ("code", "level", "name_en", "name_ko", "unit_type", "source")

COLUMNS: dict[str, dict[Role, tuple[str, ...]]] = {
    "sites": {r: _SITE_GRADED for r in Role},
    "testimonies": {Role.ADMIN: _TESTIMONY_ALL, Role.RESEARCHER: _TESTIMONY_ALL,
                    Role.ANALYST: _TESTIMONY_CODES, Role.VIEWER: _TESTIMONY},
    "links": {r: _LINK for r in Role},
    "annotations": {r: _ANNOTATION for r in Role},
    "boundaries": {r: _BOUNDARY for r in Role},
}
# a public export: these columns, or None when the dataset is not for the public at all
PUBLIC_COLUMNS: dict[str, tuple[str, ...] | None] = {
    "sites": _SITE, "testimonies": None, "links": None, "annotations": _ANNOTATION,
    "boundaries": _BOUNDARY,
}
# a column is also bound by a permission, whatever list names it (a second lock)
COLUMN_PERMISSIONS: dict[str, Permission] = {
    "witness_code": Permission.READ_WITNESS_CODES,
    "interview_date": Permission.READ_WITNESS_CODES,
    "narrative": Permission.READ_NARRATIVES,
}
POINT_DATASETS = frozenset({"sites", "testimonies"})  # CSV: lon/lat; the others: a wkt column


@dataclass(frozen=True)
class ExportFilters:
    audience: Tier = Tier.INTERNAL  # who the file is for (the records' tiers and columns)
    with_narratives: bool = False
    bom: bool = False               # CSV: a UTF-8 byte order mark, for Excel (Korean text)
    rule: GradeRule = GradeRule()   # the instance's grade thresholds (sites' grade)


@dataclass
class Record:
    geometry: dict | None  # GeoJSON geometry (EPSG:4326)
    props: dict[str, Any]
    name: str | None = None  # KML Placemark name
    begin: date | None = None  # KML TimeSpan
    end: date | None = None


@dataclass(frozen=True)
class ExportResult:
    data: bytes | Path  # bytes, or a temporary file (GeoPackage) the caller removes
    media_type: str
    filename: str
    count: int


def columns_for(dataset: str, viewer: Principal, f: ExportFilters) -> tuple[str, ...]:
    """The columns `viewer` gets in an export of `dataset` for `f.audience` (refused when the
    audience may not have the dataset, or narratives are asked without the right)."""
    if dataset not in COLUMNS:
        raise InvalidInput(Message(N_("dataset: %(value)r is not one of %(choices)s"),
                                   value=dataset, choices=", ".join(DATASETS)), field="dataset")
    if f.audience == Tier.PUBLIC:
        cols = PUBLIC_COLUMNS[dataset]
        if cols is None:
            raise Forbidden(Message(N_("a public export holds no testimonies and no links")))
    else:
        role = viewer.role if f.audience == Tier.INTERNAL else Role.VIEWER
        cols = COLUMNS[dataset][role]
    if f.with_narratives and not (dataset == "testimonies" and f.audience == Tier.INTERNAL
                                  and viewer.can(Permission.READ_NARRATIVES)
                                  and viewer.can(Permission.EXPORT)):
        raise Forbidden(Message(N_(
            "narratives are exported only in an internal testimony export, by a role that "
            "may read and export them")))
    return tuple(c for c in cols
                 if (c not in COLUMN_PERMISSIONS or viewer.can(COLUMN_PERMISSIONS[c]))
                 and (c != "narrative" or f.with_narratives))


# -- records ------------------------------------------------------------------------------------
def _point(geom: dict | None) -> tuple[float | None, float | None]:
    if geom and geom.get("type") == "Point":
        return geom["coordinates"][0], geom["coordinates"][1]
    if geom:
        from shapely.geometry import shape

        p = shape(geom).representative_point()
        return round(p.x, 6), round(p.y, 6)
    return None, None


def _site_records(store: StoreLike, viewer: Principal, f: ExportFilters,
                  tiers: frozenset[str]) -> list[Record]:
    out = []
    for feat in features.sites_in_view(store, viewer, f.rule)["features"]:
        p = feat["properties"]
        if p["tier"] not in tiers:
            continue
        period = operating_period(p["opened"], p["opened_approx"], p["closed"],
                                  p["closed_approx"])
        lon, lat = _point(feat["geometry"])
        props = {**p, "location_precision": p["precision"], "lon": lon, "lat": lat,
                 "start": period.earliest if period else None,
                 "end": period.latest if period else None}
        out.append(Record(feat["geometry"], props, p["name"],
                          props["start"], props["end"]))
    return out


def _testimony_records(store: StoreLike, viewer: Principal, f: ExportFilters,
                       tiers: frozenset[str], cols: tuple[str, ...]) -> list[Record]:
    from . import geojson
    from .boundaries import unit_names
    from .store import TestimonyFilter
    from .store.exports import testimony_extras

    rows, _n = store.testimony_rows(TestimonyFilter(with_geometry=False), viewer)
    rows = [r for r in rows if r["tier"] in tiers]
    names = {uid: u.name_en for uid, u in unit_names(store.boundary_units(1)).items()}
    extras = testimony_extras(store, [r["id"] for r in rows], "narrative" in cols) \
        if "interview_date" in cols or "narrative" in cols else {}
    out = []
    for r in rows:
        period = parse_period(r["period_text"]) if r["period_text"] else None
        lon = round(r["minx"], geojson.DECIMALS) if r["minx"] is not None else None
        lat = round(r["miny"], geojson.DECIMALS) if r["miny"] is not None else None
        props = {
            "id": r["id"], "place_text": r["place_text"], "lon": lon, "lat": lat,
            "radius_m": r["radius_m"], "precision": r["precision"], "period": r["period_text"],
            "start": period.earliest if period else None,
            "end": period.latest if period else None,
            "violations": r["violations"], "relationship": r["relationship"],
            "synthetic": bool(r["synthetic"]), "tier": r["tier"],
            "admin1": names.get(r["admin1_id"]), "witness_code": r.get("witness_code"),
            **extras.get(r["id"], {}),
        }
        geom = {"type": "Point", "coordinates": [lon, lat]} if lon is not None else None
        out.append(Record(geom, props, r["place_text"], props["start"], props["end"]))
    return out


def _link_records(store: StoreLike, viewer: Principal, tiers: frozenset[str]) -> list[Record]:
    from .store.exports import link_rows

    visible = tiers & {t.value for t in viewer.tiers}
    site_points = {s.key: s.geometry for s in store.sites(viewer)}
    out = []
    for r in link_rows(store, sorted(visible)):
        site = site_points.get(r["site_key"])
        geom = None
        if site is not None and r["lon"] is not None:
            p = site if site.geom_type == "Point" else site.representative_point()
            geom = {"type": "LineString", "coordinates": [
                [round(r["lon"], 6), round(r["lat"], 6)], [round(p.x, 6), round(p.y, 6)]]}
        props = {**r, "decided_at": r["decided_at"].isoformat(timespec="seconds")
                 if r["decided_at"] else None}
        out.append(Record(geom, props, f"{r['testimony_id']} - {r['site_key']}"))
    return out


def _annotation_records(store: StoreLike, viewer: Principal,
                        tiers: frozenset[str]) -> list[Record]:
    """Through the OGC API's annotation builder (the annotation export's allow-list: never a
    note); for a partner or public file, only annotations on scenes of that file's tiers."""
    from . import ogcapi
    from .store.scenes import SceneStore

    feats, _n = ogcapi._annotation_items(store, viewer, ogcapi.ItemsQuery(limit=10**12))
    scene_tiers = {s.id: str(s.tier) for s in SceneStore(store).list(viewer)}
    out = []
    for feat in feats:
        p = feat["properties"]
        if scene_tiers.get(p["scene_id"]) not in tiers:
            continue
        day = date.fromisoformat(str(p["scene_date"])[:10]) if p.get("scene_date") else None
        out.append(Record(feat["geometry"], p, p.get("label_text") or p.get("label"), day, day))
    return out


def _boundary_records(store: StoreLike) -> list[Record]:
    from . import geojson

    return [Record(geojson.geometry(u.geometry), geojson.boundary_feature(u)["properties"],
                   u.name_en)
            for u in store.boundary_units() if u.level in (1, 2)]


def records(store: StoreLike, viewer: Principal, dataset: str,
            f: ExportFilters) -> tuple[tuple[str, ...], list[Record]]:
    """The columns and records of an export (each record's props cut to the columns)."""
    cols = columns_for(dataset, viewer, f)
    tiers = AUDIENCE_TIERS[f.audience] & {t.value for t in viewer.tiers}
    if f.audience != Tier.INTERNAL:
        # read as a partner's reader reads: a site's witness count, say, then counts no
        # internal testimony, and nothing is decrypted that the file will not hold
        viewer = Principal(viewer.user_id, viewer.username, Role.VIEWER)
    if dataset == "sites":
        recs = _site_records(store, viewer, f, tiers)
    elif dataset == "testimonies":
        recs = _testimony_records(store, viewer, f, tiers, cols)
    elif dataset == "links":
        recs = _link_records(store, viewer, tiers)
    elif dataset == "annotations":
        recs = _annotation_records(store, viewer, tiers)
    else:
        recs = _boundary_records(store)
    for r in recs:  # the allow-list: only the columns named, in their order
        r.props = {c: r.props.get(c) for c in cols}
    return cols, recs


# -- writers ------------------------------------------------------------------------------------
def _text(v: Any) -> str:
    """A value as text in CSV, KML and GeoPackage: ISO dates, lists joined by '; '."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "; ".join(_text(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _wkt(geom: dict | None) -> str:
    if not geom:
        return ""
    from shapely.geometry import shape

    return shape(geom).wkt


def write_csv(dataset: str, cols: tuple[str, ...], recs: list[Record], bom: bool) -> bytes:
    buf = io.StringIO()
    extra = () if dataset in POINT_DATASETS else ("wkt",)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([*cols, *extra])
    for r in recs:
        w.writerow([_text(r.props[c]) for c in cols]
                   + ([_wkt(r.geometry)] if extra else []))
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def write_geojson(recs: list[Record]) -> bytes:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": r.geometry,
         "properties": {k: _json_value(v) for k, v in r.props.items()}} for r in recs]}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


KML_NS = "http://www.opengis.net/kml/2.2"


def _kml_coords(seq: Iterable) -> str:
    return " ".join(f"{x!r},{y!r}" for x, y, *_ in seq)


def _kml_geometry(parent: ET.Element, geom: dict) -> None:
    def el(p: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        e = ET.SubElement(p, f"{{{KML_NS}}}{tag}")
        if text is not None:
            e.text = text
        return e

    def polygon(p: ET.Element, rings: list) -> None:
        poly = el(p, "Polygon")
        for i, ring in enumerate(rings):
            b = el(poly, "outerBoundaryIs" if i == 0 else "innerBoundaryIs")
            el(el(b, "LinearRing"), "coordinates", _kml_coords(ring))

    t, c = geom["type"], geom.get("coordinates")
    if t == "Point":
        el(el(parent, "Point"), "coordinates", _kml_coords([c]))
    elif t == "LineString":
        el(el(parent, "LineString"), "coordinates", _kml_coords(c))
    elif t == "Polygon":
        polygon(parent, c)
    elif t in ("MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"):
        multi = el(parent, "MultiGeometry")
        parts = geom["geometries"] if t == "GeometryCollection" else [
            {"type": t[5:], "coordinates": part} for part in c]
        for part in parts:
            _kml_geometry(multi, part)


def write_kml(dataset: str, recs: list[Record]) -> bytes:
    """KML 2.2: one Placemark per record, its columns as ExtendedData, a TimeSpan from its
    period (a site's operating years, a testimony's reported period, a scene's date). Text is
    escaped by the XML writer."""
    ET.register_namespace("", KML_NS)

    def el(p: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        e = ET.SubElement(p, f"{{{KML_NS}}}{tag}", attrib)
        if text is not None:
            e.text = text
        return e

    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = el(root, "Document")
    el(doc, "name", f"geomap {dataset}")
    for r in recs:
        pm = el(doc, "Placemark")
        if r.name:  # the importers read <name> as a place name: only a record's own name
            el(pm, "name", r.name)
        if r.begin or r.end:
            span = el(pm, "TimeSpan")
            if r.begin:
                el(span, "begin", r.begin.isoformat())
            if r.end:
                el(span, "end", r.end.isoformat())
        ext = el(pm, "ExtendedData")
        for k, v in r.props.items():
            el(el(ext, "Data", name=k), "value", _text(v))
        if r.geometry:
            _kml_geometry(pm, r.geometry)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def write_gpkg(dataset: str, cols: tuple[str, ...], recs: list[Record]) -> Path:
    """A GeoPackage in a temporary file (GDAL writes only files); the caller removes it.
    Numbers stay numbers; other values are text as in CSV."""
    import geopandas as gpd
    from shapely.geometry import shape

    def value(v: Any) -> Any:
        if isinstance(v, bool):
            return int(v)
        return v if isinstance(v, int | float) or v is None else _text(v)

    data = {c: [value(r.props[c]) for r in recs] for c in cols}
    geoms = [shape(r.geometry) if r.geometry else None for r in recs]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")
    for c in cols:  # a text column with no value at all is still text, not a float column
        if all(v is None for v in data[c]):
            gdf[c] = gdf[c].astype("object")
    fd, name = tempfile.mkstemp(prefix=f"geomap-{dataset}-", suffix=".gpkg")
    os.close(fd)
    path = Path(name)
    path.unlink()  # the GPKG driver creates the file itself
    gdf.to_file(path, layer=dataset, driver="GPKG", engine="pyogrio",
                geometry_type="Unknown" if dataset not in POINT_DATASETS else "Point")
    return path


def export(store: StoreLike, viewer: Principal, dataset: str, fmt: str,
           filters: ExportFilters | None = None) -> ExportResult:
    """One dataset in one format, as `viewer` may have it for `filters.audience`; audited."""
    f = filters or ExportFilters()
    if fmt not in FORMATS:
        raise InvalidInput(Message(N_("format: %(value)r is not one of %(choices)s"),
                                   value=fmt, choices=", ".join(FORMATS)), field="format")
    if not viewer.can(Permission.READ_MAP):
        raise Forbidden(Message(N_("exports are for accounts that may read the map")))
    cols, recs = records(store, viewer, dataset, f)
    media, ext = FORMATS[fmt]
    data: bytes | Path
    if fmt == "csv":
        data = write_csv(dataset, cols, recs, f.bom)
    elif fmt == "geojson":
        data = write_geojson(recs)
    elif fmt == "kml":
        data = write_kml(dataset, recs)
    else:
        data = write_gpkg(dataset, cols, recs)
    # who, what, how many: never a record's content
    store.audit(viewer.username, "export", dataset, {
        "format": fmt, "audience": str(f.audience), "count": len(recs),
        "columns": list(cols), "narratives": "narrative" in cols})
    suffix = "" if f.audience == Tier.INTERNAL else f"-{f.audience}"
    return ExportResult(data, media, f"geomap-{dataset}{suffix}.{ext}", len(recs))
