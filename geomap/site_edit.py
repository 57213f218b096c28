"""Adding and editing a site by hand: check a submitted form, write the site and its audit entry.

The web page and any later command share this. A form is a mapping of text fields (as an HTML
form sends them) plus `citations`, a list of dicts. `validate_site_form` collects every problem,
each naming its field, so a page can show all of them next to their fields at once. Writes read
the stored site inside the write transaction and record the before/after of the fields that
changed (geometry as GeoJSON) in the same transaction.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from . import geojson
from .errors import InvalidInput, NotFound
from .messages import N_, Message
from .model import (
    Authority,
    Citation,
    Confidence,
    FacilityType,
    Precision,
    Site,
    SiteStatus,
    Tier,
    operating_period,
)
from .sites import site_key

if TYPE_CHECKING:
    from .store.protocol import StoreLike

# The Korean peninsula and its islands, roughly: a point outside is a typo (swapped or
# sign-flipped coordinates), not a site.
LAT_RANGE = (33.0, 43.5)
LON_RANGE = (124.0, 132.0)
MAX_VERTICES = 2000  # a hand-drawn outline; more is a pasted file, not a perimeter
MAX_PERIMETER_DISTANCE_M = 5_000.0  # the outline must contain the point or lie this near it
MAX_CITATIONS = 50
SUPPORTS = ("location", "status", "name")
_LIMITS = {"name": 200, "name_ko": 200, "note": 1000, "research_note": 5000}

# what the audit entry compares, in form order
AUDITED = ("name", "name_ko", "aliases", "facility_type", "authority", "point", "perimeter",
           "precision", "extent_km2", "opened", "opened_approx", "closed", "closed_approx",
           "status", "confidence", "tier", "note", "research_note", "citations")


class SiteFormError(InvalidInput):
    """Every problem of a submitted site form: `errors` maps a form field to its message."""

    def __init__(self, errors: dict[str, Message]):
        # the English text names every field (a command prints it); pages show each message
        # beside its field
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors.items()),
                         field=next(iter(errors)))
        self.errors = errors


def _text(fields: Mapping[str, Any], name: str) -> str:
    v = fields.get(name)
    return str(v).strip() if v is not None else ""


def _flag(fields: Mapping[str, Any], name: str) -> bool:
    v = fields.get(name)
    return v is True or str(v or "").strip().lower() in ("1", "on", "yes", "true")


def _choice(enum, value: str, errors: dict, field: str, optional: bool):
    if not value:
        if not optional:
            errors[field] = Message(N_("Choose one."))
        return None
    try:
        return enum(value)
    except ValueError:
        errors[field] = Message(N_("%(value)s is not one of the listed choices."),
                                value=repr(value)[:60])
        return None


def _number(text: str, errors: dict, field: str, lo: float, hi: float, cast=float) -> Any:
    if not text:
        return None
    try:
        v = cast(text.replace(",", "."))
    except ValueError:
        errors[field] = Message(N_("%(value)s is not a number."), value=repr(text)[:40])
        return None
    if v != v or not lo <= v <= hi:  # NaN, or out of range
        errors[field] = Message(N_("Must be between %(lo)s and %(hi)s."), lo=lo, hi=hi)
        return None
    return v


def parse_perimeter(value: Any) -> BaseGeometry | None:
    """A Polygon or MultiPolygon from GeoJSON text or a dict (a geometry, a Feature, or a
    FeatureCollection of polygons as a drawing tool exports them); None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        obj = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise InvalidInput(N_("The perimeter is not valid GeoJSON."), field="perimeter") from None
    if not isinstance(obj, dict):
        raise InvalidInput(N_("The perimeter is not valid GeoJSON."), field="perimeter")
    if obj.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") for f in obj.get("features") or [] if isinstance(f, dict)]
    elif obj.get("type") == "Feature":
        geoms = [obj.get("geometry")]
    else:
        geoms = [obj]
    polys: list[Polygon] = []
    for gj in geoms:
        try:
            g = shape(gj)
        except Exception:  # shapely raises several types on malformed input
            raise InvalidInput(N_("The perimeter is not valid GeoJSON."), field="perimeter") from None
        if isinstance(g, Polygon):
            polys.append(g)
        elif isinstance(g, MultiPolygon):
            polys.extend(g.geoms)
        else:
            raise InvalidInput(N_("Draw the perimeter as a polygon (not a line or a point)."),
                               field="perimeter")
    if not polys:
        return None
    g = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    if shapely.get_num_coordinates(g) > MAX_VERTICES:
        raise InvalidInput(Message(N_("The perimeter has more than %(max)s points."), max=MAX_VERTICES),
                           field="perimeter")
    if g.is_empty or not g.is_valid or g.area == 0:
        raise InvalidInput(N_("The perimeter crosses itself or encloses nothing."),
                           field="perimeter")
    minx, miny, maxx, maxy = g.bounds
    if not (LON_RANGE[0] <= minx and maxx <= LON_RANGE[1]
            and LAT_RANGE[0] <= miny and maxy <= LAT_RANGE[1]):
        raise InvalidInput(N_("The perimeter lies outside the Korean peninsula."), field="perimeter")
    return g


def _metric(g: BaseGeometry) -> BaseGeometry:
    """`g` in metres: UTM zone 52N, the linker's metric CRS (geomap.corroboration.METRIC)."""
    import numpy as np

    from .corroboration import METRIC

    def project(c):
        x, y = METRIC.transform(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(g, project)


def area_km2(g: BaseGeometry) -> float:
    """Area of a lon/lat polygon in km²."""
    a = _metric(g).area / 1e6
    return round(a, 3) if a < 10 else round(a, 1)


def _citations(rows: Any, errors: dict) -> list[Citation]:
    out: list[Citation] = []
    for i, r in enumerate(rows or []):
        if i >= MAX_CITATIONS:
            errors["citations"] = Message(N_("At most %(max)s sources."), max=MAX_CITATIONS)
            break
        publisher, title, url, when = (_text(r, k) for k in ("publisher", "title", "url", "date"))
        if not (publisher or title or url or when):
            continue  # an empty row
        pos = len(out)
        if not publisher:
            errors[f"src-{pos}-publisher"] = Message(
                N_("Source %(n)s: the publisher is required."), n=pos + 1)
        if url and not re.fullmatch(r"https?://[^\s\"'<>]+", url):
            errors[f"src-{pos}-url"] = Message(
                N_("Source %(n)s: the address must start with http:// or https://."), n=pos + 1)
        sup = r.get("supports") or []
        sup = [x.strip() for x in (sup.split(",") if isinstance(sup, str) else sup) if x.strip()]
        if bad := [x for x in sup if x not in SUPPORTS]:
            errors[f"src-{pos}-supports"] = Message(
                N_("Source %(n)s: %(value)s is not one of location, status, name."),
                n=pos + 1, value=repr(bad[0])[:40])
        out.append(Citation(
            publisher=publisher[:300], title=title[:500] or None, url=url[:2000] or None,
            date=when[:32] or None, supports=[x for x in SUPPORTS if x in sup],
            accessed_via=_text(r, "accessed_via") or None, point_source=_flag(r, "point_source"),
            detail=_text(r, "detail") or None))
    return out


def validate_site_form(fields: Mapping[str, Any]) -> dict:
    """The cleaned values of a site form, or SiteFormError naming every bad field.

    Keys of the result: name, name_ko, aliases, facility_type, authority, point, perimeter,
    precision, extent_km2, opened, opened_approx, closed, closed_approx, status, confidence,
    tier, note, research_note, citations."""
    errors: dict[str, Message] = {}
    out: dict[str, Any] = {}
    out["name"] = _text(fields, "name")
    if not out["name"]:
        errors["name"] = Message(N_("The English name is required."))
    out["name_ko"] = _text(fields, "name_ko") or None
    for f, limit in _LIMITS.items():
        if len(_text(fields, f)) > limit:
            errors[f] = Message(N_("At most %(max)s characters."), max=limit)
    raw_aliases = fields.get("aliases") or []
    if isinstance(raw_aliases, str):
        raw_aliases = raw_aliases.splitlines()
    aliases = []
    for a in (str(x).strip() for x in raw_aliases):
        if a and a not in aliases:
            aliases.append(a[:200])
    if len(aliases) > 50:
        errors["aliases"] = Message(N_("At most %(max)s other names."), max=50)
    out["aliases"] = aliases
    for f, enum, optional in (("facility_type", FacilityType, False),
                              ("authority", Authority, True), ("precision", Precision, False),
                              ("status", SiteStatus, True), ("confidence", Confidence, True),
                              ("tier", Tier, False)):
        out[f] = _choice(enum, _text(fields, f), errors, f, optional)

    # outside these ranges is off the Korean peninsula
    lat = _number(_text(fields, "lat"), errors, "lat", *LAT_RANGE)
    lon = _number(_text(fields, "lon"), errors, "lon", *LON_RANGE)
    if "lat" not in errors and "lon" not in errors and (lat is None) != (lon is None):
        errors["lat" if lat is None else "lon"] = Message(
            N_("Give both latitude and longitude, or neither."))
    out["point"] = Point(round(lon, 6), round(lat, 6)) if lat is not None and lon is not None \
        else None

    try:
        out["perimeter"] = parse_perimeter(fields.get("perimeter"))
    except InvalidInput as e:
        errors["perimeter"] = e.msg or Message(str(e))
        out["perimeter"] = None
    if out["perimeter"] is not None and out["point"] is not None \
            and _metric(out["perimeter"]).distance(_metric(out["point"])) \
            > MAX_PERIMETER_DISTANCE_M:
        errors["perimeter"] = Message(
            N_("The perimeter is more than %(km)s km from the site's point."),
            km=int(MAX_PERIMETER_DISTANCE_M / 1000))
    out["extent_km2"] = _number(_text(fields, "extent_km2"), errors, "extent_km2",
                                0.0001, 10_000.0)

    this_year = datetime.now(UTC).year
    out["opened"] = _number(_text(fields, "opened"), errors, "opened", 1900, this_year, int)
    out["closed"] = _number(_text(fields, "closed"), errors, "closed", 1900, this_year, int)
    out["opened_approx"] = _flag(fields, "opened_approx") and out["opened"] is not None
    out["closed_approx"] = _flag(fields, "closed_approx") and out["closed"] is not None
    if out["opened"] is not None and out["closed"] is not None and out["opened"] > out["closed"]:
        errors["closed"] = Message(N_("The year it closed is before the year it opened."))
    out["note"] = _text(fields, "note") or None
    out["research_note"] = _text(fields, "research_note") or None
    out["citations"] = _citations(fields.get("citations"), errors)
    if errors:
        raise SiteFormError(errors)
    return out


def snapshot(s: Site) -> dict:
    """The audited fields of a site as JSON values (geometry as GeoJSON, rounded like the API)."""
    return {
        "name": s.name, "name_ko": s.name_ko, "aliases": list(s.aliases),
        "facility_type": str(s.facility_type),
        "authority": str(s.authority) if s.authority else None,
        "point": geojson.geometry(s.geometry), "perimeter": geojson.geometry(s.perimeter),
        "precision": str(s.precision), "extent_km2": s.extent_km2,
        "opened": s.opened, "opened_approx": s.opened_approx, "closed": s.closed,
        "closed_approx": s.closed_approx, "status": str(s.status) if s.status else None,
        "confidence": str(s.confidence) if s.confidence else None, "tier": str(s.tier),
        "note": s.note, "research_note": s.research_note,
        "citations": [{k: v for k, v in dataclasses.asdict(c).items() if v not in (None, [], False)}
                      for c in s.citations],
    }


def _apply(site: Site, v: dict, store: StoreLike) -> Site:
    """`site` with the form's values; operating period and province follow what changed."""
    from .boundaries import tagger_for

    new = dataclasses.replace(
        site, name=v["name"], name_ko=v["name_ko"], aliases=v["aliases"],
        facility_type=v["facility_type"], authority=v["authority"], geometry=v["point"],
        perimeter=v["perimeter"], precision=v["precision"], extent_km2=v["extent_km2"],
        opened=v["opened"], opened_approx=v["opened_approx"], closed=v["closed"],
        closed_approx=v["closed_approx"], status=v["status"], confidence=v["confidence"],
        tier=v["tier"], note=v["note"], research_note=v["research_note"],
        citations=v["citations"])
    if new.name_ko != site.name_ko:
        new.name_ko_composed = False  # a person wrote it now
    if (new.opened, new.closed, new.opened_approx, new.closed_approx) != \
            (site.opened, site.closed, site.opened_approx, site.closed_approx) or site.id is None:
        new.period = operating_period(new.opened, new.opened_approx, new.closed,
                                      new.closed_approx) or (site.period if site.id else None)
    if site.id is None or geojson.geometry(new.geometry) != geojson.geometry(site.geometry):
        new.admin1 = tagger_for(store).tag([new.geometry])[0] if new.geometry else None
    return new


def _extent(v: dict, before: Site | None) -> None:
    """Measure a drawn perimeter unless the researcher gave an extent of their own (an extent
    left as it was while the outline changed is the old outline's, so it is measured again)."""
    per = v["perimeter"]
    if per is None:
        # an outline removed takes its measured extent with it (one typed in stays)
        if before is not None and before.perimeter is not None \
                and v["extent_km2"] is not None and v["extent_km2"] == before.extent_km2 \
                and before.extent_km2 == area_km2(before.perimeter):
            v["extent_km2"] = None
        return
    changed = before is None or geojson.geometry(per) != geojson.geometry(before.perimeter)
    if v["extent_km2"] is None or (changed and before is not None
                                   and v["extent_km2"] == before.extent_km2):
        v["extent_km2"] = area_km2(per)


def new_key(store: StoreLike, name: str) -> str:
    """A free key from the English name: slug, then slug-2, slug-3..."""
    from .store import site_writes

    base = site_key(name) or "site"
    with store.read() as conn:
        taken = site_writes.keys_like(conn, base)
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def create_site(store: StoreLike, fields: Mapping[str, Any], actor: str) -> Site:
    """Check the form and add the site, audited as site.create with its values as `after`."""
    from .store import site_writes

    v = validate_site_form(fields)
    _extent(v, None)
    key = new_key(store, v["name"])
    blank = Site(key=key, name=v["name"], facility_type=v["facility_type"], geometry=None,
                 precision=v["precision"])
    site = _apply(blank, v, store)
    details: dict = {}
    with store.audited(actor, "site.create", key, details) as conn:
        if site_writes.key_taken(conn, key):  # taken since new_key looked: try again
            raise InvalidInput(N_("Another site took this name's key just now: save again."),
                               field="name")
        site_writes.insert_site(conn, store, site)
        after = snapshot(site)
        details.update(before={}, after={k: after[k] for k in AUDITED
                                         if after[k] not in (None, [], False)})
    return site


def update_site(store: StoreLike, key: str, fields: Mapping[str, Any], actor: str) -> Site:
    """Check the form and change the site `key`, audited as site.update with before/after of
    the fields that changed (an entry with nothing changed still records the save)."""
    from .store import site_writes

    v = validate_site_form(fields)
    details: dict = {}
    with store.audited(actor, "site.update", key, details) as conn:
        before = site_writes.site_for_update(conn, store, key)
        if before is None:
            raise NotFound(f"no site {key!r}")
        _extent(v, before)
        site = _apply(before, v, store)
        site_writes.update_site(conn, store, site)
        a, b = snapshot(site), snapshot(before)
        changed = [k for k in AUDITED if a[k] != b[k]]
        details.update(before={k: b[k] for k in changed}, after={k: a[k] for k in changed})
    return site


def form_fields(site: Site | None) -> dict:
    """A site as the form's text fields (what the edit page starts from)."""
    if site is None:
        return {"facility_type": "", "precision": "locality", "tier": "internal",
                "citations": []}
    g = site.geometry
    return {
        "name": site.name, "name_ko": site.name_ko or "", "aliases": "\n".join(site.aliases),
        "facility_type": str(site.facility_type),
        "authority": str(site.authority) if site.authority else "",
        "lat": f"{g.y:.6f}" if g is not None else "", "lon": f"{g.x:.6f}" if g is not None else "",
        "perimeter": json.dumps(geojson.geometry(site.perimeter)) if site.perimeter else "",
        "precision": str(site.precision),
        "extent_km2": f"{site.extent_km2:g}" if site.extent_km2 is not None else "",
        "opened": str(site.opened or ""), "opened_approx": site.opened_approx,
        "closed": str(site.closed or ""), "closed_approx": site.closed_approx,
        "status": str(site.status) if site.status else "",
        "confidence": str(site.confidence) if site.confidence else "",
        "tier": str(site.tier), "note": site.note or "", "research_note": site.research_note or "",
        "citations": [{"publisher": c.publisher, "title": c.title or "", "url": c.url or "",
                       "date": c.date or "", "supports": list(c.supports),
                       "accessed_via": c.accessed_via or "", "point_source": c.point_source,
                       "detail": c.detail or ""} for c in site.citations],
    }
