"""JSON API: GeoJSON (RFC 7946, application/geo+json) for sites, testimonies and boundaries."""

from __future__ import annotations

import gzip
import hashlib

import orjson
from flask import Blueprint, Response, jsonify, request

from .. import features, geojson
from ..corroboration import GradeRule
from ..errors import NotFound
from ..model import FacilityType, Violation
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
    return geojson_response(features.sites_in_view(
        get_store(), current_principal(), GradeRule.from_settings(get_settings()),
        facility_types=params.enum_list(request.args, "facility_type", FacilityType),
        period=params.period(request.args), bbox=params.bbox(request.args)))


@bp.get("/sites/<key>/testimonies")
def site_testimonies(key: str):
    """Points of a site's confirmed testimonies (lines on the map); no testimony fields."""
    params.check_known(request.args, set())
    return geojson_response(features.site_testimony_points(get_store(), current_principal(), key),
                            confidential=True)


@bp.get("/testimonies")
def testimonies():
    """Testimonies in a viewport (geomap.features.testimonies_in_view: points, or counts per
    grid cell when `grid` is given and more than `limit` match; `grid` is snapped to the
    nearest power of two of a degree, the answer's `cell`)."""
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
    return geojson_response(features.testimonies_in_view(
        get_store(), current_principal(), f, limit, grid), confidential=True)


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
