"""Persistence of accounts, server-side sessions and sign-in attempts (SQL stays here)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, update

from .. import accounts as acc
from ..accounts import User
from ..errors import InvalidInput
from ..policy import Role
from .schema import audit_log, login_attempts, password_resets, sessions, users
from .tokens import revoke_user_tokens

if TYPE_CHECKING:
    from .protocol import StoreLike


class AccountStore:
    def __init__(self, store: StoreLike):
        self.store = store

    @property
    def cipher(self):
        return self.store.cipher  # follows key rotation

    # -- users --------------------------------------------------------------------------------
    def _user(self, r) -> User:
        return User(
            id=r.id, username=r.username, role=Role(r.role), password_hash=r.password_hash,
            active=bool(r.active),
            totp_secret=self.cipher.decrypt(r.totp_enc, "users", str(r.id), "totp")
            if r.totp_enc is not None else None,
            totp_last_step=r.totp_last_step, recovery_hashes=json.loads(r.recovery_hashes),
        )

    def add(self, username: str, role: Role, password_hash: str, actor: str) -> User:
        with self.store.audited(actor, "user.add", f"user:{username}", {"role": str(role)}) as c:
            uid = c.execute(users.insert().values(
                username=username, role=str(role), password_hash=password_hash, active=True,
                totp_last_step=0, recovery_hashes="[]",
                created_at=datetime.now(UTC).replace(tzinfo=None))).inserted_primary_key[0]
        return self.get(uid)

    def get(self, user_id: int) -> User | None:
        with self.store.read() as c:
            r = c.execute(select(users).where(users.c.id == user_id)).first()
        return self._user(r) if r else None

    def by_name(self, username: str) -> User | None:
        with self.store.read() as c:
            r = c.execute(select(users).where(users.c.username == username)).first()
        return self._user(r) if r else None

    def all(self) -> list[User]:
        with self.store.read() as c:
            return [self._user(r) for r in c.execute(select(users).order_by(users.c.username))]

    def exists(self, username: str) -> bool:
        with self.store.read() as c:
            return c.execute(select(func.count()).select_from(users)
                             .where(users.c.username == username)).scalar_one() > 0

    def set_password_hash(self, user_id: int, password_hash: str, actor: str,
                          action: str = "user.password_rehash") -> None:
        with self.store.audited(actor, action, f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id)
                      .values(password_hash=password_hash))

    def reset_password(self, user_id: int, password_hash: str, actor: str) -> None:
        """A new password (a leak, a phishing). Ends every session and API token of the user,
        server-side: whoever holds a session from before is out, as after disabling or an MFA
        reset."""
        with self.store.audited(actor, "user.password_reset", f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id)
                      .values(password_hash=password_hash))
            c.execute(delete(sessions).where(sessions.c.user_id == user_id))
            revoke_user_tokens(c, user_id, actor)  # and its API tokens

    def set_active(self, user_id: int, active: bool, actor: str) -> None:
        """Disabling also ends every session of the user, server-side. Nobody disables their
        own account, and the last enabled admin stays enabled (checked inside the write
        transaction, so two admins disabling each other cannot both succeed)."""
        action = "user.enable" if active else "user.disable"
        with self.store.audited(actor, action, f"user:{user_id}") as c:
            if not active:
                r = c.execute(select(users.c.username, users.c.role, users.c.active)
                              .where(users.c.id == user_id)).first()
                if r is not None and r.username == actor:
                    raise InvalidInput("you cannot disable your own account", field="self")
                if r is not None and r.active and r.role == str(Role.ADMIN) and \
                        self._enabled_admins(c) <= 1:
                    raise InvalidInput("the last enabled admin cannot be disabled",
                                       field="last_admin")
            c.execute(update(users).where(users.c.id == user_id).values(active=active))
            if not active:
                c.execute(delete(sessions).where(sessions.c.user_id == user_id))
                revoke_user_tokens(c, user_id, actor)  # enabling again does not revive them

    @staticmethod
    def _enabled_admins(c) -> int:
        return c.execute(select(func.count()).select_from(users).where(
            users.c.role == str(Role.ADMIN), users.c.active.is_(True))).scalar_one()

    # -- one-time set-password links ----------------------------------------------------------
    def issue_password_link(self, user_id: int, actor: str) -> str:
        """A new one-time link for the user to set a password (24 h, single use); returns the
        token (only its hash is stored). The old password stops working, every session of the
        user ends and any earlier unused link dies, in one transaction."""
        token, token_hash = acc.new_reset_token()
        now = time.time()
        with self.store.audited(actor, "user.password_link", f"user:{user_id}",
                                {"expires_in_h": acc.RESET_TTL_S // 3600}) as c:
            if c.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise InvalidInput("no such user", field="user")
            c.execute(delete(password_resets).where(password_resets.c.user_id == user_id))
            c.execute(password_resets.insert().values(
                token_hash=token_hash, user_id=user_id, created_at=now,
                expires_at=now + acc.RESET_TTL_S, created_by=actor[:64]))
            c.execute(update(users).where(users.c.id == user_id)
                      .values(password_hash=acc.NO_PASSWORD))
            c.execute(delete(sessions).where(sessions.c.user_id == user_id))
            revoke_user_tokens(c, user_id, actor)
        return token

    def password_link_user(self, token: str) -> User | None:
        """The enabled user a link is for, while it is unused and unexpired; else None."""
        with self.store.read() as c:
            r = c.execute(select(password_resets.c.user_id).where(
                password_resets.c.token_hash == acc.reset_token_hash(token),
                password_resets.c.used_at.is_(None),
                password_resets.c.expires_at > time.time())).first()
        user = self.get(r.user_id) if r else None
        return user if user is not None and user.active else None

    def use_password_link(self, token: str, password_hash: str) -> User | None:
        """Set the password through a link; the link is spent (a conditional update, so two
        uses at once cannot both succeed). None if the link is unknown, used or expired."""
        user = self.password_link_user(token)
        if user is None:
            return None
        now = time.time()

        class _Spent(Exception):
            pass

        try:
            with self.store.audited(user.username, "user.password_set", f"user:{user.id}",
                                    {"via": "one-time link"}) as c:
                n = c.execute(update(password_resets).where(
                    password_resets.c.token_hash == acc.reset_token_hash(token),
                    password_resets.c.user_id == user.id,
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > now).values(used_at=now)).rowcount
                if n != 1:
                    raise _Spent
                c.execute(update(users).where(users.c.id == user.id)
                          .values(password_hash=password_hash))
                c.execute(delete(sessions).where(sessions.c.user_id == user.id))
        except _Spent:
            return None
        return self.get(user.id)

    def pending_links(self) -> dict[int, float]:
        """user id -> expiry of their unused, unexpired set-password link."""
        with self.store.read() as c:
            rows = c.execute(select(password_resets.c.user_id, password_resets.c.expires_at)
                             .where(password_resets.c.used_at.is_(None),
                                    password_resets.c.expires_at > time.time())).all()
        return {r.user_id: r.expires_at for r in rows}

    def last_signins(self) -> dict[int, str]:
        """user id -> time (ISO, UTC) of their latest complete sign-in, from the audit log."""
        with self.store.read() as c:
            rows = c.execute(select(audit_log.c.target, func.max(audit_log.c.ts))
                             .where(audit_log.c.action == "signin.ok")
                             .group_by(audit_log.c.target)).all()
        out = {}
        for target, ts in rows:
            if target and target.startswith("user:") and target[5:].isdigit():
                out[int(target[5:])] = ts
        return out

    def reset_mfa(self, user_id: int, actor: str) -> None:
        """Clears TOTP and recovery codes; the next sign-in enrols again. Ends all sessions."""
        with self.store.audited(actor, "user.reset_mfa", f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id)
                      .values(totp_enc=None, totp_last_step=0, recovery_hashes="[]"))
            c.execute(delete(sessions).where(sessions.c.user_id == user_id))
            revoke_user_tokens(c, user_id, actor)

    def enrol_totp(self, user_id: int, secret: str, step: int, recovery_hashes: list[str],
                   actor: str) -> None:
        with self.store.audited(actor, "user.mfa_enrol", f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id).values(
                totp_enc=self.cipher.encrypt(secret, "users", str(user_id), "totp"),
                totp_last_step=step, recovery_hashes=json.dumps(recovery_hashes)))

    def use_totp_step(self, user_id: int, step: int) -> bool:
        """Record a TOTP step as used; False if it (or a later one) was used already.
        Conditional update, so two simultaneous uses of one code cannot both succeed."""
        with self.store.write() as c:
            n = c.execute(update(users).where(users.c.id == user_id,
                                              users.c.totp_last_step < step)
                          .values(totp_last_step=step)).rowcount
        return n == 1

    def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        with self.store.write() as c:
            r = c.execute(select(users.c.recovery_hashes).where(users.c.id == user_id)).first()
            hashes = json.loads(r.recovery_hashes) if r else []
            if code_hash not in hashes:
                return False
            hashes.remove(code_hash)
            c.execute(update(users).where(users.c.id == user_id)
                      .values(recovery_hashes=json.dumps(hashes)))
        return True

    # -- sign-in attempts ---------------------------------------------------------------------
    def record_attempt(self, username: str, address: str, outcome: str) -> None:
        with self.store.write() as c:
            c.execute(login_attempts.insert().values(
                ts=time.time(), username=username[:64], address=address[:64], outcome=outcome))

    def recent_failures(self, username: str, address: str, window_s: float) -> tuple[int, int]:
        """Failed (or refused) attempts within the window: (for this account, from this address)."""
        since = time.time() - window_s
        bad = login_attempts.c.outcome.in_(["failure", "refused"])
        with self.store.read() as c:
            by_user = c.execute(select(func.count()).select_from(login_attempts).where(
                login_attempts.c.username == username, login_attempts.c.ts >= since, bad)
            ).scalar_one()
            by_addr = c.execute(select(func.count()).select_from(login_attempts).where(
                login_attempts.c.address == address, login_attempts.c.ts >= since, bad)
            ).scalar_one()
        return by_user, by_addr

    # -- sessions -----------------------------------------------------------------------------
    def session(self, token_hash: str):
        with self.store.read() as c:
            return c.execute(select(sessions).where(sessions.c.token_hash == token_hash)).first()

    def save_session(self, token_hash: str, user_id: int | None, data: dict,
                     created_at: float, last_seen: float, create: bool = True) -> bool:
        """Update a session row, or insert it when `create` (a new token). False when the
        row is gone and may not be created: the session was ended on the server meanwhile."""
        with self.store.write() as c:
            n = c.execute(update(sessions).where(sessions.c.token_hash == token_hash).values(
                user_id=user_id, data=json.dumps(data), last_seen=last_seen)).rowcount
            if n == 0:
                if not create:
                    return False
                c.execute(sessions.insert().values(
                    token_hash=token_hash, user_id=user_id, data=json.dumps(data),
                    created_at=created_at, last_seen=last_seen))
        return True

    def active_sessions(self, idle_s: float, absolute_s: float) -> list:
        """Signed-in sessions that have not timed out, newest activity first: rows of
        (token_hash, user_id, username, role, created_at, last_seen)."""
        now = time.time()
        with self.store.read() as c:
            return c.execute(
                select(sessions.c.token_hash, sessions.c.user_id, users.c.username, users.c.role,
                       sessions.c.created_at, sessions.c.last_seen)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.last_seen >= now - idle_s,
                       sessions.c.created_at >= now - absolute_s)
                .order_by(sessions.c.last_seen.desc())).all()

    def end_session(self, token_hash: str, actor: str) -> bool:
        """An admin ends one session; False if there was none with that id."""
        with self.store.write() as c:
            r = c.execute(select(sessions.c.user_id).where(
                sessions.c.token_hash == token_hash)).first()
        if r is None:
            return False
        with self.store.audited(actor, "session.end", f"user:{r.user_id}") as c:
            c.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
        return True

    def end_user_sessions(self, user_id: int, actor: str) -> int:
        """An admin ends every session of a user; returns how many there were."""
        with self.store.audited(actor, "session.end_all", f"user:{user_id}") as c:
            return c.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount

    def delete_session(self, token_hash: str) -> None:
        with self.store.write() as c:
            c.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    def purge_sessions(self, idle_s: float, absolute_s: float,
                       attempts_kept_s: float = 30 * 86400) -> int:
        """Drop expired sessions, and sign-in attempts older than the retention period (the
        audit log keeps the failures)."""
        now = time.time()
        with self.store.write() as c:
            c.execute(delete(login_attempts).where(login_attempts.c.ts < now - attempts_kept_s))
            return c.execute(delete(sessions).where(or_(
                sessions.c.last_seen < now - idle_s, sessions.c.created_at < now - absolute_s))
            ).rowcount
