"""OGC API - Features, Part 1 (Core, GeoJSON, OpenAPI 3.0): the documents, as plain data.

The web layer (geomap.web.ogcapi) parses a request, calls one function here and sends what it
returns; nothing here knows Flask (as pygeoapi's api functions do not). `base` is the API's
external address (…/ogcapi) so every link is absolute, as clients such as GDAL follow them.

Collections: `sites` (the map's site features), `testimonies` (points only, with the fields
the viewer's role may see: the JSON API's allow-lists and store methods; never a narrative),
`boundaries` (provinces and counties) and `annotations` (what analysts marked on imagery, with
the annotation export's fields: never a note). What a role may not see is not in a collection,
and an item it may not see is a 404 like one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import shapely
from shapely.geometry import box

from . import features, geojson
from .boundaries import unit_names
from .errors import InvalidInput, NotFound
from .periods import Period
from .policy import Permission, Principal

if TYPE_CHECKING:
    from .corroboration import GradeRule
    from .store import BBox
    from .store.protocol import StoreLike

# -- conformance: the classes this module implements, declared beside the code ------------------
CONF_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
CONF_GEOJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
CONF_OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"
CONFORMANCE = (CONF_CORE, CONF_GEOJSON, CONF_OAS30)

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000_000
ITEMS_PARAMS = frozenset({"bbox", "datetime", "limit", "offset", "f", "lang"})
DOC_PARAMS = frozenset({"f", "lang"})


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    title: str
    description: str
    temporal: str | None  # what datetime filters on, or None (then it is ignored)


COLLECTIONS: dict[str, CollectionInfo] = {c.id: c for c in (
    CollectionInfo("sites", "Detention sites",
                   "Reported and confirmed detention and related sites, with their grade of "
                   "corroboration. datetime filters on the operating period; a site whose "
                   "period is unknown is kept (it may have operated then).",
                   "operating period"),
    CollectionInfo("testimonies", "Testimony locations",
                   "Where testimonies place what they report: points with an uncertainty "
                   "radius, and only the fields your role may read (never a narrative). "
                   "datetime filters on the period the testimony reports.",
                   "reported period"),
    CollectionInfo("boundaries", "Administrative boundaries",
                   "Provinces and counties (level 1 and 2). No time: datetime is ignored.",
                   None),
    CollectionInfo("annotations", "Imagery annotations",
                   "What analysts marked on dated satellite scenes (points, lines, polygons) "
                   "with label, confidence, scene, date and geodesic measures; the annotation "
                   "export's fields (never a note). datetime filters on the scene's date.",
                   "scene date"),
)}


@dataclass(frozen=True)
class ItemsQuery:
    bbox: BBox | None = None
    period: Period | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    raw: Mapping[str, str] | None = None  # the query as sent, for self/next links


# -- parsing what only the OGC API takes ------------------------------------------------------
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _instant(text: str, name: str) -> date:
    """A date or an RFC 3339 date-time (taken as its UTC day: periods are kept in days)."""
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        if "T" not in text.upper():
            raise ValueError
        t = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError
        return t.astimezone(UTC).date()
    except ValueError:
        raise InvalidInput(f"{name}: {text!r} is not an RFC 3339 date or date-time "
                           "(e.g. 2004-05-01 or 2004-05-01T00:00:00Z)", field=name) from None


def parse_datetime(text: str | None, name: str = "datetime") -> Period | None:
    """OGC `datetime`: an instant, `start/end`, or an interval open at one end (`../end`,
    `start/..`, or an empty side). None when absent."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        raise InvalidInput(f"{name}: empty; give a date, a date-time or an interval", field=name)
    if "/" not in text:
        d = _instant(text, name)
        return Period(text, d, d)
    parts = text.split("/")
    if len(parts) != 2:
        raise InvalidInput(f"{name}: an interval has one '/' (start/end)", field=name)
    start, end = (None if p.strip() in ("", "..") else _instant(p.strip(), name) for p in parts)
    if start is None and end is None:
        raise InvalidInput(f"{name}: an interval needs at least one end", field=name)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"{name}: the start is after the end", field=name)
    return Period(text, start, end)


def check_format(args: Mapping[str, str], allowed: frozenset[str]) -> None:
    """Unknown parameters and formats other than JSON are refused (400), as Core asks."""
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; this resource accepts: "
                           f"{', '.join(sorted(allowed))}", field=unknown[0])
    f = args.get("f")
    if f is not None and f not in ("json", "geojson"):
        raise InvalidInput(f"f: {f!r} is not offered; this API answers in JSON (f=json)",
                           field="f")


# -- documents --------------------------------------------------------------------------------
def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str) -> dict:
    return {
        "title": "geomap OGC API - Features",
        "description": "Sites, testimony locations and boundaries of this geomap instance, "
                       "as your account may see them.",
        "links": [
            _link(f"{base}?f=json", "self", JSON, "This document"),
            _link(f"{base}/api", "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            _link(f"{base}/collections", "data", JSON, "Collections"),
        ],
    }


def conformance() -> dict:
    return {"conformsTo": list(CONFORMANCE)}


def _extent(store: StoreLike) -> dict:
    units = store.boundary_units(0) or store.boundary_units(1)
    bounds = shapely.total_bounds([u.geometry for u in units]) if units else None
    bbox = [round(float(v), 6) for v in bounds] if bounds is not None else [-180, -90, 180, 90]
    return {"spatial": {"bbox": [bbox], "crs": CRS84},
            "temporal": {"interval": [[None, None]], "trs": GREGORIAN}}


def _collection(c: CollectionInfo, base: str, extent: dict) -> dict:
    url = f"{base}/collections/{c.id}"
    return {
        "id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
        "crs": [CRS84], "storageCrs": CRS84, "extent": extent,
        "links": [
            _link(url, "self", JSON, c.title),
            _link(f"{url}/items", "items", GEOJSON, f"{c.title} (GeoJSON)"),
        ],
    }


def collections(store: StoreLike, base: str) -> dict:
    extent = _extent(store)
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "Collections")],
        "collections": [_collection(c, base, extent) for c in COLLECTIONS.values()],
    }


def collection(store: StoreLike, base: str, collection_id: str) -> dict:
    return _collection(_info(collection_id), base, _extent(store))


def _info(collection_id: str) -> CollectionInfo:
    c = COLLECTIONS.get(collection_id)
    if c is None:
        raise NotFound(f"no collection {collection_id!r}", field="collectionId")
    return c


# -- items ------------------------------------------------------------------------------------
def _site_items(store: StoreLike, viewer: Principal, rule: GradeRule,
                q: ItemsQuery) -> tuple[list[dict], int]:
    found = features.sites_in_view(store, viewer, rule, period=q.period, bbox=q.bbox)["features"]
    return found[q.offset:q.offset + q.limit], len(found)


def _testimony_items(store: StoreLike, viewer: Principal, q: ItemsQuery,
                     ids: tuple[int, ...] = ()) -> tuple[list[dict], int]:
    from .store import TestimonyFilter

    rows, total = store.testimony_rows(TestimonyFilter(bbox=q.bbox, period=q.period, ids=ids),
                                       viewer, limit=q.limit, offset=q.offset)
    return geojson.testimony_features(rows, unit_names(store.boundary_units(1)),
                                      with_codes=viewer.can(Permission.READ_WITNESS_CODES)), total


def _boundary_items(store: StoreLike, q: ItemsQuery) -> tuple[list[dict], int]:
    units = [u for u in store.boundary_units() if u.level in (1, 2)]
    if q.bbox is not None:
        hit = shapely.intersects([u.geometry for u in units], box(*q.bbox))
        units = [u for u, h in zip(units, hit, strict=True) if h]
    page = units[q.offset:q.offset + q.limit]
    return [_boundary_feature(u) for u in page], len(units)


def _annotation_items(store: StoreLike, viewer: Principal,
                      q: ItemsQuery) -> tuple[list[dict], int]:
    """Every scene's annotations the viewer may see, through the annotation export's
    allow-list (geomap.annotations: no notes), oldest scene first, then by id."""
    from . import annotations
    from .store.scenes import SceneStore

    p = q.period
    found: list[dict] = []
    for scene in SceneStore(store).list(viewer, bbox=q.bbox, since=p.earliest if p else None,
                                        until=p.latest if p else None):
        found += sorted(annotations.export_geojson(store, viewer, scene.id)["features"],
                        key=lambda f: f["id"])
    if q.bbox is not None and found:
        from shapely.geometry import shape

        hit = shapely.intersects([shape(f["geometry"]) for f in found], box(*q.bbox))
        found = [f for f, h in zip(found, hit, strict=True) if h]
    return found[q.offset:q.offset + q.limit], len(found)


def _annotation_item(store: StoreLike, viewer: Principal, fid: int) -> dict | None:
    from . import annotations

    try:
        scene_id = annotations.get(store, viewer, fid)["scene_id"]
    except NotFound:
        return None
    return next((f for f in annotations.export_geojson(store, viewer, scene_id)["features"]
                 if f["id"] == fid), None)


def _boundary_feature(u) -> dict:
    f = geojson.boundary_feature(u)
    f["id"] = u.id  # the code repeats across levels; the row id does not
    return f


def _page_links(base: str, collection_id: str, q: ItemsQuery, returned: int,
                matched: int) -> list[dict]:
    url = f"{base}/collections/{collection_id}/items"
    raw = {k: v for k, v in (q.raw or {}).items() if k not in ("offset", "f")}

    def at(offset: int) -> str:
        args = {**raw, "limit": str(q.limit), **({"offset": str(offset)} if offset else {})}
        return f"{url}?{urlencode(args)}"

    links = [_link(at(q.offset), "self", GEOJSON, "This page"),
             _link(f"{base}/collections/{collection_id}", "collection", JSON, "The collection")]
    if q.offset + returned < matched:
        links.append(_link(at(q.offset + q.limit), "next", GEOJSON, "Next page"))
    if q.offset > 0:
        links.append(_link(at(max(0, q.offset - q.limit)), "prev", GEOJSON, "Previous page"))
    return links


def items(store: StoreLike, viewer: Principal, rule: GradeRule, base: str,
          collection_id: str, q: ItemsQuery) -> dict:
    """One page of a collection's features, with numberMatched, numberReturned, timeStamp
    and next/prev links (offset paging, stable order)."""
    _info(collection_id)
    fetch: dict[str, Callable[[], tuple[list[dict], int]]] = {
        "sites": lambda: _site_items(store, viewer, rule, q),
        "testimonies": lambda: _testimony_items(store, viewer, q),
        "boundaries": lambda: _boundary_items(store, q),
        "annotations": lambda: _annotation_items(store, viewer, q),
    }
    feats, matched = fetch[collection_id]()
    return geojson.collection(
        feats, numberMatched=matched, numberReturned=len(feats),
        timeStamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        links=_page_links(base, collection_id, q, len(feats), matched))


def item(store: StoreLike, viewer: Principal, rule: GradeRule, base: str, collection_id: str,
         feature_id: str) -> dict:
    """One feature; 404 for one that does not exist or that the viewer may not see."""
    _info(collection_id)
    found: dict | None = None
    if collection_id == "sites":
        site = store.site_by_key(feature_id, viewer)
        if site is not None:  # as features.sites_in_view builds each of its features
            w, first = store.site_support(viewer).get(site.id, (0, 0))
            found = geojson.site_feature(site, unit_names(store.boundary_units(1)),
                                         rule.grade(w, first), w)
    elif feature_id.isdigit() and len(feature_id) <= 18:
        fid = int(feature_id)
        if collection_id == "testimonies":
            feats, _n = _testimony_items(store, viewer, ItemsQuery(limit=1), ids=(fid,))
            found = feats[0] if feats else None
        elif collection_id == "annotations":
            found = _annotation_item(store, viewer, fid)
        else:
            found = next((_boundary_feature(u) for u in store.boundary_units()
                          if u.id == fid and u.level in (1, 2)), None)
    if found is None:
        raise NotFound(f"no feature {feature_id!r} in {collection_id!r}", field="featureId")
    url = f"{base}/collections/{collection_id}"
    found["links"] = [_link(f"{url}/items/{feature_id}", "self", GEOJSON, "This feature"),
                      _link(url, "collection", JSON, "The collection")]
    return found


# -- the API definition -------------------------------------------------------------------------
def openapi(base: str) -> dict:
    """OpenAPI 3.0 for what this module serves (the oas30 conformance class)."""
    def param(name: str, where: str, schema: dict, desc: str, required: bool = False,
              **extra) -> dict:
        return {"name": name, "in": where, "required": required, "schema": schema,
                "description": desc, **extra}

    f = param("f", "query", {"type": "string", "enum": ["json"]}, "The format (JSON only).")
    cid = param("collectionId", "path", {"type": "string", "enum": list(COLLECTIONS)},
                "A collection.", True)
    fid = param("featureId", "path", {"type": "string"}, "A feature.", True)
    items_params = [
        cid, f,
        param("bbox", "query", {"type": "array", "minItems": 4, "maxItems": 4,
                                "items": {"type": "number"}},
              "minlon,minlat,maxlon,maxlat (CRS84)", style="form", explode=False),
        param("datetime", "query", {"type": "string"},
              "An instant or an interval (start/end, '..' for an open end)."),
        param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                 "default": DEFAULT_LIMIT}, "Features per page.",
              style="form", explode=False),
        param("offset", "query", {"type": "integer", "minimum": 0, "default": 0},
              "Features to skip (the next link sets it)."),
    ]

    def ok(desc: str, media: str) -> dict:
        return {"200": {"description": desc, "content": {media: {"schema": {"type": "object"}}}},
                "400": {"description": "A parameter is wrong (the body names it)."},
                "401": {"description": "Sign in, or send an API token (Authorization: Bearer, "
                                       "or as the password of HTTP Basic)."},
                "404": {"description": "No such collection or feature (or not yours to see)."}}

    def op(op_id: str, summary: str, params: list, desc: str, media: str = JSON) -> dict:
        return {"get": {"operationId": op_id, "summary": summary, "parameters": params,
                        "responses": ok(desc, media)}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "geomap OGC API - Features", "version": "1.0.0",
                 "description": "OGC API - Features Part 1 (Core, GeoJSON)."},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic",
                      "description": "Any user name; the API token as the password."}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/": op("getLandingPage", "Landing page", [f], "Links to the API's resources."),
            "/conformance": op("getConformance", "Conformance classes", [f],
                               "The conformance classes implemented."),
            "/api": op("getOpenAPI", "This API definition", [f], "OpenAPI 3.0.", OPENAPI),
            "/collections": op("getCollections", "Collections", [f], "The collections."),
            "/collections/{collectionId}": op("describeCollection", "A collection", [cid, f],
                                              "The collection."),
            "/collections/{collectionId}/items": op("getFeatures", "Features", items_params,
                                                    "A page of features.", GEOJSON),
            "/collections/{collectionId}/items/{featureId}": op(
                "getFeature", "A feature", [cid, fid, f], "The feature.", GEOJSON),
        },
    }
