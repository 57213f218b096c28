"""Persistence of accounts, server-side sessions and sign-in attempts (SQL stays here)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select, update

from ..accounts import User
from ..policy import Role
from .schema import login_attempts, sessions, users


class AccountStore:
    def __init__(self, store):
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
        """A new password (a leak, a phishing). Ends every session of the user, server-side:
        whoever holds a session from before is out, as after disabling or an MFA reset."""
        with self.store.audited(actor, "user.password_reset", f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id)
                      .values(password_hash=password_hash))
            c.execute(delete(sessions).where(sessions.c.user_id == user_id))

    def set_active(self, user_id: int, active: bool, actor: str) -> None:
        """Disabling also ends every session of the user, server-side."""
        action = "user.enable" if active else "user.disable"
        with self.store.audited(actor, action, f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id).values(active=active))
            if not active:
                c.execute(delete(sessions).where(sessions.c.user_id == user_id))

    def reset_mfa(self, user_id: int, actor: str) -> None:
        """Clears TOTP and recovery codes; the next sign-in enrols again. Ends all sessions."""
        with self.store.audited(actor, "user.reset_mfa", f"user:{user_id}") as c:
            c.execute(update(users).where(users.c.id == user_id)
                      .values(totp_enc=None, totp_last_step=0, recovery_hashes="[]"))
            c.execute(delete(sessions).where(sessions.c.user_id == user_id))

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
                     created_at: float, last_seen: float) -> None:
        with self.store.write() as c:
            n = c.execute(update(sessions).where(sessions.c.token_hash == token_hash).values(
                user_id=user_id, data=json.dumps(data), last_seen=last_seen)).rowcount
            if n == 0:
                c.execute(sessions.insert().values(
                    token_hash=token_hash, user_id=user_id, data=json.dumps(data),
                    created_at=created_at, last_seen=last_seen))

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
