"""Personal API tokens: what QGIS, GDAL and scripts send instead of a session. No Flask here.

A token is `gmt_<public id>_<secret>`: 32 random bytes of secret, shown once. The database keeps
the public id (to find the row) and the SHA-256 of the whole token; 256 random bits leave
nothing for a slow hash to slow down, and the comparison is constant-time.

Rules, all checked here so the web app and the CLI share them:
- made by a signed-in user after a fresh TOTP code (single use, like at sign-in), or by an
  administrator at the command line acting for a user;
- read-only unless asked ("read-write"), and never more than the user has now: each request
  takes the user's current role, and a disabled account's tokens stop working;
- expiring (90 days unless asked, 365 at most), revocable, audited (made, revoked, first use
  of each day);
- sent as `Authorization: Bearer <token>` or as the password of HTTP Basic (what GDAL and QGIS
  send), never in a query string: that ends up in server logs, proxies and browser history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from . import accounts as acc
from .accounts import User
from .errors import Forbidden, InvalidInput, NotSignedIn
from .messages import N_, Message
from .store.tokens import TokenRecord, TokenStore

PREFIX = "gmt_"
SCOPES = ("read", "read-write")
DEFAULT_DAYS = 90
MAX_DAYS = 365
NAME_MAX = 80
TOUCH_S = 60  # last_used_at moves at most once a minute
DAY_S = 86400
# the paths that take a token; everything else (pages, forms) needs a session
TOKEN_PATHS = ("/api/", "/tiles/", "/ogcapi", "/exports/")
WRITE_PATHS = ("/api/",)  # a read-write token writes through the JSON API only
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# query parameters a client might put a token in (refused, whatever their value)
QUERY_NAMES = frozenset({"token", "access_token", "api_key", "apikey", "api-key",
                         "private_token", "bearer", "auth", "authorization"})
_TOKEN = re.compile(r"gmt_([0-9a-f]{10})_([A-Za-z0-9_-]{43})")


class InvalidToken(NotSignedIn):
    """A token was sent and is not (or no longer) valid: 401."""

    code = "invalid_token"


@dataclass(frozen=True)
class Issued:
    token: str  # shown once, never stored
    record: TokenRecord


def token_hash(token: str) -> str:
    return hashlib.sha256(("geomap-api-token|" + token).encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token, public id)."""
    public_id = secrets.token_hex(5)
    return f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}", public_id


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text.strip()))


def token_in_query(args: Mapping[str, str]) -> str | None:
    """The name of a query parameter that carries (or is named for) a token, or None."""
    for name in args:
        if name.lower() in QUERY_NAMES:
            return name
        values = args.getlist(name) if hasattr(args, "getlist") else [args[name]]
        if any(_TOKEN.search(v) for v in values):
            return name
    return None


def query_refusal(name: str) -> InvalidInput:
    return InvalidInput(Message(N_(
        "%(parameter)s: API tokens are never accepted in the address (it ends up in server "
        "logs, proxies and browser history); send it in the Authorization header instead "
        "(Bearer, or as the password of HTTP Basic)"), parameter=name), field=name)


# -- what a client sends ------------------------------------------------------------------------
def parse_authorization(header: str) -> tuple[str, str] | None:
    """(scheme, token) from an Authorization header, or None when it carries no geomap token
    (e.g. the Basic credentials of a proxy in front of the app: left to it).

    Bearer must hold a token; Basic holds one as its password (any user name: GDAL and
    QGIS ask for one)."""
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        if not looks_like_token(value):
            raise InvalidToken(Message(N_("the bearer token is not a geomap API token")))
        return "bearer", value
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        _user, sep, password = decoded.partition(":")
        if sep and looks_like_token(password):
            return "basic", password.strip()
    return None


def carries_token(path: str, header: str | None) -> bool:
    """Whether a request is a token request (then it is no session at all): a path that takes
    tokens, with an Authorization header that holds one (or claims to, as Bearer)."""
    if not header or not path.startswith(TOKEN_PATHS):
        return False
    try:
        return parse_authorization(header) is not None
    except InvalidToken:
        return True


def authenticate(tokens: TokenStore, accounts, token: str, address: str,
                 now: float | None = None) -> tuple[User, TokenRecord]:
    """The user a token acts for, as the account is now, and the token; InvalidToken when the
    token is unknown, revoked or expired, or its account disabled (not said which)."""
    now = time.time() if now is None else now
    m = _TOKEN.fullmatch(token)
    rec = tokens.by_public_id(m.group(1)) if m else None
    ok = rec is not None and hmac.compare_digest(rec.token_hash, token_hash(token))
    user = accounts.get(rec.user_id) if ok else None
    if not ok or rec.state(now) != "active" or user is None or not user.active \
            or user.totp_secret is None:
        raise InvalidToken(Message(N_("the API token is not valid (unknown, revoked or "
                                      "expired, or its account is disabled)")))
    tokens.record_use(rec, now, now - now % DAY_S, TOUCH_S, address)
    return user, rec


def check_request(rec: TokenRecord, scheme: str, method: str, path: str) -> None:
    """Whether this token may make this request: reads anywhere tokens are taken; writes
    only with a read-write token, sent as Bearer (a browser never adds that header by itself,
    unlike remembered Basic credentials), on the JSON API."""
    if method.upper() in SAFE_METHODS:
        return
    if rec.scope != "read-write":
        raise Forbidden(Message(N_("this API token is read-only")))
    if scheme != "bearer":
        raise Forbidden(Message(N_("changes need the token as Authorization: Bearer")))
    if not path.startswith(WRITE_PATHS):
        raise Forbidden(Message(N_("an API token makes changes through /api/ only")))


# -- making and revoking ------------------------------------------------------------------------
def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(Message(N_("name: say what the token is for (e.g. QGIS on my "
                                      "laptop)")), field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(Message(N_("name: at most %(n)d characters"), n=NAME_MAX),
                           field="name")
    return name


def check_scope(scope: str | None) -> str:
    scope = scope or "read"
    if scope not in SCOPES:
        raise InvalidInput(Message(N_("scope: %(value)s is not one of read, read-write"),
                                   value=repr(scope)), field="scope")
    return scope


def check_days(days: str | int | None) -> int:
    if days is None or days == "":
        return DEFAULT_DAYS
    try:
        n = int(days)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_DAYS:
        raise InvalidInput(Message(N_("expires: a number of days from 1 to %(max)d"),
                                   max=MAX_DAYS), field="days")
    return n


def issue(tokens: TokenStore, user: User, name: str, scope: str | None = None,
          days: str | int | None = None, actor: str | None = None,
          now: float | None = None) -> Issued:
    """A new token for `user` (the CLI: an administrator acting for them; the web page after
    its second-factor check)."""
    name, scope, n = check_name(name), check_scope(scope), check_days(days)
    if not user.active:
        raise InvalidInput(Message(N_("the account is disabled")), field="user")
    now = time.time() if now is None else now
    token, public_id = new_token()
    rec = tokens.add(user.id, name, scope, public_id, token_hash(token), now, now + n * DAY_S,
                     actor or user.username)
    return Issued(token, rec)


def issue_with_second_factor(tokens: TokenStore, accounts, user: User, name: str,
                             scope: str | None, days: str | int | None, code: str,
                             address: str) -> Issued:
    """A signed-in user's new token, after a fresh TOTP code: checked like at sign-in (each
    code works once, the sign-in rate limit counts failures) and audited."""
    from . import signin

    name, scope, n = check_name(name), check_scope(scope), check_days(days)
    if signin.rate_limited(accounts, user.username, address, "token"):
        raise InvalidInput(Message(N_("too many failed attempts; wait a minute and try "
                                      "again")), field="code")
    fresh = accounts.get(user.id)  # the last used step as it is now
    step = acc.verify_totp(fresh.totp_secret, code or "", fresh.totp_last_step) \
        if fresh and fresh.totp_secret else None
    if step is None or not accounts.use_totp_step(user.id, step):
        accounts.record_attempt(user.username, address, "failure")
        accounts.store.audit(user.username, "token.refused", f"user:{user.id}",
                             {"address": address, "reason": "bad second factor"})
        raise InvalidInput(Message(N_("code: not valid; enter a new code from your "
                                      "authenticator app (each code works once)")),
                           field="code")
    accounts.record_attempt(user.username, address, "success")
    return issue(tokens, fresh, name, scope, n)


def revoke(tokens: TokenStore, token_id: int, actor: str, user_id: int | None = None,
           now: float | None = None) -> bool:
    return tokens.revoke(token_id, actor, time.time() if now is None else now, user_id)
