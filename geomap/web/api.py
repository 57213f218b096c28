"""JSON API: GeoJSON (RFC 7946, application/geo+json) for sites, testimonies and boundaries."""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, request

from .. import geojson
from ..boundaries import unit_names
from ..model import FacilityType, Violation
from . import get_settings, get_store, params

bp = Blueprint("api", __name__, url_prefix="/api")
GEOJSON = "application/geo+json"


def geojson_response(doc: dict, max_age: int = 0) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    resp = Response(body, mimetype=GEOJSON)
    resp.set_etag(hashlib.sha256(body.encode("utf-8")).hexdigest()[:32])
    resp.cache_control.private = True
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
        facility_types=params.enum_list(request.args, "facility_type", FacilityType),
        period=params.period(request.args),
        bbox=params.bbox(request.args),
    )
    units = _units()
    return geojson_response(geojson.collection(geojson.site_feature(s, units) for s in found))


@bp.get("/testimonies")
def testimonies():
    from ..store import TestimonyFilter

    params.check_known(request.args, {"bbox", "violation", "period", "limit"})
    settings = get_settings()
    f = TestimonyFilter(
        bbox=params.bbox(request.args),
        violations=params.enum_list(request.args, "violation", Violation),
        period=params.period(request.args),
    )
    limit = params.integer(request.args, "limit", settings.max_features, 1, settings.max_features)
    rows, total = get_store().testimony_rows(f, limit=limit)
    units = _units()
    doc = geojson.collection((geojson.testimony_feature(r, units) for r in rows),
                             numberMatched=total, numberReturned=len(rows))
    return geojson_response(doc)


@bp.get("/stats")
def stats():
    return get_store().stats()
