"""Administration in the app (admins only: permission manage_users; everyone else gets 404 on
every URL here, GET and POST alike, before even the CSRF check can tell the URL exists).

Users (add with a one-time set-password link, disable/enable, reset the second factor, reset
the password with a link), the audit log (filter, verify, export) and active sessions. Every
change is a POST with a CSRF token and is audited with the admin as actor; the logic lives in
the library (geomap.store.accounts, geomap.audit), which the CLI uses too."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from .. import accounts as acc
from .. import audit as audit_lib
from ..errors import BadRequest, Conflict, InvalidInput, NotFound
from ..policy import Permission, Role
from . import get_settings, get_store
from .security import current_principal, require
from .sessions import token_hash

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 50


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    # CSRF is checked in _admins_only, after the permission check: a non-admin's POST gets
    # the same 404 as a GET, whether or not it carries a token
    app.extensions["csrf"].exempt(bp)


@bp.before_request
def _admins_only():
    require(Permission.MANAGE_USERS)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        current_app.extensions["csrf"].protect()


def _accounts():
    return current_app.extensions["geomap_accounts"]


def _actor() -> str:
    return current_principal().username


def role_labels() -> dict[str, str]:
    return {Role.ADMIN.value: _("Administrator"), Role.RESEARCHER.value: _("Researcher"),
            Role.ANALYST.value: _("Imagery analyst"), Role.VIEWER.value: _("Viewer")}


@bp.app_template_filter("gm_time")
def gm_time(value) -> str:
    """A time (epoch seconds or ISO text) as `YYYY-MM-DD HH:MM UTC`."""
    if value is None or value == "":
        return ""
    try:
        t = datetime.fromtimestamp(value, UTC) if isinstance(value, (int, float)) \
            else datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, TypeError, OverflowError):
        return str(value)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _refusal(e: InvalidInput | Conflict) -> str:
    """The library's refusals, said in the page's language."""
    return _("A user with this name exists already.") if isinstance(e, Conflict) else {
        "self": _("You cannot disable your own account."),
        "last_admin": _("This is the last enabled administrator: enable or add another "
                        "administrator first."),
        "username": _("Username: 3 to 64 letters, digits or . _ - @"),
        "role": _("Choose a role."),
    }.get(e.field or "", _("That could not be done."))


def _user_or_404(user_id: int):
    user = _accounts().get(user_id)
    if user is None:
        raise NotFound()
    return user


# -- users --------------------------------------------------------------------------------------
@bp.get("/")
def index():
    return redirect(url_for("admin.users"))


def _users_page(error: str | None = None, status: int = 200, form: dict | None = None):
    a = _accounts()
    users = a.all()
    sessions_by_user: dict[int, int] = {}
    s = get_settings()
    for row in a.active_sessions(s.session_idle_s, s.session_absolute_s):
        sessions_by_user[row.user_id] = sessions_by_user.get(row.user_id, 0) + 1
    return render_template(
        "admin_users.html", users=users, last_signin=a.last_signins(),
        pending=a.pending_links(), sessions=sessions_by_user, roles=role_labels(),
        error=error, form=form or {}, messages=get_flashed_messages(),
        no_password=acc.NO_PASSWORD), status


@bp.get("/users")
def users():
    return _users_page()


@bp.post("/users")
def add_user():
    username = (request.form.get("username") or "").strip()
    role = request.form.get("role") or ""
    try:
        if role not in {r.value for r in Role}:
            raise InvalidInput("role: one of admin, researcher, analyst, viewer", field="role")
        name = acc.new_username(username, _accounts().exists)
    except (InvalidInput, Conflict) as e:  # named on the form, which keeps what was typed
        return _users_page(_refusal(e), e.status, {"username": username, "role": role})
    user = _accounts().add(name, Role(role), acc.NO_PASSWORD, actor=_actor())
    token = _accounts().issue_password_link(user.id, actor=_actor())
    return _link_page(user, token, new=True)


def _link_page(user, token: str, new: bool):
    link = url_for("auth.reset_password", token=token, _external=True)
    return render_template("admin_link.html", user=user, link=link, new=new,
                           hours=acc.RESET_TTL_S // 3600)


def _change(user_id: int, do, message: str):
    user = _user_or_404(user_id)
    try:
        do(user)
    except InvalidInput as e:
        return _users_page(_refusal(e), 409)
    flash(message % {"name": user.username})
    return redirect(url_for("admin.users"), 303)


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int):
    return _change(user_id, lambda u: _accounts().set_active(u.id, False, actor=_actor()),
                   _("%(name)s is disabled; their sessions have ended."))


@bp.post("/users/<int:user_id>/enable")
def enable(user_id: int):
    return _change(user_id, lambda u: _accounts().set_active(u.id, True, actor=_actor()),
                   _("%(name)s is enabled."))


@bp.post("/users/<int:user_id>/reset-mfa")
def reset_mfa(user_id: int):
    return _change(user_id, lambda u: _accounts().reset_mfa(u.id, actor=_actor()),
                   _("The second factor of %(name)s is cleared and their sessions have ended. "
                     "They set up a new one at their next sign-in."))


@bp.post("/users/<int:user_id>/end-sessions")
def end_user_sessions(user_id: int):
    return _change(user_id, lambda u: _accounts().end_user_sessions(u.id, actor=_actor()),
                   _("Every session of %(name)s has ended."))


@bp.post("/users/<int:user_id>/reset-password")
def reset_password(user_id: int):
    user = _user_or_404(user_id)
    token = _accounts().issue_password_link(user.id, actor=_actor())
    return _link_page(user, token, new=False)


# -- sessions -----------------------------------------------------------------------------------
@bp.get("/sessions")
def sessions():
    s = get_settings()
    rows = _accounts().active_sessions(s.session_idle_s, s.session_absolute_s)
    mine = token_hash(session.token) if getattr(session, "token", None) else None
    return render_template("admin_sessions.html", rows=rows, mine=mine, roles=role_labels(),
                           messages=get_flashed_messages())


@bp.post("/sessions/end")
def end_session():
    sid = request.form.get("session") or ""
    if not (len(sid) == 64 and all(c in "0123456789abcdef" for c in sid)):
        raise BadRequest(field="session")
    if not _accounts().end_session(sid, actor=_actor()):
        raise NotFound()
    flash(_("The session has ended."))
    return redirect(url_for("admin.sessions"), 303)


# -- audit log ----------------------------------------------------------------------------------
def _audit_filter(args) -> tuple[audit_lib.Filter, str | None]:
    def day(name):
        v = (args.get(name) or "").strip()
        if not v:
            return None
        try:
            return date.fromisoformat(v).isoformat()
        except ValueError:
            raise InvalidInput(name, field=name) from None

    f = audit_lib.Filter(actor=(args.get("actor") or "").strip() or None,
                         action=(args.get("action") or "").strip() or None)
    try:
        f.since, f.until = day("from"), day("to")
    except InvalidInput:
        return f, _("Dates: YYYY-MM-DD.")
    return f, None


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/audit")
def audit():
    return _audit_page()


def _audit_page(verified=None, status: int = 200):
    f, error = _audit_filter(request.values)
    page = _page_number()
    store = get_store()
    with store.read() as conn:
        rows, total = audit_lib.entries(conn, f if not error else audit_lib.Filter(),
                                        PAGE, (page - 1) * PAGE)
        action_names = audit_lib.actions(conn)
    pages = max(1, -(-total // PAGE))
    args = {k: v for k, v in (("actor", f.actor), ("action", f.action), ("from", f.since),
                              ("to", f.until)) if v}
    return render_template("admin_audit.html", rows=rows, total=total, page=page, pages=pages,
                           f=f, args=args, actions=action_names, error=error,
                           verified=verified, details=_details), 400 if error else status


def _details(text: str) -> str:
    try:
        d = json.loads(text or "{}")
    except ValueError:
        return text or ""
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items())) if isinstance(d, dict) else text


@bp.post("/audit/verify")
def audit_verify():
    store = get_store()
    with store.read() as conn:
        n, problems = audit_lib.verify(conn, store.audit_head)
    store.audit(_actor(), "audit.verify", None,
                {"entries": n, "problems": len(problems)})
    return _audit_page(verified={"n": n, "problems": [str(p) for p in problems]})


@bp.post("/audit/export")
def audit_export():
    f, error = _audit_filter(request.form)
    if error:
        return _audit_page(status=400)
    store = get_store()
    with store.read() as conn:
        rows, total = audit_lib.entries(conn, f, limit=None)
    store.audit(_actor(), "audit.export", None,
                {"rows": total, **{k: v for k, v in vars(f).items() if v}})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "ts", "actor", "action", "target", "details", "prev_hash", "hash"])
    for r in rows:
        w.writerow([r.id, r.ts, *(_cell(v) for v in (r.actor, r.action, r.target or "",
                                                      r.details)), r.prev_hash, r.hash])
    resp = Response("\ufeff" + buf.getvalue(), mimetype="text/csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    resp.headers["Content-Disposition"] = f"attachment; filename=geomap-audit-{stamp}.csv"
    return resp


def _cell(v: str) -> str:
    """No formula injection when the CSV is opened in a spreadsheet."""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
