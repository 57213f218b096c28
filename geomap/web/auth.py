"""Sign-in pages: password, then TOTP or a recovery code (enrolment on first sign-in)."""

from __future__ import annotations

import base64
import time

import segno
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from .. import accounts as acc
from .. import signin
from .security import safe_next

bp = Blueprint("auth", __name__)
PENDING_S = 300  # the second factor must follow the password within five minutes


def _accounts():
    return current_app.extensions["geomap_accounts"]


def _address() -> str:
    return request.remote_addr or "-"


def _pending_user():
    pending = session.get("pending")
    if not pending or time.time() - pending["at"] > PENDING_S:
        return None
    user = _accounts().get(pending["uid"])
    return user if user and user.active else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        result = signin.check_password(_accounts(), username, password, _address())
        if result.outcome == signin.Outcome.RATE_LIMITED:
            error, status = _("Too many failed attempts. Wait a minute and try again."), 429
        elif result.outcome == signin.Outcome.FAILED:
            error, status = _("Wrong username or password."), 401
        else:
            session.clear()
            session["pending"] = {"uid": result.user.id, "at": time.time(),
                                  "next": safe_next(request.args.get("next"))}
            session.regenerate()
            target = "auth.enrol" if result.outcome == signin.Outcome.ENROL else "auth.mfa"
            return redirect(url_for(target))
    notice = None
    if error is None and request.method == "GET":
        if request.args.get("signed_out"):
            notice = _("You have been signed out.")
        elif request.args.get("ended"):
            notice = _("Your session has ended. Sign in again.")
        elif request.args.get("password_set"):
            notice = _("Your password is set. Sign in with it.")
    return render_template("login.html", error=error, notice=notice), status


@bp.route("/login/mfa", methods=["GET", "POST"])
def mfa():
    user = _pending_user()
    if user is None or user.totp_secret is None:
        return redirect(url_for("auth.login"))
    error, status = None, 200
    if request.method == "POST":
        if signin.rate_limited(_accounts(), user.username, _address(), "second factor"):
            error, status = _("Too many failed attempts. Wait a minute and try again."), 429
        elif signin.check_second_factor(_accounts(), user, request.form.get("code", ""),
                                        _address()):
            return _signed_in(user)
        else:
            error, status = _("That code is not valid (each code works once)."), 401
    return render_template("mfa.html", error=error), status


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.totp_secret is not None:
        return redirect(url_for("auth.mfa"))
    # the secret waits in the session row until confirmed: encrypted there like everywhere
    cipher = _accounts().cipher
    sealed = session["pending"].get("secret")
    secret = cipher.decrypt(base64.b64decode(sealed), "sessions", str(user.id), "totp") \
        if sealed else None
    if secret is None:
        secret = acc.new_totp_secret()
        sealed = base64.b64encode(cipher.encrypt(secret, "sessions", str(user.id), "totp"))
        session["pending"] = {**session["pending"], "secret": sealed.decode()}
    error, status = None, 200
    if request.method == "POST":
        if signin.rate_limited(_accounts(), user.username, _address(), "enrolment"):
            error, status = _("Too many failed attempts. Wait a minute and try again."), 429
        elif (codes := signin.enrol(_accounts(), user, secret, request.form.get("code", ""),
                                    _address())) is not None:
            resp = _signed_in(user)
            return render_template("recovery_codes.html", codes=codes,
                                   next=resp.location), 200
        else:
            error, status = _("That code is not valid. Check the time on your phone."), 401
    uri = acc.totp_uri(secret, user.username)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return render_template("enrol.html", secret=secret, qr=qr, error=error), status


def _signed_in(user):
    target = session.get("pending", {}).get("next") or url_for("pages.map_page")
    session.clear()
    session["uid"] = user.id
    session.regenerate()
    return redirect(safe_next(target))


@bp.post("/logout")
def logout():
    uid = session.get("uid")
    if uid is not None:
        user = _accounts().get(uid)
        _accounts().store.audit(user.username if user else str(uid), "signout", f"user:{uid}")
    session.end()
    return redirect(url_for("auth.login", signed_out=1))


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """A one-time link an admin handed over (a new account, or a reset): set a password, then
    sign in (and enrol the second factor if needed). Reachable signed out; spent on use."""
    user = _accounts().password_link_user(token) if len(token) <= 128 else None
    if user is None:
        return render_template("reset_password.html", invalid=True), 404
    error, status = None, 200
    if request.method == "POST":
        password = request.form.get("password") or ""
        if len(password) < acc.MIN_PASSWORD:
            error, status = _("The password needs at least %(n)d characters.",
                              n=acc.MIN_PASSWORD), 400
        elif password != (request.form.get("confirm") or ""):
            error, status = _("The two passwords differ."), 400
        elif _accounts().use_password_link(token, acc.hash_password(password)) is None:
            return render_template("reset_password.html", invalid=True), 404
        else:
            session.end()  # whoever was signed in in this browser: not any more
            return redirect(url_for("auth.login", password_set=1))
    return render_template("reset_password.html", invalid=False, user=user, error=error,
                           min_length=acc.MIN_PASSWORD), status


