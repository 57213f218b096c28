"""Server-side sessions behind Flask's `session`: the `__Host-` cookie carries a random token,
the database its SHA-256 with the data, so a session can be ended on the server (logout, a
disabled account, an MFA reset) and times out when idle and after an absolute lifetime."""

from __future__ import annotations

import hashlib
import secrets
import time

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

COOKIE = "__Host-geomap"
TOUCH_EVERY_S = 60  # refresh last_seen at most once a minute: reads stay reads


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, token: str | None = None, created_at: float | None = None,
                 last_seen: float | None = None):
        def on_update(_):
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.created_at = created_at or time.time()
        self.last_seen = last_seen or self.created_at
        self.modified = False
        self.new = token is None
        self.rotate = False
        self.ended = False

    def regenerate(self) -> None:
        """New token on privilege change (sign-in), so a planted token is worthless."""
        self.rotate = True
        self.modified = True

    def end(self) -> None:
        self.clear()
        self.ended = True


class DbSessionInterface(SessionInterface):
    def __init__(self, accounts, idle_s: int, absolute_s: int):
        self.accounts = accounts
        self.idle_s, self.absolute_s = idle_s, absolute_s

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(COOKIE)
        if token:
            row = self.accounts.session(_hash(token))
            now = time.time()
            if row is not None and now - row.last_seen < self.idle_s \
                    and now - row.created_at < self.absolute_s:
                import json

                return ServerSession(json.loads(row.data), token, row.created_at, row.last_seen)
            if row is not None:
                self.accounts.delete_session(_hash(token))
        return ServerSession()

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        secure = dict(path="/", secure=True, httponly=True, samesite="Strict")
        if session.ended or (not session and not session.new and session.modified):
            if session.token:
                self.accounts.delete_session(_hash(session.token))
            response.delete_cookie(COOKIE, **secure)
            return
        if not session:
            return  # nothing worth a row or a cookie (anonymous visit)
        now = time.time()
        if session.rotate or session.token is None:
            if session.token:
                self.accounts.delete_session(_hash(session.token))
            session.token = secrets.token_urlsafe(32)
            session.created_at = now if session.rotate or session.new else session.created_at
        elif not session.modified and now - session.last_seen < TOUCH_EVERY_S:
            return
        self.accounts.save_session(_hash(session.token), session.get("uid"), dict(session),
                                   session.created_at, now)
        response.set_cookie(COOKIE, session.token, **secure)
