"""JSON API: GeoJSON (RFC 7946, application/geo+json) for sites, testimonies and boundaries."""

from __future__ import annotations

import gzip
import hashlib

import orjson
from flask import Blueprint, Response, jsonify, request

from .. import geojson
from ..boundaries import unit_names
from ..errors import NotFound
from ..model import FacilityType, Violation
from ..policy import Permission
from . import get_settings, get_store, params
from .security import current_principal

bp = Blueprint("api", __name__, url_prefix="/api")
GEOJSON = "application/geo+json"


GZIP_MIN_BYTES = 1400  # below one packet compression buys nothing


def geojson_response(doc: dict, max_age: int = 0, confidential: bool = False) -> Response:
    """Compact UTF-8 GeoJSON with an ETag (304 on a match), gzip-compressed when the client
    accepts it: viewport answers are large and compress about tenfold."""
    body = orjson.dumps(doc)
    etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    gz = "gzip" in request.headers.get("Accept-Encoding", "") and len(body) >= GZIP_MIN_BYTES
    resp = Response(gzip.compress(body, compresslevel=5) if gz else body, mimetype=GEOJSON)
    if gz:
        resp.headers["Content-Encoding"] = "gzip"
        etag += "-gz"  # a strong ETag names one representation
    resp.vary.add("Accept-Encoding")
    resp.set_etag(etag)
    resp.cache_control.private = True
    if confidential:  # testimony data: never kept in a browser or proxy cache
        resp.cache_control.no_store = True
    else:
        resp.cache_control.max_age = max_age
    return resp.make_conditional(request)


def _units():
    return unit_names(get_store().boundary_units(1))


@bp.get("/boundaries")
def boundaries():
    params.check_known(request.args, {"level"})
    level = params.integer(request.args, "level", 1, 0, 2)
    units = get_store().boundary_units(level)
    return geojson_response(geojson.collection(geojson.boundary_feature(u) for u in units),
                            max_age=300)


@bp.get("/sites")
def sites():
    params.check_known(request.args, {"bbox", "facility_type", "period"})
    store = get_store()
    found = store.sites(
        current_principal(),
        facility_types=params.enum_list(request.args, "facility_type", FacilityType),
        period=params.period(request.args),
        bbox=params.bbox(request.args),
    )
    units = _units()
    from ..corroboration import GradeRule

    rule = GradeRule.from_settings(get_settings())
    support = store.site_support(current_principal())

    def feature(s):
        w, first = support.get(s.id, (0, 0))
        return geojson.site_feature(s, units, rule.grade(w, first), w)

    return geojson_response(geojson.collection(feature(s) for s in found))


@bp.get("/sites/<key>/testimonies")
def site_testimonies(key: str):
    """Points of a site's confirmed testimonies (lines on the map); no testimony fields."""
    params.check_known(request.args, set())
    store, viewer = get_store(), current_principal()
    site = store.site_by_key(key, viewer)
    if site is None:
        raise NotFound()
    pts = store.linked_points(site.id, viewer)
    return geojson_response(geojson.collection(
        geojson.feature({"type": "Point", "coordinates": [round(p["lon"], 6),
                                                          round(p["lat"], 6)]},
                        {"radius_m": p["radius_m"]}, p["id"]) for p in pts), confidential=True)


@bp.get("/testimonies")
def testimonies():
    """Testimonies in a viewport. With `grid` (a cell size in degrees) and more matches than
    `limit`, the answer is one feature per non-empty cell with its count (`aggregated`), so a
    zoomed-out view of tens of thousands of testimonies stays small and fast."""
    from ..store import TestimonyFilter

    params.check_known(request.args, {"bbox", "violation", "period", "limit", "grid"})
    settings = get_settings()
    f = TestimonyFilter(
        bbox=params.bbox(request.args),
        violations=params.enum_list(request.args, "violation", Violation),
        period=params.period(request.args),
    )
    limit = params.integer(request.args, "limit", settings.max_features, 1, settings.max_features)
    grid = params.number(request.args, "grid", 1e-4, 10.0)
    store, viewer = get_store(), current_principal()
    if grid is not None and store.count_matching(f, viewer) > limit:
        cells, total = store.testimony_grid(f, viewer, grid)
        return geojson_response(geojson.collection(
            geojson.grid_features(cells), numberMatched=total, numberReturned=0,
            aggregated=True, cell=grid), confidential=True)
    rows, total = store.testimony_rows(f, viewer, limit=limit)
    features = geojson.testimony_features(
        rows, _units(), with_codes=viewer.can(Permission.READ_WITNESS_CODES))
    return geojson_response(geojson.collection(
        features, numberMatched=total, numberReturned=len(rows), aggregated=False),
        confidential=True)


@bp.get("/testimonies/<int:testimony_id>")
def testimony(testimony_id: int):
    """One testimony; the narrative only for roles that may read it (and every such read is
    in the audit log). A testimony the caller may not see is a 404, like one that does not
    exist."""
    params.check_known(request.args, set())
    record = get_store().testimony(testimony_id, current_principal())
    if record is None:
        raise NotFound()
    resp = jsonify(record)
    resp.cache_control.no_store = True
    return resp


@bp.get("/stats")
def stats():
    return get_store().stats(current_principal())
