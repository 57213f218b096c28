"""OGC API - Features under /ogcapi: parse the request, call geomap.ogcapi, answer JSON.

QGIS, GDAL's OAPIF driver and OWSLib read it with a session or, usually, a personal API token
(geomap.tokens: Authorization: Bearer, or the token as the password of HTTP Basic). Errors are
OGC exception documents: {"code", "description"} with 400, 401, 404."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import HTTPException

from .. import ogcapi
from ..corroboration import GradeRule
from ..errors import GeomapError, NotFound
from ..policy import Permission
from . import get_settings, get_store, params
from .api import geojson_response
from .labels import message_text
from .security import current_principal, require

bp = Blueprint("ogcapi", __name__, url_prefix="/ogcapi")

# OGC exception codes by status (OGC API - Common's names where it has them)
_CODES = {400: "InvalidParameterValue", 401: "NotAuthenticated", 403: "Forbidden",
          404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable",
          429: "TooManyRequests"}


def _base() -> str:
    return url_for("ogcapi.landing", _external=True).rstrip("/")


def _json(doc: dict, mimetype: str = ogcapi.JSON) -> Response:
    import orjson

    resp = Response(orjson.dumps(doc), mimetype=mimetype)
    resp.cache_control.private = True
    resp.cache_control.no_store = True
    return resp


def _doc_args() -> None:
    ogcapi.check_format(request.args, ogcapi.DOC_PARAMS)


@bp.before_request
def _readers_only():
    require(Permission.READ_MAP)


@bp.get("/")
@bp.get("", strict_slashes=False)  # added first, so url_for gives /ogcapi
def landing():
    _doc_args()
    return _json(ogcapi.landing(_base()))


@bp.get("/conformance")
def conformance():
    _doc_args()
    return _json(ogcapi.conformance())


@bp.get("/api")
def api_definition():
    _doc_args()
    return _json(ogcapi.openapi(_base()), ogcapi.OPENAPI)


@bp.get("/collections")
def collections():
    _doc_args()
    return _json(ogcapi.collections(get_store(), _base()))


@bp.get("/collections/<collection_id>")
def collection(collection_id: str):
    _doc_args()
    return _json(ogcapi.collection(get_store(), _base(), collection_id))


def _rule() -> GradeRule:
    return GradeRule.from_settings(get_settings())


def _features(doc: dict, collection_id: str) -> Response:
    resp = geojson_response(doc, confidential=collection_id == "testimonies")
    if request.accept_mimetypes.best_match([ogcapi.GEOJSON, ogcapi.JSON]) == ogcapi.JSON:
        resp.mimetype = ogcapi.JSON  # a client that asked for plain JSON gets it by name
    return resp


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str):
    args = request.args
    ogcapi.check_format(args, ogcapi.ITEMS_PARAMS)
    q = ogcapi.ItemsQuery(
        bbox=params.bbox(args), period=ogcapi.parse_datetime(args.get("datetime")),
        limit=params.integer(args, "limit", ogcapi.DEFAULT_LIMIT, 1, ogcapi.MAX_LIMIT),
        offset=params.integer(args, "offset", 0, 0, ogcapi.MAX_OFFSET),
        raw={k: v for k, v in args.items() if k in ("bbox", "datetime")})
    doc = ogcapi.items(get_store(), current_principal(), _rule(), _base(), collection_id, q)
    return _features(doc, collection_id)


@bp.get("/collections/<collection_id>/items/<feature_id>")
def item(collection_id: str, feature_id: str):
    _doc_args()
    doc = ogcapi.item(get_store(), current_principal(), _rule(), _base(), collection_id,
                      feature_id)
    return _features(doc, collection_id)


@bp.route("/<path:_rest>")
def unknown(_rest: str):
    raise NotFound()  # answered as an OGC exception, not the site's HTML page


# -- errors: OGC exception documents ------------------------------------------------------------
def _exception(status: int, description: str, field: str | None = None,
               headers: dict | None = None):
    body = {"code": _CODES.get(status, "ServerError" if status >= 500 else "Error"),
            "description": description}
    if field:
        body["parameter"] = field
    resp = _json(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _challenge(status: int) -> dict:
    # Basic too: GDAL and QGIS send the token as a Basic password
    return {"WWW-Authenticate": 'Bearer realm="geomap", Basic realm="geomap OGC API"'} \
        if status == 401 else {}


@bp.errorhandler(GeomapError)
def _geomap_error(e: GeomapError):
    if e.status >= 500:  # logged with a reference the reader sees, never the error's text
        import secrets

        from flask import current_app

        ref = secrets.token_hex(4)
        current_app.logger.error("unhandled error, reference %s: %s %s", ref, request.method,
                                 request.path, exc_info=e)
        return _exception(500, f"The server could not complete this request (reference {ref}).")
    text = message_text(e) if e.has_message else {
        401: "Sign in, or send an API token (Authorization: Bearer, or as the password of "
             "HTTP Basic).",
        404: "Nothing here, or nothing you may see."}.get(e.status, str(e))
    return _exception(e.status, text, e.field, _challenge(e.status))


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    if e.code is None or e.code < 400 or e.code >= 500:
        return e
    headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
    return _exception(e.code, e.description or e.name, headers=headers | _challenge(e.code))
