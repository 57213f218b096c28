"""Imagery annotations: points, lines and polygons an analyst draws on one dated scene, with a
label from a fixed vocabulary, a note, a confidence, the site they belong to and how they
changed against an earlier scene. Lengths and areas are geodesic (WGS84 ellipsoid).

Nothing is destroyed: an edit appends a version, a delete appends a tombstone version, and
each is audited with before and after. Notes may name a witness, so they are encrypted at rest
like narratives (AES-GCM bound to the annotation and version), shown to staff who annotate or
read narratives, and never written in clear into the audit log: the audit says only that the
note changed. Exports leave notes out.

An annotation's tier is the most restrictive of its scene's and its site's: an internal scene's
drawing of a public site stays internal.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .messages import N_, Message
from .model import Tier
from .policy import Permission, Principal
from .store import annotation_records as sql
from .store import geom_columns

if TYPE_CHECKING:
    from .store.protocol import StoreLike

# the vocabulary of the camp imagery reports (HRNK/AllSource, Amnesty 2013): English labels
LABELS: dict[str, str] = {
    "perimeter_fence": N_("Perimeter fence"),
    "guard_post": N_("Guard post or tower"),
    "gate_checkpoint": N_("Gate or checkpoint"),
    "housing_barracks": N_("Housing or barracks"),
    "admin_building": N_("Administrative building"),
    "labour_mine": N_("Labour site: mine"),
    "labour_logging": N_("Labour site: logging"),
    "labour_farm": N_("Labour site: farm"),
    "labour_factory": N_("Labour site: factory"),
    "grave_burial": N_("Grave or burial site"),
    "construction": N_("Construction"),
    "demolition": N_("Demolition"),
    "other": N_("Other"),
}
# a colour per label (Okabe-Ito and neighbours: told apart by most colour-blind readers)
LABEL_COLOURS: dict[str, str] = {
    "perimeter_fence": "#D55E00", "guard_post": "#CC79A7", "gate_checkpoint": "#E69F00",
    "housing_barracks": "#0072B2", "admin_building": "#56B4E9", "labour_mine": "#8B4513",
    "labour_logging": "#009E73", "labour_farm": "#9ACD32", "labour_factory": "#6A3D9A",
    "grave_burial": "#000000", "construction": "#F0E442", "demolition": "#B22222",
    "other": "#7F7F7F",
}
CONFIDENCES: dict[str, str] = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}
CHANGES: dict[str, str] = {"appeared": N_("Appeared"), "gone": N_("Gone"),
                           "changed": N_("Changed"), "unchanged": N_("Unchanged")}
KINDS = {"Point": "point", "LineString": "line", "Polygon": "polygon"}
MAX_VERTICES = 2000  # a hand-drawn feature; more is a pasted file
MAX_NOTE = 4000
NEAR_M = 250.0  # how far outside the scene's footprint a drawing may reach (edge fences)
GEOD = Geod(ellps="WGS84")
_TIER_RANK = {Tier.INTERNAL: 0, Tier.PARTNER: 1, Tier.PUBLIC: 2}
# fields recorded in the audit log; the note is reported as changed, never its text
AUDITED = ("scene_id", "site_id", "kind", "geometry", "label", "confidence", "change",
           "change_scene_id", "length_m", "area_m2", "tier", "deleted")


def can_annotate(viewer: Principal) -> bool:
    """Writing annotations: editors (EDIT) and imagery analysts (MANAGE_IMAGERY, the role the
    issue is for, which has no EDIT on testimonies)."""
    return viewer.can(Permission.EDIT) or viewer.can(Permission.MANAGE_IMAGERY)


def can_read_notes(viewer: Principal) -> bool:
    return can_annotate(viewer) or viewer.can(Permission.READ_NARRATIVES)


def _require_write(viewer: Principal) -> None:
    if not can_annotate(viewer):
        raise Forbidden(N_("Your role may not annotate imagery."))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- measuring and checking ----------------------------------------------------------------
def measure(g: BaseGeometry) -> tuple[float | None, float | None]:
    """(length in m, area in m²) on the WGS84 ellipsoid: a line's length, a polygon's
    perimeter and area; a point has neither."""
    if isinstance(g, Point):
        return None, None
    if isinstance(g, LineString):
        return round(GEOD.geometry_length(g), 2), None
    area, perimeter = GEOD.geometry_area_perimeter(g)
    return round(perimeter, 2), round(abs(area), 1)


def parse_geometry(value: Any) -> tuple[BaseGeometry, str]:
    """A Point, LineString or Polygon from GeoJSON (text, a geometry or a Feature): (geometry,
    kind). Coordinates are lon/lat (EPSG:4326)."""
    try:
        obj = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise InvalidInput(N_("The geometry is not valid GeoJSON."), field="geometry") from None
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") not in KINDS:
        raise InvalidInput(N_("Draw a point, a line or a polygon."), field="geometry")
    try:
        g = shape(obj)
    except Exception:  # shapely raises several types on malformed coordinates
        raise InvalidInput(N_("The geometry is not valid GeoJSON."), field="geometry") from None
    if g.is_empty or shapely.get_num_coordinates(g) > MAX_VERTICES:
        raise InvalidInput(Message(N_("A drawing needs 1 to %(max)s points."), max=MAX_VERTICES),
                           field="geometry")
    if g.has_z:
        g = shapely.force_2d(g)
    minx, miny, maxx, maxy = g.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput(N_("Coordinates are longitude, latitude in degrees."),
                           field="geometry")
    if not g.is_valid or (isinstance(g, Polygon) and g.area == 0) or (
            isinstance(g, LineString) and g.length == 0):
        raise InvalidInput(N_("The drawing crosses itself or has no extent."), field="geometry")
    return g, KINDS[obj["type"]]


def _near_footprint(g: BaseGeometry, footprint: BaseGeometry) -> bool:
    """Within the footprint, or outside it by at most NEAR_M metres (geodesic) anywhere."""
    outside = g.difference(footprint)
    if outside.is_empty:
        return True
    for c in shapely.get_coordinates(outside):
        p = Point(c)
        q = nearest_points(footprint, p)[0]
        if GEOD.line_length([q.x, p.x], [q.y, p.y]) > NEAR_M:
            return False
    return True


def _tier(*tiers: str | None) -> str:
    return str(min((Tier(t) for t in tiers if t), key=_TIER_RANK.__getitem__))


def _choice(vocab: Mapping[str, str], value: Any, field: str, message: str) -> str:
    if value not in vocab:
        raise InvalidInput(Message(message, value=str(value)[:40]), field=field)
    return value


def _validate(store: StoreLike, viewer: Principal, data: Mapping[str, Any],
              scene) -> dict:
    """The checked values of an annotation drawn on `scene` (a row of sql.scene_facts)."""
    g, kind = parse_geometry(data.get("geometry"))
    footprint = shapely.from_wkb(scene.footprint)
    if not _near_footprint(g, footprint):
        raise InvalidInput(N_("The drawing lies outside the scene's footprint."),
                           field="geometry")
    label = _choice(LABELS, data.get("label"), "label",
                    N_("Label %(value)s is not in the vocabulary."))
    confidence = _choice(CONFIDENCES, data.get("confidence") or "medium", "confidence",
                         N_("Confidence %(value)s: low, medium or high."))
    note = data.get("note") or None
    if note is not None:
        if not isinstance(note, str):
            raise InvalidInput(N_("The note must be text."), field="note")
        note = note.strip() or None
        if note and len(note) > MAX_NOTE:
            raise InvalidInput(Message(N_("The note is longer than %(max)s characters."),
                                       max=MAX_NOTE), field="note")
    site_id, site_tier = None, None
    if data.get("site_id") not in (None, ""):
        try:
            site_id = int(data["site_id"])
        except (TypeError, ValueError):
            raise InvalidInput(N_("No such site."), field="site_id") from None
        if not store.site_visible(site_id, viewer):
            raise InvalidInput(N_("No such site."), field="site_id")
        with store.read() as conn:
            site_tier = sql.site_facts(conn, site_id).tier
    change = data.get("change") or None
    change_scene_id = data.get("change_scene_id") or None
    if change is not None:
        _choice(CHANGES, change, "change", N_("Change %(value)s is not in the vocabulary."))
        if not change_scene_id:
            raise InvalidInput(N_("A change is against an earlier scene: choose it."),
                               field="change_scene_id")
    if change_scene_id is not None:
        with store.read() as conn:
            earlier = sql.scene_facts(conn, str(change_scene_id))
        if earlier is None or Tier(earlier.tier) not in viewer.tiers:
            raise InvalidInput(N_("No such scene."), field="change_scene_id")
        if earlier.acquired >= scene.acquired or earlier.id == scene.id:
            raise InvalidInput(N_("The scene compared against must be earlier than this one."),
                               field="change_scene_id")
        if change is None:
            raise InvalidInput(N_("Say how it changed against the earlier scene."),
                               field="change")
    length_m, area_m2 = measure(g)
    return {"scene_id": scene.id, "site_id": site_id, "kind": kind, "geometry": g,
            "label": label, "confidence": confidence, "change": change,
            "change_scene_id": change_scene_id, "length_m": length_m, "area_m2": area_m2,
            "tier": _tier(scene.tier, site_tier), "note": note, "deleted": False}


def _scene_for(store: StoreLike, viewer: Principal, scene_id: Any):
    with store.read() as conn:
        scene = sql.scene_facts(conn, str(scene_id or ""))
    if scene is None or Tier(scene.tier) not in viewer.tiers:
        raise NotFound(N_("No such scene."))
    return scene


def _row_values(v: Mapping[str, Any]) -> dict:
    """The stored columns of validated values (geometry as WKB plus its bbox)."""
    out = {k: v[k] for k in sql.PAYLOAD if k != "geom"}
    out.update(geom_columns(v["geometry"]))
    return out


def _version_values(store: StoreLike, aid: int, version: int, action: str, v: Mapping,
                    actor: str, at: datetime) -> dict:
    out = {k: v[k] for k in sql.PAYLOAD if k != "geom"}
    out.update(annotation_id=aid, version=version, action=action, author=actor, at=at,
               geom=shapely.to_wkb(v["geometry"]),
               note_enc=store.cipher.encrypt(v.get("note"), "annotation_versions",
                                             f"{aid}:{version}", "note"))
    return out


def _snapshot(v: Mapping[str, Any]) -> dict:
    """The audited fields as JSON values (geometry as GeoJSON rounded to ~10 cm)."""
    out = {k: v.get(k) for k in AUDITED if k != "geometry"}
    g = shapely.set_precision(v["geometry"], 1e-6)
    out["geometry"] = mapping(g)
    return json.loads(json.dumps(out, default=list))


def _from_row(r) -> dict:
    """Validated-values form of a stored current row (for before/after of an edit)."""
    v = {k: getattr(r, k) for k in sql.PAYLOAD if k != "geom"}
    v["deleted"] = bool(v["deleted"])
    v["geometry"] = shapely.from_wkb(r.geom)
    return v


def _note(store: StoreLike, aid: int, version: int, blob: bytes | None) -> str | None:
    return store.cipher.decrypt(blob, "annotation_versions", f"{aid}:{version}", "note")


# -- writes -----------------------------------------------------------------------------------
def create(store: StoreLike, viewer: Principal, data: Mapping[str, Any]) -> dict:
    """Add an annotation to a scene; audited as annotation.create with its values."""
    _require_write(viewer)
    scene = _scene_for(store, viewer, data.get("scene_id"))
    v = _validate(store, viewer, data, scene)
    now, details = _now(), {}
    with store.audited(viewer.username, "annotation.create", f"scene:{scene.id}",
                       details) as conn:
        aid = sql.insert(conn, {**_row_values(v), "version": 1, "created_by": viewer.username,
                                "created_at": now, "updated_by": viewer.username,
                                "updated_at": now})
        sql.add_version(conn, _version_values(store, aid, 1, "create", v, viewer.username, now))
        details.update(annotation=aid, version=1, before={}, after=_snapshot(v),
                       note_set=v["note"] is not None)
    return get(store, viewer, aid)


def _edit(store: StoreLike, viewer: Principal, aid: int, data: Mapping[str, Any] | None,
          expected_version: int | None) -> dict:
    _require_write(viewer)
    current = sql.one(store, aid, [str(t) for t in viewer.tiers])
    if current is None or current.deleted:
        raise NotFound(N_("No such annotation."))
    if data is not None:
        scene = _scene_for(store, viewer, current.scene_id)
        if data.get("scene_id") not in (None, current.scene_id):
            raise InvalidInput(N_("An annotation stays on its scene."), field="scene_id")
        v = _validate(store, viewer, {**data, "scene_id": current.scene_id}, scene)
        action, audit_action = "update", "annotation.update"
    else:
        v = None
        action, audit_action = "delete", "annotation.delete"
    now, details = _now(), {}
    with store.audited(viewer.username, audit_action, f"annotation:{aid}", details) as conn:
        row = sql.for_update(conn, aid)  # again, inside the write lock
        if row is None or row.deleted:
            raise NotFound(N_("No such annotation."))
        if expected_version is not None and row.version != expected_version:
            raise Conflict(Message(N_("Someone saved version %(version)s of this annotation "
                                      "meanwhile: reload it."), version=row.version))
        before = _from_row(row)
        before_note = _note(store, aid, row.version, sql.version_note(conn, aid, row.version))
        if v is None:  # a tombstone: the last state, marked deleted, note kept
            v = {**before, "deleted": True, "note": before_note}
        elif "note" not in data:  # an edit that does not mention the note keeps it
            v["note"] = before_note
        version = row.version + 1
        sql.update(conn, aid, {**_row_values(v), "version": version,
                               "updated_by": viewer.username, "updated_at": now})
        sql.add_version(conn, _version_values(store, aid, version, action, v,
                                              viewer.username, now))
        a, b = _snapshot(v), _snapshot(before)
        changed = [k for k in AUDITED if a[k] != b[k]]
        details.update(annotation=aid, version=version, before={k: b[k] for k in changed},
                       after={k: a[k] for k in changed},
                       note_changed=(v.get("note") != before_note))
    return get(store, viewer, aid, include_deleted=True)


def update(store: StoreLike, viewer: Principal, annotation_id: int, data: Mapping[str, Any],
           expected_version: int | None = None) -> dict:
    """Change an annotation (a new version; the earlier one is kept); audited with before and
    after of the fields that changed. `expected_version` refuses an edit of a stale copy."""
    return _edit(store, viewer, annotation_id, data, expected_version)


def delete(store: StoreLike, viewer: Principal, annotation_id: int,
           expected_version: int | None = None) -> dict:
    """Delete an annotation: a tombstone version; every earlier version stays."""
    return _edit(store, viewer, annotation_id, None, expected_version)


# -- reads --------------------------------------------------------------------------------------
def _out(store: StoreLike, viewer: Principal, r) -> dict:
    g = shapely.from_wkb(r.geom)
    out = {
        "id": r.id, "scene_id": r.scene_id, "scene_date": r.acquired.isoformat(),
        "sensor": r.sensor, "site_id": r.site_id, "site_key": r.site_key,
        "site_name": r.site_name, "kind": r.kind, "geometry": mapping(g), "label": r.label,
        "confidence": r.confidence, "change": r.change, "change_scene_id": r.change_scene_id,
        "length_m": r.length_m, "area_m2": r.area_m2,
        "area_km2": round(r.area_m2 / 1e6, 4) if r.area_m2 is not None else None,
        "tier": r.tier, "version": r.version, "deleted": bool(r.deleted),
        "created_by": r.created_by, "created_at": r.created_at.isoformat(timespec="seconds"),
        "updated_by": r.updated_by, "updated_at": r.updated_at.isoformat(timespec="seconds"),
    }
    if can_read_notes(viewer):
        out["note"] = _note(store, r.id, r.version, r.note_enc)
    return json.loads(json.dumps(out, default=list))


def get(store: StoreLike, viewer: Principal, annotation_id: int,
        include_deleted: bool = False) -> dict:
    r = sql.one(store, annotation_id, [str(t) for t in viewer.tiers])
    if r is None or (r.deleted and not include_deleted):
        raise NotFound(N_("No such annotation."))
    return _out(store, viewer, r)


def for_scene(store: StoreLike, viewer: Principal, scene_id: str) -> list[dict]:
    """A scene's annotations `viewer` may see (the scene must be visible to them)."""
    _scene_for(store, viewer, scene_id)
    return [_out(store, viewer, r)
            for r in sql.for_scene(store, scene_id, [str(t) for t in viewer.tiers])]


def history(store: StoreLike, viewer: Principal, annotation_id: int) -> list[dict]:
    """Every version of an annotation, newest first (who, when, what; notes for staff)."""
    if sql.one(store, annotation_id, [str(t) for t in viewer.tiers]) is None:
        raise NotFound(N_("No such annotation."))
    notes = can_read_notes(viewer)
    out = []
    for r in sql.versions(store, annotation_id):
        g = shapely.from_wkb(r.geom)
        h = {"version": r.version, "action": r.action, "author": r.author,
             "at": r.at.isoformat(timespec="seconds"), "label": r.label,
             "confidence": r.confidence, "change": r.change, "site_id": r.site_id,
             "geometry": mapping(g), "length_m": r.length_m, "area_m2": r.area_m2,
             "deleted": bool(r.deleted)}
        if notes:
            h["note"] = _note(store, annotation_id, r.version, r.note_enc)
        out.append(json.loads(json.dumps(h, default=list)))
    return out


def site_features(store: StoreLike, viewer: Principal, site_id: int) -> list[dict]:
    """A site's observed features grouped by scene date, oldest first: [{"date", "sensor",
    "scene_id", "features": [...]}] (for the dossier)."""
    groups: dict[str, dict] = {}
    rows = sql.for_site(store, site_id, [str(t) for t in viewer.tiers])
    earlier = sql.scene_dates(store, [r.change_scene_id for r in rows if r.change_scene_id])
    for r in rows:
        grp = groups.setdefault(r.scene_id, {"date": r.acquired.isoformat(), "sensor": r.sensor,
                                             "scene_id": r.scene_id, "features": []})
        d = earlier.get(r.change_scene_id)
        grp["features"].append({
            "id": r.id, "kind": r.kind, "label": r.label, "confidence": r.confidence,
            "change": r.change, "change_date": d.isoformat() if d else None,
            "length_m": r.length_m, "area_m2": r.area_m2})
    return list(groups.values())


# -- site geometry confirmed on imagery ---------------------------------------------------------
def confirm_site_geometry(store: StoreLike, viewer: Principal, annotation_id: int) -> dict:
    """Make a polygon annotation the geometry of its site confirmed on imagery (with its scene
    and date), kept apart from the reported point; audited as site.imagery_geometry."""
    _require_write(viewer)
    r = sql.one(store, annotation_id, [str(t) for t in viewer.tiers])
    if r is None or r.deleted:
        raise NotFound(N_("No such annotation."))
    if r.kind != "polygon":
        raise InvalidInput(N_("Only a polygon (a perimeter or a footprint) can be a site's "
                              "geometry."), field="annotation")
    if r.site_id is None:
        raise InvalidInput(N_("Choose the annotation's site first."), field="site_id")
    g = shapely.from_wkb(r.geom)
    details = {"annotation": r.id, "version": r.version, "scene": r.scene_id,
               "acquired": r.acquired.isoformat(), "area_m2": r.area_m2,
               "geometry": mapping(shapely.set_precision(g, 1e-6))}
    with store.audited(viewer.username, "site.imagery_geometry", r.site_key,
                       json.loads(json.dumps(details, default=list))) as conn:
        sql.add_site_geometry(conn, {
            "site_id": r.site_id, "annotation_id": r.id, "annotation_version": r.version,
            "scene_id": r.scene_id, "acquired": r.acquired, "geom": r.geom,
            "area_m2": r.area_m2, "tier": r.tier, "confirmed_by": viewer.username,
            "confirmed_at": _now()})
    return site_geometry(store, viewer, r.site_id)


def site_geometry(store: StoreLike, viewer: Principal, site_id: int) -> dict | None:
    """The site's geometry confirmed on imagery as `viewer` may see it, or None."""
    r = sql.site_geometry(store, site_id, [str(t) for t in viewer.tiers])
    if r is None:
        return None
    return {"geometry": mapping(shapely.from_wkb(r.geom)), "scene_id": r.scene_id,
            "date": r.acquired.isoformat(), "sensor": r.sensor, "area_m2": r.area_m2,
            "area_km2": round(r.area_m2 / 1e6, 4) if r.area_m2 is not None else None,
            "annotation_id": r.annotation_id, "annotation_version": r.annotation_version,
            "confirmed_by": r.confirmed_by,
            "confirmed_at": r.confirmed_at.isoformat(timespec="seconds")}


def confirmed_dates(store: StoreLike, viewer: Principal) -> dict[int, str]:
    """site id -> date of the scene its outline was confirmed on, for sites that have one
    `viewer` may see (the map's site popups)."""
    return {k: r.acquired.isoformat()
            for k, r in sql.site_geometries(store, [str(t) for t in viewer.tiers]).items()}


# -- exports ------------------------------------------------------------------------------------
def _export_properties(a: dict) -> dict:
    return {"id": a["id"], "label": a["label"], "label_text": LABELS[a["label"]],
            "confidence": a["confidence"], "scene_id": a["scene_id"],
            "scene_date": a["scene_date"], "sensor": a["sensor"], "site_key": a["site_key"],
            "length_m": a["length_m"], "area_m2": a["area_m2"], "area_km2": a["area_km2"],
            "change": a["change"], "change_scene_id": a["change_scene_id"],
            "version": a["version"], "author": a["updated_by"]}


def export_geojson(store: StoreLike, viewer: Principal, scene_id: str) -> dict:
    """A scene's annotations as a GeoJSON FeatureCollection (EPSG:4326; notes left out)."""
    feats = [{"type": "Feature", "id": a["id"], "geometry": a["geometry"],
              "properties": _export_properties(a)}
             for a in for_scene(store, viewer, scene_id)]
    return {"type": "FeatureCollection", "features": feats}


def _kml_colour(hex_rgb: str, alpha: int) -> str:
    """KML colours are aabbggrr."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}".lower()


def _coords(seq) -> str:
    return " ".join(f"{x:.7f},{y:.7f}" for x, y in seq)


def export_kml(store: StoreLike, viewer: Principal, scene_id: str) -> bytes:
    """A scene's annotations as KML 2.2: a Placemark each with a TimeStamp of the scene's
    acquisition date and a Style per label (Google Earth, QGIS). Text is escaped by the XML
    writer; notes are left out."""
    items = for_scene(store, viewer, scene_id)
    ns = "http://www.opengis.net/kml/2.2"
    ET.register_namespace("", ns)

    def el(parent, tag, text=None, **attrib):
        e = ET.SubElement(parent, f"{{{ns}}}{tag}", attrib)
        if text is not None:
            e.text = str(text)
        return e

    root = ET.Element(f"{{{ns}}}kml")
    doc = el(root, "Document")
    el(doc, "name", f"geomap annotations, scene {scene_id}")
    for label, colour in LABEL_COLOURS.items():
        st = el(doc, "Style", id=f"label-{label}")
        icon = el(st, "IconStyle")
        el(icon, "color", _kml_colour(colour, 255))
        line = el(st, "LineStyle")
        el(line, "color", _kml_colour(colour, 255))
        el(line, "width", 2)
        poly = el(st, "PolyStyle")
        el(poly, "color", _kml_colour(colour, 0x40))
    for a in items:
        p = _export_properties(a)
        pm = el(doc, "Placemark", id=f"annotation-{a['id']}")
        el(pm, "name", f"{LABELS[a['label']]} #{a['id']}")
        ts = el(pm, "TimeStamp")
        el(ts, "when", a["scene_date"])
        el(pm, "styleUrl", f"#label-{a['label']}")
        ext = el(pm, "ExtendedData")
        for k, v in p.items():
            if v is not None:
                d = el(ext, "Data", name=k)
                el(d, "value", v)
        geom = a["geometry"]
        if geom["type"] == "Point":
            el(el(pm, "Point"), "coordinates", _coords([geom["coordinates"]]))
        elif geom["type"] == "LineString":
            ls = el(pm, "LineString")
            el(ls, "tessellate", 1)
            el(ls, "coordinates", _coords(geom["coordinates"]))
        else:
            pg = el(pm, "Polygon")
            el(pg, "tessellate", 1)
            for i, ring in enumerate(geom["coordinates"]):
                b = el(pg, "outerBoundaryIs" if i == 0 else "innerBoundaryIs")
                el(el(b, "LinearRing"), "coordinates", _coords(ring))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def export(store: StoreLike, viewer: Principal, scene_id: str, fmt: str) -> tuple[bytes, str]:
    """(body, media type) of a scene's annotations as `fmt` ("geojson" or "kml"); the page and
    `geomap annotations export` both end here."""
    if fmt == "geojson":
        body = json.dumps(export_geojson(store, viewer, scene_id), ensure_ascii=False)
        return body.encode("utf-8"), "application/geo+json"
    if fmt == "kml":
        return export_kml(store, viewer, scene_id), "application/vnd.google-earth.kml+xml"
    raise InvalidInput(N_("Format: geojson or kml."), field="format")
