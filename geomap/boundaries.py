"""Administrative boundaries: import from a short list of vector formats that hold their own
features (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, KML; never VRT), and tag locations with
the province they fall in.

Distances are measured in metres in UTM zone 52N (EPSG:32652), which covers the peninsula with
under 0.1% scale error; degrees are never used as a distance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from .errors import InvalidInput
from .model import AdminTag, BoundaryUnit
from .paths import check_local_path
from .store import Store, UpsertResult

METRIC_CRS = "EPSG:32652"
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

# Field names tried in order when the caller names none (Natural Earth, geoBoundaries, GADM).
NAME_EN_FIELDS = ("name_en", "name", "NAME_1", "NAME_2", "shapeName", "NAME_EN", "NAME", "ADMIN")
NAME_KO_FIELDS = ("name_ko", "name_local", "NL_NAME_1", "NL_NAME_2", "NAME_KO")
CODE_FIELDS = ("hasc", "code_hasc", "HASC_1", "HASC_2", "ne_adm1_code", "adm1_code", "shapeID",
               "GID_1", "GID_2", "iso_3166_2", "ISO_A3", "id")
TYPE_FIELDS = ("type_en", "TYPE_1", "ENGTYPE_1", "shapeType")
_MISSING = {"", "-99", "-1", "none", "null", "nan"}


@dataclass
class BoundaryImportReport:
    source: str
    level: int
    result: UpsertResult = field(default_factory=UpsertResult)
    repaired: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        r = self.result
        out = [f"{self.source}: level {self.level}: {r.inserted} inserted, {r.updated} updated, "
               f"{len(self.skipped)} skipped, {len(self.repaired)} repaired"]
        out += [f"  repaired: {m}" for m in self.repaired]
        out += [f"  skipped: {m}" for m in self.skipped]
        return out


# Formats a boundary file may be: ones that hold their own features. VRT and other formats that
# name further files or URLs to read (or that GDAL would fetch over the network) are refused.
# Extension -> (GDAL drivers that may open it, a test of the file's first bytes)
VECTOR_FORMATS: dict[str, tuple[frozenset[str], Callable[[bytes], bool]]] = {
    ".gpkg": (frozenset({"GPKG"}), lambda b: b.startswith(b"SQLite format 3\0")),
    ".shp": (frozenset({"ESRI Shapefile"}), lambda b: b[:4] == b"\x00\x00\x27\x0a"),
    ".geojson": (frozenset({"GeoJSON"}), lambda b: _text_start(b).startswith(b"{")),
    ".json": (frozenset({"GeoJSON"}), lambda b: _text_start(b).startswith(b"{")),
    ".fgb": (frozenset({"FlatGeobuf"}), lambda b: b.startswith(b"fgb\x03")),
    ".kml": (frozenset({"KML", "LIBKML"}),
             lambda b: _text_start(b).startswith(b"<") and b"<kml" in b),
}
_SNIFF_BYTES = 4096


def _text_start(b: bytes) -> bytes:
    return b.removeprefix(b"\xef\xbb\xbf").lstrip()


def check_vector_format(path: Path) -> str:
    """The GDAL driver for a boundary file, or InvalidInput when it is not an allowed format.

    Checked twice before any feature is read: the extension and the file's first bytes must
    agree (a VRT renamed .geojson starts with '<', not '{'), and the driver GDAL itself picks
    must be on the list (GDAL picks by content, not by name)."""
    accepted = ", ".join(sorted(VECTOR_FORMATS))
    fmt = VECTOR_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{path.name}: boundary files must be one of {accepted} "
                           f"(not {path.suffix or 'a file without an extension'})")
    drivers, looks_right = fmt
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not looks_right(head):
        raise InvalidInput(f"{path.name}: the content is not {' or '.join(sorted(drivers))} "
                           f"as its name says; boundary files must be one of {accepted}")
    try:
        driver = pyogrio.read_info(path)["driver"]
    except Exception as e:  # pyogrio raises DataSourceError and friends
        raise InvalidInput(f"{path.name}: cannot be read as vector data ({e})") from None
    if driver not in drivers:
        raise InvalidInput(f"{path.name}: GDAL reads it as {driver}, not "
                           f"{' or '.join(sorted(drivers))}; boundary files must be one of "
                           f"{accepted}")
    return driver


def _clean(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = re.sub(r"\s+", " ", str(v)).strip()
    return None if s.lower() in _MISSING else s


def _pick(props: dict, explicit: str | None, defaults: Sequence[str]) -> str | None:
    if explicit:
        return _clean(props.get(explicit))
    for f in defaults:
        if (v := _clean(props.get(f))) is not None:
            return v
    return None


def read_boundaries(
    path: str | Path,
    level: int,
    name_field: str | None = None,
    name_ko_field: str | None = None,
    code_field: str | None = None,
    source: str | None = None,
) -> tuple[list[BoundaryUnit], BoundaryImportReport]:
    """Read a vector file into boundary units (WGS84), repairing what can be repaired.

    Every feature that is dropped or changed is named in the report with the reason.
    """
    path = check_local_path(path)
    report = BoundaryImportReport(source=str(path.name), level=level)
    check_vector_format(path)
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as e:  # pyogrio raises DataSourceError and friends
        raise InvalidInput(f"{path.name}: cannot be read as vector data ({e})") from None
    fields = set(gdf.columns)
    for opt, val in (("--name-field", name_field), ("--name-ko-field", name_ko_field),
                     ("--code-field", code_field)):
        if val and val not in fields:
            raise InvalidInput(f"{opt} {val!r} is not a field of {path.name}; "
                               f"fields: {', '.join(sorted(fields - {'geometry'}))}")
    if gdf.crs is None:
        raise InvalidInput(f"{path.name}: no coordinate reference system; cannot place it")
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")

    units: list[BoundaryUnit] = []
    seen_codes: set[str] = set()
    for i, row in enumerate(gdf.itertuples(index=False)):
        props = row._asdict()
        geom: BaseGeometry | None = props.pop("geometry")
        name = _pick(props, name_field, NAME_EN_FIELDS)
        label = f"feature {i}" + (f" ({name})" if name else "")
        if geom is None or geom.is_empty:
            report.skipped.append(f"{label}: no geometry")
            continue
        if name is None:
            tried = name_field or ", ".join(f for f in NAME_EN_FIELDS if f in fields)
            report.skipped.append(f"{label}: no name in {tried or 'any known name field'}")
            continue
        if not geom.is_valid:
            why = shapely.is_valid_reason(geom)
            geom = shapely.make_valid(geom)
            geom = shapely.union_all([g for g in shapely.get_parts(geom)
                                      if g.geom_type in ("Polygon", "MultiPolygon")])
            if geom.is_empty:
                report.skipped.append(f"{label}: invalid geometry ({why}) could not be repaired")
                continue
            report.repaired.append(f"{label}: {why}")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            report.skipped.append(f"{label}: {geom.geom_type} is not an area")
            continue
        code = _pick(props, code_field, CODE_FIELDS) or _slug(name)
        if code in seen_codes:
            report.skipped.append(f"{label}: code {code!r} repeats an earlier feature")
            continue
        seen_codes.add(code)
        units.append(BoundaryUnit(
            level=level, code=code, name_en=name,
            name_ko=_pick(props, name_ko_field, NAME_KO_FIELDS),
            unit_type=_pick(props, None, TYPE_FIELDS), geometry=geom,
            source=source or path.name))
    return units, report


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:64] or "unit"


def import_boundaries(store: Store, path: str | Path, level: int, **options) -> BoundaryImportReport:
    """Read, upsert (idempotent by level + code) and re-tag sites and testimonies."""
    units, report = read_boundaries(path, level, **options)
    if not units:
        raise InvalidInput(f"{Path(path).name}: no usable features; " + "; ".join(report.skipped[:5]))
    report.result = store.upsert_boundary_units(units)
    if level == 1:
        retag_all(store)
    return report


class AdminTagger:
    """Finds the unit containing a point, or the nearest unit (flagged, with its distance)."""

    def __init__(self, units: Sequence[BoundaryUnit]):
        self.units = list(units)
        self._ids = np.array([u.id for u in self.units])
        metric = [shapely.transform(u.geometry, _project) for u in self.units]
        self._tree = shapely.STRtree(metric) if metric else None
        self._polys = np.array(metric, dtype=object)

    def tag(self, geoms: Sequence[BaseGeometry | None]) -> list[AdminTag | None]:
        out: list[AdminTag | None] = [None] * len(geoms)
        if self._tree is None:
            return out
        idx = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
        if not idx:
            return out
        pts = shapely.transform(np.array([geoms[i] for i in idx], dtype=object), _project)
        # the few unit polygons query a tree of the many points: shapely prepares each polygon
        # once (points asking the polygons' tree were ~10x slower at 100,000 points)
        unit_i, point_i = shapely.STRtree(pts).query(self._polys, predicate="intersects")
        # one unit per point; on a shared border the unit listed first wins
        order = np.lexsort((unit_i, point_i))
        hit_points, first = np.unique(point_i[order], return_index=True)
        unit_of = np.full(len(pts), -1, dtype=np.int64)
        unit_of[hit_points] = unit_i[order][first]
        missing = np.flatnonzero(unit_of < 0)
        distance = np.zeros(len(pts))
        if len(missing):
            (mq, mt), dist = self._tree.query_nearest(pts[missing], return_distance=True,
                                                      all_matches=False)
            unit_of[missing[mq]] = mt
            distance[missing[mq]] = dist
        ids = self._ids[unit_of].tolist()
        is_outside = np.zeros(len(pts), dtype=bool)
        is_outside[missing] = True
        outside = is_outside.tolist()
        dist = distance.round(1).tolist()
        for q, i in enumerate(idx):
            out[i] = (AdminTag(ids[q], outside=True, distance_m=dist[q]) if outside[q]
                      else AdminTag(ids[q]))
        return out


def _project(coords: np.ndarray) -> np.ndarray:
    x, y = _TO_METRIC.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def tagger_for(store: Store, level: int = 1) -> AdminTagger:
    return AdminTagger(store.boundary_units(level))


def retag_all(store: Store, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Re-derive the province of every site and testimony (after boundaries change)."""
    tagger = tagger_for(store)
    counts = {}
    for table, rows in (("sites", store.site_points()), ("testimonies", store.testimony_points())):
        tags = tagger.tag([g for _, g in rows])
        store.set_admin_tags(table, {i: t for (i, _), t in zip(rows, tags, strict=True)})
        counts[table] = sum(1 for t in tags if t is not None and t.outside)
    return counts


def unit_names(units: Iterable[BoundaryUnit]) -> dict[int, BoundaryUnit]:
    return {u.id: u for u in units if u.id is not None}


def admin_columns(store: Store, point: BaseGeometry | None) -> dict:
    """The stored province columns for one new point (the unit it falls in, or the nearest
    one flagged outside), as an import tags them: for a point a researcher places or edits."""
    if point is None:
        return {"admin1_id": None, "admin1_outside": False, "admin1_distance_m": None}
    [tag] = AdminTagger(store.boundary_units(1)).tag([point])
    return {"admin1_id": tag.unit_id if tag else None, "admin1_outside": bool(tag and tag.outside),
            "admin1_distance_m": tag.distance_m if tag else None}
