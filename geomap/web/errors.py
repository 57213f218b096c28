"""One table mapping library exceptions to HTTP status codes, and the one place errors are
answered: JSON on machine paths (/api/, /tiles/), a translated page with the site's layout
elsewhere. A 500 is logged with a short reference the page shows (never a traceback)."""

from __future__ import annotations

import secrets

from flask import Flask, g, jsonify, render_template, request, session
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import GeomapError, InvalidInput, NotFound

STATUS = [(InvalidInput, 400), (NotFound, 404), (GeomapError, 500)]
JSON_PATHS = ("/api/", "/tiles/")


def _wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def _text(code: int) -> tuple[str, str]:
    """(title, what happened and what to do) for a status code, in the page's language."""
    table = {
        400: (_("Bad request"),
              _("The request could not be understood. If you sent a form, go back, reload "
                "the page and try again.")),
        403: (_("Not allowed"), _("You are not allowed to do this.")),
        404: (_("Page not found"),
              _("There is nothing here, or you do not have access to it.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        413: (_("File too large"),
              _("What you sent is larger than this server accepts. Try a smaller file, or "
                "split it.")),
        429: (_("Too many requests"), _("Too many attempts. Wait a minute and try again.")),
        500: (_("Something went wrong"),
              _("The server could not complete this request. It has been logged; if it "
                "happens again, tell your administrator the reference below.")),
    }
    if code == 400 and getattr(g, "csrf_failed", False):
        return (_("The form expired"),
                _("This form is no longer valid (it was open too long, or you signed in "
                  "again elsewhere). Go back, reload the page and send it again."))
    return table.get(code, (_("Request refused"), _("This request could not be completed.")))


def _signed_in_principal():
    """The principal for the page's navigation. Errors raised before the sign-in guard ran
    (a CSRF failure, a request too large) still show a signed-in user their navigation; a
    signed-out visitor gets the minimal header and learns nothing."""
    if "principal" in g:
        return g.principal
    from flask import current_app

    try:
        uid = session.get("uid")
        user = current_app.extensions["geomap_accounts"].get(uid) if uid is not None else None
    except Exception:  # an error page must not fail on the way to saying so
        return None
    if user is None or not user.active or user.totp_secret is None:
        return None
    g.principal = user.principal
    return g.principal


def _page(code: int, reference: str | None = None, headers=None):
    title, explanation = _text(code)
    _signed_in_principal()
    try:
        body = render_template("error.html", code=code, title=title, explanation=explanation,
                               reference=reference)
    except Exception:  # e.g. a request whose host no URL can be built for
        from markupsafe import escape

        body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>" \
               f"<p>{escape(explanation)}</p>"
    return body, code, headers or {}


def _log_500(e: BaseException | None) -> str:
    from flask import current_app

    ref = secrets.token_hex(4)
    current_app.logger.error("unhandled error, reference %s: %s %s", ref, request.method,
                             request.path, exc_info=e)
    return ref


def register(app: Flask) -> None:
    @app.errorhandler(GeomapError)
    def _geomap_error(e: GeomapError):
        status = next(code for cls, code in STATUS if isinstance(e, cls))
        ref = _log_500(e) if status == 500 else None
        if _wants_json():
            body = {"error": str(e) if status != 500 else "internal error"}
            if status != 500 and getattr(e, "msg", None) is not None:
                from .labels import message_text

                body["message"] = message_text(e)  # the same, in the reader's language
            if isinstance(e, InvalidInput) and e.field:
                body["parameter"] = e.field
            if ref:
                body["reference"] = ref
            return jsonify(body), status
        return _page(status, ref)

    @app.errorhandler(InternalServerError)
    def _internal_error(e: InternalServerError):
        ref = _log_500(e.original_exception or e)
        if _wants_json():
            return jsonify({"error": "internal error", "reference": ref}), 500
        return _page(500, ref)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if e.code is None or e.code < 400:
            return e
        if _wants_json():
            return jsonify({"error": e.description}), e.code
        from flask_wtf.csrf import CSRFError

        g.csrf_failed = isinstance(e, CSRFError)
        headers = [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]
        return _page(e.code, headers=headers)
