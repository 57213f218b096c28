"""One table mapping library exceptions to HTTP status codes."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import GeomapError, InvalidInput, NotFound

STATUS = [(InvalidInput, 400), (NotFound, 404), (GeomapError, 500)]


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(GeomapError)
    def _geomap_error(e: GeomapError):
        status = next(code for cls, code in STATUS if isinstance(e, cls))
        body = {"error": str(e)}
        if isinstance(e, InvalidInput) and e.field:
            body["parameter"] = e.field
        return jsonify(body), status

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if _wants_json():
            return jsonify({"error": e.description}), e.code
        return e
