"""Request guard and response headers: the one place that decides who may reach what.

Every endpoint needs a signed-in, active account except the sign-in pages and static files.
Pages redirect to /login; API calls get a 401 JSON. What a signed-in user then sees is
decided by the data layer from `g.principal` (tiers, field rules)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Flask, g, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest

from ..errors import NotSignedIn
from ..policy import Permission, Principal

PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.mfa", "auth.enrol", "auth.logout",
                    "auth.reset_password"}
MACHINE_PATHS = ("/api/", "/tiles/")  # answered 401 JSON when signed out, never a redirect


def current_principal() -> Principal:
    return g.principal


def require(permission: Permission) -> None:
    from werkzeug.exceptions import NotFound

    if not g.principal.can(permission):
        raise NotFound()  # what a role may not see does not exist for it


def csp(nonce: str, tile_origin: str = "") -> str:
    """The policy; `tile_origin` is the one outside origin images may come from, an online
    basemap's, only when an administrator set GEOMAP_ONLINE_BASEMAP_URL (validated at start)."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data:" + (f" {tile_origin}" if tile_origin else ""),
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ])


# A same-origin path (and query): one leading slash, then no second slash at the start, no
# backslash (browsers read it as a slash), no whitespace or control character.
_NEXT = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")
NEXT_MAX = 2048


def valid_next(target: str | None) -> bool:
    """Whether `target` may be where sign-in leads: a relative path on this site, and nothing
    that decodes (however often) to a control character, a backslash or a `//` start."""
    if not target or len(target) > NEXT_MAX:
        return False
    if not _NEXT.fullmatch(target):
        return False
    decoded = target
    for _ in range(4):  # percent-decoding until it stops changing (an encoded space is fine)
        if "\\" in decoded or decoded.startswith("//") or \
                any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in decoded):
            return False
        u = urlsplit(decoded)
        if u.scheme or u.netloc or "//" in u.path:
            return False
        once = unquote(decoded)
        if once == decoded:
            return True
        decoded = once
    return False  # encoded over and over: nobody's honest link


def safe_next(target: str | None) -> str:
    """Only same-site paths after sign-in (no open redirect, no header injection); anything
    else leads to the map."""
    return target if valid_next(target) else url_for("pages.map_page")


def install(app: Flask, accounts) -> None:
    def _unbindable_request():
        # Flask could not bind its URL map to this request (a Host or forwarded host it cannot
        # read): nothing can build a URL for it, so refuse it (400) before anything tries.
        if isinstance(request.routing_exception, BadRequest):
            raise request.routing_exception

    # first of all before_request functions (CSRF protection was installed earlier)
    app.before_request_funcs.setdefault(None, []).insert(0, _unbindable_request)

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.before_request
    def _guard():
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        uid = session.get("uid")
        user = accounts.get(uid) if uid is not None else None
        if user is None or not user.active or user.totp_secret is None:
            if uid is not None:
                session.end()  # disabled or reset meanwhile: this cookie is finished
            if request.path.startswith(MACHINE_PATHS):
                # tile and API clients (GDAL, QGIS, Leaflet) cannot follow an HTML sign-in page
                raise NotSignedIn()  # JSON 401 with WWW-Authenticate (geomap.web.errors)
            # ended on the server (disabled, reset, an admin ended it): the sign-in page says so
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?"),
                                    ended=1 if uid is not None or getattr(session, "stale", False)
                                    else None))
        g.principal = user.principal
        return None

    tile_origin = app.config["GEOMAP_SETTINGS"].online_basemap_origin

    @app.after_request
    def _headers(resp):
        nonce = getattr(g, "csp_nonce", None) or secrets.token_urlsafe(16)
        resp.headers["Content-Security-Policy"] = csp(nonce, tile_origin)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.is_secure:
            resp.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
