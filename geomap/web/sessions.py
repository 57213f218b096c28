"""Server-side sessions behind Flask's `session`: the `__Host-` cookie carries a random token,
the database its SHA-256 with the data, so a session can be ended on the server (logout, a
disabled account, an MFA reset) and times out when idle and after an absolute lifetime.

Before a correct password nobody gets a row: an anonymous visitor's session holds at most the
sign-in form's CSRF token, which travels in a second, signed cookie (`__Host-geomap-pre`), so
requests without an account cannot grow the database. Expired rows are purged whenever a new
one is written."""

from __future__ import annotations

import hashlib
import secrets
import time

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import CallbackDict

COOKIE = "__Host-geomap"
PRE_COOKIE = "__Host-geomap-pre"  # anonymous: the sign-in form's CSRF token, signed, no row
ANONYMOUS_KEYS = {"csrf_token"}   # what an anonymous session may hold without a row
TOUCH_EVERY_S = 60  # refresh last_seen at most once a minute: reads stay reads


def token_hash(token: str) -> str:
    """What the sessions table keeps of a session token (never the token itself)."""
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
        self.from_pre_cookie = False  # an anonymous session read from the signed cookie
        self.stale = False  # a session cookie came whose session is over (ended or timed out)

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

    @staticmethod
    def _signer(app: Flask) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(app.secret_key, salt="geomap.anonymous-session")

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(COOKIE)
        if token:
            row = self.accounts.session(token_hash(token))
            now = time.time()
            if row is not None and now - row.last_seen < self.idle_s \
                    and now - row.created_at < self.absolute_s:
                import json

                return ServerSession(json.loads(row.data), token, row.created_at, row.last_seen)
            if row is not None:
                self.accounts.delete_session(token_hash(token))
        stale = bool(token)
        pre = request.cookies.get(PRE_COOKIE)
        if pre:
            try:
                data = self._signer(app).loads(pre, max_age=self.idle_s)
            except BadSignature:  # forged, or older than the idle timeout
                data = None
            if isinstance(data, dict) and set(data) <= ANONYMOUS_KEYS \
                    and all(isinstance(v, str) for v in data.values()):
                session = ServerSession(data)
                session.from_pre_cookie, session.stale = True, stale
                return session
        session = ServerSession()
        session.stale = stale
        return session

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        secure = dict(path="/", secure=True, httponly=True, samesite="Strict")
        from_pre = session.from_pre_cookie
        if session.ended or (not session and not session.new and session.modified):
            if session.token:
                self.accounts.delete_session(token_hash(session.token))
            response.delete_cookie(COOKIE, **secure)
            if from_pre or session.ended:
                response.delete_cookie(PRE_COOKIE, **secure)
            return
        if session.token is None and set(session) <= ANONYMOUS_KEYS:
            if session.stale:  # the cookie of a session that is over: said once, then gone
                response.delete_cookie(COOKIE, **secure)
            # anonymous: no row. The CSRF token goes back signed, only when it changed.
            if not session:
                if from_pre and session.modified:
                    response.delete_cookie(PRE_COOKIE, **secure)
            elif session.modified or not from_pre:
                response.set_cookie(PRE_COOKIE, self._signer(app).dumps(dict(session)),
                                    **secure)
            return
        now = time.time()
        new_row = session.rotate or session.token is None
        if new_row:
            if session.token:
                self.accounts.delete_session(token_hash(session.token))
            else:
                self.accounts.purge_sessions(self.idle_s, self.absolute_s)  # a new row: tidy up
            session.token = secrets.token_urlsafe(32)
            session.created_at = now if session.rotate or session.new else session.created_at
        elif not session.modified and now - session.last_seen < TOUCH_EVERY_S:
            return
        if not self.accounts.save_session(token_hash(session.token), session.get("uid"),
                                          dict(session), session.created_at, now,
                                          create=new_row):
            # the row went while this request ran (an admin ended the session, a reset, the
            # user signing themselves out elsewhere): it stays ended, never written back
            response.delete_cookie(COOKIE, **secure)
            return
        response.set_cookie(COOKIE, session.token, **secure)
        if from_pre:
            response.delete_cookie(PRE_COOKIE, **secure)
