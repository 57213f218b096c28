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
from flask.sessions import SessionInterface
from werkzeug.exceptions import BadRequest

from ..errors import NotSignedIn
from ..policy import Permission, Principal

PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.mfa", "auth.enrol", "auth.logout",
                    "auth.reset_password"}
MACHINE_PATHS = ("/api/", "/tiles/", "/ogcapi")  # answered 401 JSON when signed out, never a redirect


def is_embed_path(path: str) -> bool:
    """Public embeds (geomap.web.embeds): no session read or written, no sign-in, no CSRF (they
    answer GET and HEAD only), framed by the publication's allowed origins."""
    return path.startswith(("/embed/", "/p/")) or path == "/oembed"  # /p/: public pages


def current_principal() -> Principal:
    """Who this request acts for: the session's user, or the user of the API token it sent
    (as the account is now: its current role; geomap.tokens)."""
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


class _NoSessionForTokens(SessionInterface):
    """A request that carries an API token is not a session: no session is read or written
    and no cookie is set (Flask does not save a null session). Others go to `inner`."""

    def __init__(self, inner: SessionInterface):
        self.inner = inner

    def open_session(self, app: Flask, request):
        from .. import tokens

        if is_embed_path(request.path) or \
                tokens.carries_token(request.path, request.headers.get("Authorization")):
            return self.make_null_session(app)
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        self.inner.save_session(app, session, response)


def install(app: Flask, accounts) -> None:
    def _unbindable_request():
        # Flask could not bind its URL map to this request (a Host or forwarded host it cannot
        # read): nothing can build a URL for it, so refuse it (400) before anything tries.
        if isinstance(request.routing_exception, BadRequest):
            raise request.routing_exception

    # first of all before_request functions (CSRF protection was installed earlier)
    app.before_request_funcs.setdefault(None, []).insert(0, _unbindable_request)

    def _credentials():
        """An API token (geomap.tokens) on the paths that take one, else the CSRF check:
        a token request is no session (no cookie read or set) and needs no CSRF token (a
        browser never adds an Authorization: Bearer header by itself)."""
        from .. import tokens
        from ..store.tokens import TokenStore

        g.token = None
        if is_embed_path(request.path):
            return None  # read-only routes: other methods are 405 before any CSRF question
        if (name := tokens.token_in_query(request.args)) is not None:
            raise tokens.query_refusal(name)
        header = request.headers.get("Authorization")
        if header and request.path.startswith(tokens.TOKEN_PATHS):
            try:
                parsed = tokens.parse_authorization(header)
            except tokens.InvalidToken:
                g.token_sent = True  # the 401 says why in its challenge
                raise
            if parsed is not None:
                g.token_sent = True
                scheme, token = parsed
                user, rec = tokens.authenticate(TokenStore(accounts.store), accounts, token,
                                                request.remote_addr or "-")
                tokens.check_request(rec, scheme, request.method, request.path)
                g.principal, g.token = user.principal, rec
                return None
        app.extensions["csrf"].protect(apply_exemptions=True)
        return None

    # where CSRFProtect's own check ran (it is switched off in create_app: this calls it)
    app.before_request_funcs[None].insert(1, _credentials)
    app.session_interface = _NoSessionForTokens(app.session_interface)

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.before_request
    def _guard():
        if request.endpoint in PUBLIC_ENDPOINTS or g.get("token") is not None or \
                is_embed_path(request.path):
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
        if is_embed_path(request.path):
            # framed by the publication's allowed origins (CSP frame-ancestors), and no cookie
            # ever, not even the language one
            resp.headers["Content-Security-Policy"] = g.get("embed_csp") or csp(nonce)
            resp.headers.pop("Set-Cookie", None)
        else:
            resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if resp.status_code == 401 and g.get("token_sent"):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="geomap", error="invalid_token"'
        if request.is_secure:
            resp.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
