"""Persistence of personal API tokens (SQL stays here; the rules are in geomap.tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from .schema import api_tokens, users

if TYPE_CHECKING:
    from .protocol import Connection, StoreLike


@dataclass(frozen=True)
class TokenRecord:
    id: int
    public_id: str
    token_hash: str
    user_id: int
    username: str
    name: str
    scope: str
    created_at: float
    created_by: str
    expires_at: float
    last_used_at: float | None
    revoked_at: float | None
    revoked_by: str | None

    def state(self, now: float) -> str:
        """"active", "expired" or "revoked"."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


def revoke_user_tokens(conn: Connection, user_id: int, actor: str,
                       now: float | None = None) -> int:
    """Inside the caller's write transaction, revoke every live token of a user: a password
    or second-factor reset and a disabled account end tokens as they end sessions (whoever
    held the account's credentials may have made one). Returns how many."""
    import time

    return conn.execute(update(api_tokens).where(
        api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)).values(
        revoked_at=time.time() if now is None else now, revoked_by=actor[:64])).rowcount


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class _Lost(Exception):
    """A conditional update found nothing to change: roll the audited transaction back."""


class TokenStore:
    def __init__(self, store: StoreLike):
        self.store = store

    def _query(self):
        return select(api_tokens, users.c.username).join(users, users.c.id == api_tokens.c.user_id)

    @staticmethod
    def _record(r) -> TokenRecord:
        return TokenRecord(
            id=r.id, public_id=r.public_id, token_hash=r.token_hash, user_id=r.user_id,
            username=r.username, name=r.name, scope=r.scope, created_at=r.created_at,
            created_by=r.created_by, expires_at=r.expires_at, last_used_at=r.last_used_at,
            revoked_at=r.revoked_at, revoked_by=r.revoked_by)

    def add(self, user_id: int, name: str, scope: str, public_id: str, token_hash: str,
            created_at: float, expires_at: float, actor: str) -> TokenRecord:
        """Store a new token (its hash only) and audit who made it, for whom, what it may do
        and until when."""
        details = {"token": public_id, "name": name, "scope": scope,
                   "expires": _iso(expires_at)}
        with self.store.audited(actor, "token.create", f"user:{user_id}", details) as c:
            tid = c.execute(api_tokens.insert().values(
                public_id=public_id, token_hash=token_hash, user_id=user_id, name=name,
                scope=scope, created_at=created_at, created_by=actor[:64],
                expires_at=expires_at)).inserted_primary_key[0]
        return self.get(tid)

    def get(self, token_id: int) -> TokenRecord | None:
        with self.store.read() as c:
            r = c.execute(self._query().where(api_tokens.c.id == token_id)).first()
        return self._record(r) if r else None

    def by_public_id(self, public_id: str) -> TokenRecord | None:
        with self.store.read() as c:
            r = c.execute(self._query().where(api_tokens.c.public_id == public_id)).first()
        return self._record(r) if r else None

    def for_user(self, user_id: int | None = None) -> list[TokenRecord]:
        """A user's tokens (every user's with None), newest first, revoked and expired ones
        included: the list is also the record of what existed."""
        q = self._query().order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
        if user_id is not None:
            q = q.where(api_tokens.c.user_id == user_id)
        with self.store.read() as c:
            return [self._record(r) for r in c.execute(q)]

    def revoke(self, token_id: int, actor: str, now: float,
               user_id: int | None = None) -> bool:
        """Revoke a token (only one of `user_id`'s when given); False when there is no such
        live token. A conditional update, so two revocations record one entry."""
        rec = self.get(token_id)
        if rec is None or (user_id is not None and rec.user_id != user_id):
            return False
        try:
            with self.store.audited(actor, "token.revoke", f"user:{rec.user_id}",
                                    {"token": rec.public_id, "name": rec.name}) as c:
                n = c.execute(update(api_tokens).where(
                    api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_by=actor[:64])).rowcount
                if n != 1:
                    raise _Lost
        except _Lost:
            return False
        return True

    def record_use(self, rec: TokenRecord, now: float, day_start: float, touch_s: float,
                   address: str) -> None:
        """Note a use: the first of each UTC day goes into the audit log (with the address);
        later ones only move `last_used_at`, at most every `touch_s`, so reads stay cheap."""
        last = rec.last_used_at
        if last is None or last < day_start:
            try:
                with self.store.audited(rec.username, "token.use", f"user:{rec.user_id}",
                                        {"token": rec.public_id, "address": address}) as c:
                    n = c.execute(update(api_tokens).where(
                        api_tokens.c.id == rec.id,
                        or_(api_tokens.c.last_used_at.is_(None),
                            api_tokens.c.last_used_at < day_start))
                        .values(last_used_at=now)).rowcount
                    if n != 1:  # another request of the same day was first
                        raise _Lost
            except _Lost:
                pass
        elif now - last >= touch_s:
            with self.store.write() as c:
                c.execute(update(api_tokens).where(api_tokens.c.id == rec.id)
                          .values(last_used_at=now))
