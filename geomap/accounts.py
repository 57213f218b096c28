"""Accounts: Argon2id password hashes (rehashed on sign-in when parameters change), TOTP with
single-use codes, recovery codes, and the sign-in rate limit. No Flask here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import Conflict, InvalidInput
from .policy import Principal, Role

HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
MIN_PASSWORD = 12
RECOVERY_CODES = 10
TOTP_STEP = 30
# Sign-in attempts allowed per account and per address within the window.
RATE_LIMIT = 10
RATE_WINDOW_S = 60
# A hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = HASHER.hash("geomap-no-such-user")


@dataclass
class User:
    id: int
    username: str
    role: Role
    password_hash: str
    active: bool
    totp_secret: str | None      # decrypted; None until the user enrolled
    totp_last_step: int
    recovery_hashes: list[str]

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.username, self.role)


def check_username(name: str) -> str:
    name = name.strip()
    if not (3 <= len(name) <= 64) or not all(c.isalnum() or c in "._-@" for c in name):
        raise InvalidInput("username: 3-64 letters, digits or . _ - @", field="username")
    return name


def new_username(name: str, taken: Callable[[str], bool]) -> str:
    """`name` checked as a username no account has yet: `geomap users add` and the
    administration page both ask this before adding an account."""
    name = check_username(name)
    if taken(name):
        raise Conflict(f"a user named {name!r} exists already", field="username")
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(ok, new hash if the stored one should be replaced with current parameters)."""
    try:
        HASHER.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, (HASHER.hash(password) if HASHER.check_needs_rehash(stored_hash) else None)


# A one-time set-password link (new account, or a reset by an admin) lives this long.
RESET_TTL_S = 24 * 3600
# Stored instead of a password hash until the user sets one through a link: argon2 refuses to
# parse it, so no password matches it.
NO_PASSWORD = "!unset"


def new_reset_token() -> tuple[str, str]:
    """(token for the link, its hash for the database). 256 random bits: a fast hash is
    enough, nothing to slow down."""
    token = secrets.token_urlsafe(32)
    return token, reset_token_hash(token)


def reset_token_hash(token: str) -> str:
    return hashlib.sha256(("geomap-reset|" + token).encode()).hexdigest()


def reset_link_path(token: str) -> str:
    """Where the link leads (the web app serves it; the CLI prints it)."""
    return f"/reset/{token}"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, issuer: str = "geomap") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def verify_totp(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step the code belongs to (±1 step of drift), or None. A step at or before
    `last_step` is refused: each code works once."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    current = int(now // TOTP_STEP)
    for step in (current - 1, current, current + 1):
        if step > last_step and hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 80 random bits each, shown once; only their hashes are stored."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return ["-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))
            for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> str:
    # codes carry 80 bits of entropy: a fast hash is enough (no guessing attack to slow down)
    return hashlib.sha256(("geomap-recovery|" + code.strip().lower()).encode()).hexdigest()


def match_recovery_code(hashes: list[str], code: str) -> str | None:
    h = recovery_hash(code)
    return next((x for x in hashes if hmac.compare_digest(x, h)), None)
