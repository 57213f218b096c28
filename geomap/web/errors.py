"""The one place errors are answered. Library errors (geomap.errors.GeomapError) carry their own
status and machine code; werkzeug's HTTP errors and anything unexpected are mapped here too.
JSON `{"error": code, "message": text, "field": name}` on machine paths (/api/, /tiles/) and to
clients asking for JSON, a translated page with the site's layout elsewhere. A 500 is logged
with a short reference the reader sees (never a traceback or the exception's text)."""

from __future__ import annotations

import secrets

from flask import Flask, g, jsonify, render_template, request, session
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import GeomapError

JSON_PATHS = ("/api/", "/tiles/")


def _wants_json() -> bool:
    # a script's fetch that asks for JSON gets JSON on any path; browsers prefer text/html
    return (request.path.startswith(JSON_PATHS)
            or request.accept_mimetypes.best == "application/json")


def _text(code: int) -> tuple[str, str]:
    """(title, what happened and what to do) for a status code, in the page's language."""
    table = {
        401: (_("Sign-in required"), _("Sign in to see this.")),
        400: (_("Bad request"),
              _("The request could not be understood. If you sent a form, go back, reload "
                "the page and try again.")),
        403: (_("Not allowed"), _("You are not allowed to do this.")),
        404: (_("Page not found"),
              _("There is nothing here, or you do not have access to it.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        409: (_("Conflict"),
              _("This contradicts what is already stored. Reload the page to see the current "
                "state.")),
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


def _page(code: int, reference: str | None = None, headers=None, detail: str | None = None):
    title, explanation = _text(code)
    _signed_in_principal()
    try:
        body = render_template("error.html", code=code, title=title, explanation=explanation,
                               reference=reference, detail=detail)
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


def _json(status: int, code: str, message: str, field: str | None = None, **extra):
    body = {"error": code, "message": message, "field": field, **extra}
    if field:
        body["parameter"] = field  # the name clients used before "field"
    return jsonify(body), status


def _unexpected(e: BaseException | None):
    """A 500: the reader gets a reference, the log gets the traceback under it."""
    ref = _log_500(e)
    if _wants_json():
        return _json(500, "internal_error", _text(500)[1], reference=ref)
    return _page(500, ref)


def register(app: Flask) -> None:
    @app.errorhandler(GeomapError)
    def _geomap_error(e: GeomapError):
        status = e.status
        if status >= 500:
            return _unexpected(e)
        from .labels import message_text

        detail = message_text(e) if e.has_message else None  # in the reader's language
        headers = {"WWW-Authenticate": 'Session realm="geomap"'} if status == 401 else {}
        if _wants_json():
            extra = e.as_dict() if hasattr(e, "as_dict") else {}
            extra.pop("message", None)
            resp, _status = _json(status, e.code, detail or _text(status)[1], e.field,
                                  **{k: v for k, v in extra.items() if k != "error"})
            return resp, status, headers
        # a page shows the library's words when they can be in the reader's language: a
        # Message always, plain (English) text to an English reader only
        from flask_babel import get_locale

        locale = get_locale()
        english = locale is None or locale.language == "en"
        return _page(status, headers=headers,
                     detail=detail if e.msg is not None or english else None)

    @app.errorhandler(InternalServerError)
    def _internal_error(e: InternalServerError):
        return _unexpected(e.original_exception or e)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if e.code is None or e.code < 400:
            return e
        headers = [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            # werkzeug's own descriptions are English: the reader gets ours, translated;
            # a description a view chose on purpose is kept
            said = e.description if e.description != type(e).description else None
            code = (e.name or "error").lower().replace(" ", "_").replace("'", "")
            resp, _status = _json(e.code, code, said or _text(e.code)[1])
            return resp, e.code, headers
        from flask_wtf.csrf import CSRFError

        g.csrf_failed = isinstance(e, CSRFError)
        return _page(e.code, headers=headers)
