"""GeoJSON per RFC 7946: lon,lat order, coordinates rounded to 6 decimals (~0.1 m), exterior
rings counter-clockwise. Feature properties are built from explicit field lists (allow-lists),
never by copying a record and deleting fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .model import BoundaryUnit, Site

DECIMALS = 6


def geometry(g: BaseGeometry | None) -> dict | None:
    if g is None or g.is_empty:
        return None
    g = shapely.transform(g, lambda c: np.round(c, DECIMALS))
    if g.geom_type in ("Polygon", "MultiPolygon"):
        g = shapely.orient_polygons(g)  # RFC 7946 section 3.1.6
    return json.loads(shapely.to_geojson(g))


def feature(geom: dict | None, props: Mapping, fid=None) -> dict:
    f = {"type": "Feature", "geometry": geom, "properties": dict(props)}
    if fid is not None:
        f["id"] = fid
    return f


def collection(features: Iterable[dict], **members) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **members}


def boundary_feature(u: BoundaryUnit) -> dict:
    return feature(geometry(u.geometry), {
        "code": u.code, "level": u.level, "name_en": u.name_en, "name_ko": u.name_ko,
        "unit_type": u.unit_type, "source": u.source,
    }, u.code)


# Never the research note, a citation's staff detail or the free-text notes of lists before
# the structured one (research material): staff read those on the dossier.
SITE_FIELDS = ("key", "name", "name_ko", "aliases", "facility_type", "facility_type_note",
               "authority", "precision", "extent_km2", "location_status", "period", "opened",
               "opened_approx", "closed", "closed_approx", "status", "confidence", "note",
               "citations", "tier", "admin1", "admin1_ko", "admin1_outside",
               "admin1_distance_m", "grade", "witnesses", "imagery_confirmed")
CITATION_FIELDS = ("publisher", "title", "url", "date", "supports")


def site_feature(s: Site, units: Mapping[int, BoundaryUnit], grade: str = "",
                 witnesses: int = 0, imagery_confirmed: str | None = None) -> dict:
    """`imagery_confirmed`: the date of the scene an outline of the site was confirmed on."""
    unit = units.get(s.admin1.unit_id) if s.admin1 else None
    values = {
        "key": s.key, "name": s.name, "name_ko": s.name_ko, "aliases": s.aliases,
        "facility_type": str(s.facility_type), "facility_type_note": s.facility_type_note,
        "precision": str(s.precision), "location_status": s.location_status,
        "period": s.period.text if s.period else None,
        "authority": str(s.authority) if s.authority else None, "extent_km2": s.extent_km2,
        "opened": s.opened, "opened_approx": s.opened_approx, "closed": s.closed,
        "closed_approx": s.closed_approx, "status": str(s.status) if s.status else None,
        "confidence": str(s.confidence) if s.confidence else None, "note": s.note,
        "citations": [{"publisher": c.publisher, "title": c.title, "url": c.safe_url,
                       "date": c.date, "supports": list(c.supports)} for c in s.citations],
        "tier": str(s.tier),
        "admin1": unit.name_en if unit else None, "admin1_ko": unit.name_ko if unit else None,
        "admin1_outside": bool(s.admin1 and s.admin1.outside),
        "admin1_distance_m": s.admin1.distance_m if s.admin1 and s.admin1.outside else None,
        "grade": grade, "witnesses": witnesses, "imagery_confirmed": imagery_confirmed,
    }
    return feature(geometry(s.geometry), {k: values[k] for k in SITE_FIELDS}, s.key)


TESTIMONY_MAP_FIELDS = ("place_text", "radius_m", "precision", "period", "violations",
                        "relationship", "synthetic", "tier", "admin1", "admin1_outside")
# only for roles that may read witness codes (geomap.policy)
TESTIMONY_CODE_FIELDS = ("witness_code",)


def testimony_features(rows: Iterable[Mapping], units: Mapping[int, BoundaryUnit],
                       with_codes: bool) -> list[dict]:
    """Map features for testimony rows from Store.testimony_rows (never the narrative).

    The property literal below is the allow-list (kept equal to TESTIMONY_MAP_FIELDS by a
    test); it is written out rather than filtered because this runs for every point in view.
    """
    names = {uid: u.name_en for uid, u in units.items()}
    out = [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": {"type": "Point",
                         "coordinates": [round(r["minx"], DECIMALS), round(r["miny"], DECIMALS)]},
            "properties": {
                "place_text": r["place_text"],
                "radius_m": r["radius_m"], "precision": r["precision"],
                "period": r["period_text"], "violations": r["violations"],
                "relationship": r["relationship"], "synthetic": bool(r["synthetic"]),
                "tier": r["tier"], "admin1": names.get(r["admin1_id"]),
                "admin1_outside": bool(r["admin1_outside"]),
            },
        }
        for r in rows
    ]
    if with_codes:
        for f, r in zip(out, rows, strict=True):
            f["properties"]["witness_code"] = r["witness_code"]
    return out


def grid_features(cells: Iterable[Mapping]) -> list[dict]:
    """Aggregated testimony counts per grid cell (no per-testimony field at all)."""
    return [
        {"type": "Feature",
         "geometry": {"type": "Point", "coordinates": [round(c["lon"], DECIMALS),
                                                       round(c["lat"], DECIMALS)]},
         "properties": {"count": c["count"]}}
        for c in cells
    ]
