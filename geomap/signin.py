"""Sign-in: password, then a second factor, with rate limits and an audit trail. No Flask."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from . import accounts as acc
from .accounts import User
from .store.accounts import AccountStore


class Outcome(StrEnum):
    OK = "ok"                      # password right: continue with the second factor
    ENROL = "enrol"                # password right, no second factor yet: enrol now
    FAILED = "failed"              # wrong user, wrong password or disabled account (not said which)
    RATE_LIMITED = "rate_limited"  # too many failures for this account or address


@dataclass
class PasswordResult:
    outcome: Outcome
    user: User | None = None


def rate_limited(accounts: AccountStore, username: str, address: str, step: str) -> bool:
    """Whether this attempt (at the password or the second-factor `step`) is over the limit
    for the account or the address; a refusal is recorded in login_attempts and the audit
    log like any failure."""
    by_user, by_addr = accounts.recent_failures(username, address, acc.RATE_WINDOW_S)
    if by_user < acc.RATE_LIMIT and by_addr < acc.RATE_LIMIT:
        return False
    accounts.record_attempt(username, address, "refused")
    accounts.store.audit(username or "-", "signin.refused", f"user:{username}",
                         {"address": address, "reason": "rate limit", "step": step,
                          "failures_account": by_user, "failures_address": by_addr})
    return True


def check_password(accounts: AccountStore, username: str, password: str,
                   address: str) -> PasswordResult:
    """First factor. The 11th failure within a minute for one account or one address is
    refused before the password is even checked, and logged."""
    store = accounts.store
    if rate_limited(accounts, username, address, "password"):
        return PasswordResult(Outcome.RATE_LIMITED)
    user = accounts.by_name(username)
    ok, new_hash = acc.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        accounts.record_attempt(username, address, "failure")
        reason = "disabled" if (ok and user is not None) else "bad credentials"
        store.audit(username or "-", "signin.failed", f"user:{username}",
                    {"address": address, "reason": reason})
        return PasswordResult(Outcome.FAILED)
    if new_hash:
        accounts.set_password_hash(user.id, new_hash, actor=user.username)
    return PasswordResult(Outcome.ENROL if user.totp_secret is None else Outcome.OK, user)


def check_second_factor(accounts: AccountStore, user: User, code: str, address: str) -> bool:
    """A TOTP code (each works once) or an unused recovery code (consumed)."""
    step = acc.verify_totp(user.totp_secret, code, user.totp_last_step) \
        if user.totp_secret else None
    ok = False
    how = "totp"
    if step is not None:
        ok = accounts.use_totp_step(user.id, step)
    elif (h := acc.match_recovery_code(user.recovery_hashes, code)) is not None:
        ok = accounts.use_recovery_code(user.id, h)
        how = "recovery_code"
    accounts.record_attempt(user.username, address, "success" if ok else "failure")
    if ok:
        accounts.store.audit(user.username, "signin.ok", f"user:{user.id}",
                             {"address": address, "factor": how})
    else:
        accounts.store.audit(user.username, "signin.failed", f"user:{user.id}",
                             {"address": address, "reason": "bad second factor"})
    return ok


def enrol(accounts: AccountStore, user: User, secret: str, code: str,
          address: str) -> list[str] | None:
    """Confirm a new TOTP secret with a code from the app; returns fresh recovery codes."""
    step = acc.verify_totp(secret, code, 0)
    if step is None:
        accounts.record_attempt(user.username, address, "failure")
        return None
    codes = acc.new_recovery_codes()
    accounts.enrol_totp(user.id, secret, step, [acc.recovery_hash(c) for c in codes],
                        actor=user.username)
    accounts.record_attempt(user.username, address, "success")
    accounts.store.audit(user.username, "signin.ok", f"user:{user.id}",
                         {"address": address, "factor": "totp-enrolment"})
    return codes
