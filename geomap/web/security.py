"""Request guard and response headers: the one place that decides who may reach what.

Every endpoint needs a signed-in, active account except the sign-in pages and static files.
Pages redirect to /login; API calls get a 401 JSON. What a signed-in user then sees is
decided by the data layer from `g.principal` (tiers, field rules)."""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from flask import Flask, g, jsonify, redirect, request, session, url_for

from ..policy import Permission, Principal

PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.mfa", "auth.enrol", "auth.logout"}


def current_principal() -> Principal:
    return g.principal


def require(permission: Permission) -> None:
    from werkzeug.exceptions import NotFound

    if not g.principal.can(permission):
        raise NotFound()  # what a role may not see does not exist for it


def csp(nonce: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ])


def safe_next(target: str | None) -> str:
    """Only same-site paths after sign-in (no open redirect)."""
    if not target:
        return url_for("pages.map_page")
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.map_page")
    return target


def install(app: Flask, accounts) -> None:
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
            if request.path.startswith("/api/"):
                return jsonify({"error": "sign in required"}), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        g.principal = user.principal
        return None

    @app.after_request
    def _headers(resp):
        nonce = getattr(g, "csp_nonce", None) or secrets.token_urlsafe(16)
        resp.headers["Content-Security-Policy"] = csp(nonce)
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
