"""Administration in the app (issue 10, item 5) through the real app and a real SQLite file:
who may reach it (admins only; 404 for everyone else, GET and POST), each action audited with
the admin as actor, CSRF on every POST, the last-admin rule, and one-time password links."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
from sqlalchemy import select, update

from geomap import accounts as acc
from geomap.store.accounts import AccountStore
from geomap.store.schema import audit_log, password_resets
from geomap.web import create_app

from .conftest import (
    PASSWORD,
    code_step,
    csrf_from,
    https_client,
    make_user,
    password_step,
    sign_in,
    sign_in_with_forms,
)

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def app(settings, store):
    app = create_app(settings, store)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def admin(app, store):
    """The admin "boss", signed in through the forms (the audit log holds the sign-in)."""
    user, secret, _ = make_user(store, "admin", username="boss")
    return sign_in_with_forms(https_client(app), user.username, secret), user


def _audit(store, action: str) -> list:
    with store.read() as c:
        return c.execute(select(audit_log).where(audit_log.c.action == action)
                         .order_by(audit_log.c.id)).all()


def _post(client, url: str, data: dict | None = None, page: str = "/admin/users"):
    token = csrf_from(client.get(page).data.decode())
    return client.post(url, data={**(data or {}), "csrf_token": token})


ADMIN_GETS = ["/admin/", "/admin/users", "/admin/audit", "/admin/sessions"]
ADMIN_POSTS = ["/admin/users", "/admin/users/1/disable", "/admin/users/1/enable",
               "/admin/users/1/reset-mfa", "/admin/users/1/reset-password",
               "/admin/users/1/end-sessions", "/admin/sessions/end", "/admin/audit/verify",
               "/admin/audit/export"]


@pytest.mark.parametrize("role", ["viewer", "researcher", "analyst"])
def test_every_admin_url_is_404_for_other_roles_on_get_and_post(app, store, role):
    make_user(store, "admin", username="boss")  # user 1 exists and is an admin
    user, secret, _ = make_user(store, role)
    c = sign_in(https_client(app), user.username, secret)
    token = csrf_from(c.get("/").data.decode())
    for url in ADMIN_GETS:
        assert c.get(url).status_code == 404, url
    for url in ADMIN_POSTS:
        # with a valid token and without one: the same 404, the URL does not exist for them
        assert c.post(url, data={"csrf_token": token, "username": "x1x", "role": "admin"}
                      ).status_code == 404, url
        assert c.post(url).status_code == 404, url
    assert AccountStore(store).by_name("boss").active
    assert AccountStore(store).by_name("x1x") is None
    assert b"/admin" not in c.get("/").data  # no link to it in their navigation


def test_signed_out_visitors_are_sent_to_sign_in_from_admin_urls(app):
    c = https_client(app)
    r = c.get("/admin/users")
    assert r.status_code == 302 and "/login" in r.location


def test_admin_sees_users_with_role_state_mfa_and_last_sign_in(app, store):
    boss, secret, _ = make_user(store, "admin", username="boss")
    c = sign_in_with_forms(https_client(app), boss.username, secret)  # the sign-in is recorded
    make_user(store, "analyst", username="imagery-kim", enrol=False)
    html = c.get("/admin/users").data.decode()
    assert "imagery-kim" in html and "boss" in html
    assert "Imagery analyst" in html and "Not set up yet" in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", html)  # boss's sign-in just now
    assert 'href="/admin/users"' in c.get("/").data.decode()  # in the admin's navigation


def test_every_admin_post_needs_a_csrf_token(admin, store):
    c, boss = admin
    other, _, _ = make_user(store, "viewer", username="nocsrf")
    for url in ADMIN_POSTS:
        url = url.replace("/users/1/", f"/users/{other.id}/")
        assert c.post(url, data={"username": "csrf-less", "role": "admin"}).status_code == 400
    assert AccountStore(store).get(other.id).active
    assert AccountStore(store).by_name("csrf-less") is None


def test_adding_a_user_gives_a_one_time_link_and_no_password(admin, store, app):
    c, boss = admin
    r = _post(c, "/admin/users", {"username": "new-researcher", "role": "researcher"})
    assert r.status_code == 200
    link = re.search(r'https://localhost(/reset/[A-Za-z0-9_-]+)', r.data.decode())[1]
    user = AccountStore(store).by_name("new-researcher")
    assert user.role == "researcher" and user.active and user.totp_secret is None
    added = _audit(store, "user.add")[-1]
    assert added.actor == "boss" and added.target == "user:new-researcher"
    assert _audit(store, "user.password_link")[-1].actor == "boss"
    # no password works until they set one
    anon = https_client(app)
    assert password_step(anon, "new-researcher", acc.NO_PASSWORD).status_code == 401
    # the link: set a password, then sign in and enrol the second factor
    page = anon.get(link)
    assert page.status_code == 200 and b"new-researcher" in page.data
    r = anon.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                              "csrf_token": csrf_from(page.data.decode())})
    assert r.status_code == 302 and "password_set=1" in r.location
    assert "password is set" in anon.get(r.location).data.decode()
    r = password_step(anon, "new-researcher", NEW_PASSWORD)
    assert r.status_code == 302 and r.location.endswith("/login/enrol")
    set_entry = _audit(store, "user.password_set")[-1]
    assert set_entry.actor == "new-researcher"


def test_a_password_link_works_once(admin, store, app):
    c, boss = admin
    target, secret, _ = make_user(store, "viewer", username="forgetful")
    r = _post(c, f"/admin/users/{target.id}/reset-password")
    link = re.search(r'https://localhost(/reset/[A-Za-z0-9_-]+)', r.data.decode())[1]
    anon = https_client(app)
    token = csrf_from(anon.get(link).data.decode())
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token}
    assert anon.post(link, data=form).status_code == 302
    again = https_client(app)
    assert again.get(link).status_code == 404
    r = again.post(link, data={**form, "password": "another long password",
                               "confirm": "another long password",
                               "csrf_token": csrf_from(again.get("/login").data.decode())})
    assert r.status_code == 404 and b"does not work" in r.data
    sign_in(https_client(app), "forgetful", secret, NEW_PASSWORD)  # the first one counts


def test_resetting_a_password_ends_sessions_and_the_old_password(admin, store, app):
    c, boss = admin
    target, secret, _ = make_user(store, "researcher", username="phished")
    victim = sign_in(https_client(app), "phished", secret)
    assert victim.get("/").status_code == 200
    _post(c, f"/admin/users/{target.id}/reset-password")
    assert victim.get("/").status_code == 302
    assert password_step(https_client(app), "phished", PASSWORD).status_code == 401
    assert _audit(store, "user.password_link")[-1].target == f"user:{target.id}"


def test_an_expired_password_link_is_refused(admin, store, app):
    c, boss = admin
    target, _, _ = make_user(store, "viewer", username="slowpoke")
    token = AccountStore(store).issue_password_link(target.id, actor="boss")
    with store.write() as conn:  # the clock: stored as issued 25 hours ago
        conn.execute(update(password_resets).values(created_at=time.time() - 25 * 3600,
                                                    expires_at=time.time() - 3600))
    anon = https_client(app)
    assert anon.get(f"/reset/{token}").status_code == 404
    r = anon.post(f"/reset/{token}", data={
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
        "csrf_token": csrf_from(anon.get("/login").data.decode())})
    assert r.status_code == 404
    assert AccountStore(store).get(target.id).password_hash == acc.NO_PASSWORD


def test_a_newer_link_replaces_the_older_one(store):
    target, _, _ = make_user(store, "viewer", username="twice")
    a = AccountStore(store)
    first = a.issue_password_link(target.id, actor="boss")
    second = a.issue_password_link(target.id, actor="boss")
    assert a.password_link_user(first) is None
    assert a.password_link_user(second).id == target.id
    with store.read() as conn:  # only hashes stored
        hashes = [r.token_hash for r in conn.execute(select(password_resets))]
    assert second not in hashes and acc.reset_token_hash(second) in hashes


def test_a_short_or_mismatched_password_is_refused_and_the_link_stays(store, app):
    target, _, _ = make_user(store, "viewer", username="typo")
    token = AccountStore(store).issue_password_link(target.id, actor="boss")
    anon = https_client(app)
    csrf = csrf_from(anon.get(f"/reset/{token}").data.decode())
    r = anon.post(f"/reset/{token}", data={"password": "short", "confirm": "short",
                                           "csrf_token": csrf})
    assert r.status_code == 400 and b"at least 12" in r.data
    r = anon.post(f"/reset/{token}", data={"password": NEW_PASSWORD, "confirm": "different one!",
                                           "csrf_token": csrf})
    assert r.status_code == 400
    assert AccountStore(store).password_link_user(token) is not None


def test_disabling_ends_the_users_sessions_and_is_audited(admin, store, app):
    c, boss = admin
    target, secret, _ = make_user(store, "researcher", username="leaver")
    other = sign_in(https_client(app), "leaver", secret)
    r = _post(c, f"/admin/users/{target.id}/disable")
    assert r.status_code == 303
    assert "leaver is disabled" in c.get("/admin/users").data.decode()
    r = other.get("/")
    assert r.status_code == 302 and "ended=1" in r.location
    assert "Your session has ended" in other.get(r.location).data.decode()
    assert "ended=1" not in other.get("/").location  # said once: the stale cookie is gone
    entry = _audit(store, "user.disable")[-1]
    assert (entry.actor, entry.target) == ("boss", f"user:{target.id}")
    _post(c, f"/admin/users/{target.id}/enable")
    assert AccountStore(store).get(target.id).active
    assert _audit(store, "user.enable")[-1].actor == "boss"


def test_resetting_the_second_factor_ends_sessions_and_makes_them_enrol(admin, store, app):
    c, boss = admin
    target, secret, _ = make_user(store, "analyst", username="lostphone")
    other = sign_in(https_client(app), "lostphone", secret)
    assert _post(c, f"/admin/users/{target.id}/reset-mfa").status_code == 303
    assert other.get("/").status_code == 302
    assert AccountStore(store).get(target.id).totp_secret is None
    assert password_step(https_client(app), "lostphone").location.endswith("/login/enrol")
    assert _audit(store, "user.reset_mfa")[-1].actor == "boss"


def test_an_admin_cannot_disable_themselves(admin, store):
    c, boss = admin
    make_user(store, "admin", username="second-admin")
    r = _post(c, f"/admin/users/{boss.id}/disable")
    assert r.status_code == 409 and b"your own account" in r.data
    assert AccountStore(store).get(boss.id).active


def test_the_last_enabled_admin_cannot_be_disabled(store):
    a = AccountStore(store)
    only, _, _ = make_user(store, "admin", username="only-admin")
    from geomap.errors import InvalidInput

    with pytest.raises(InvalidInput, match="last enabled admin"):
        a.set_active(only.id, False, actor="cli:root")
    assert a.get(only.id).active
    second, _, _ = make_user(store, "admin", username="deputy")
    a.set_active(only.id, False, actor="cli:root")  # another admin remains: fine
    with pytest.raises(InvalidInput, match="last enabled admin"):
        a.set_active(second.id, False, actor="cli:root")


def test_adding_a_user_with_a_bad_name_role_or_a_taken_name_is_a_clear_4xx(admin, store):
    c, boss = admin
    r = _post(c, "/admin/users", {"username": "a b", "role": "viewer"})
    assert r.status_code == 400 and b"Username: 3 to 64" in r.data
    r = _post(c, "/admin/users", {"username": "okname", "role": "superuser"})
    assert r.status_code == 400
    r = _post(c, "/admin/users", {"username": "boss", "role": "viewer"})
    assert r.status_code == 409 and b"exists already" in r.data
    assert _post(c, "/admin/users/99999/disable").status_code == 404


def test_sessions_page_lists_and_ends_sessions(admin, store, app):
    c, boss = admin
    target, secret, codes = make_user(store, "viewer", username="reader")
    s1 = sign_in(https_client(app), "reader", secret)
    html = c.get("/admin/sessions").data.decode()
    assert "reader" in html and "this session" in html
    sid = re.search(r'<tr data-user="reader">.*?name="session" value="([0-9a-f]{64})"', html,
                    re.S)[1]
    r = _post(c, "/admin/sessions/end", {"session": sid}, page="/admin/sessions")
    assert r.status_code == 303
    assert s1.get("/").status_code == 302
    assert _audit(store, "session.end")[-1].target == f"user:{target.id}"
    assert _post(c, "/admin/sessions/end", {"session": sid}, "/admin/sessions").status_code == 404
    assert _post(c, "/admin/sessions/end", {"session": "x"}, "/admin/sessions").status_code == 400
    s2 = https_client(app)  # again, with a recovery code (each TOTP code works once)
    password_step(s2, "reader")
    assert code_step(s2, codes[0]).status_code == 302
    _post(c, f"/admin/users/{target.id}/end-sessions", page="/admin/sessions")
    assert s2.get("/").status_code == 302
    assert _audit(store, "session.end_all")[-1].actor == "boss"


def test_audit_log_filters_pages_verifies_and_exports(admin, store):
    c, boss = admin
    for i in range(60):
        store.audit("robot", "test.event", f"thing:{i}")
    html = c.get("/admin/audit?actor=robot").data.decode()
    assert "60 entries" in html and "thing:59" in html and "thing:0<" not in html
    assert "thing:0<" in c.get("/admin/audit?actor=robot&page=2").data.decode()
    html = c.get("/admin/audit?action=signin.ok").data.decode()
    assert "1 entry" in html and "boss" in html
    assert "No entries match" in c.get("/admin/audit?from=2001-01-01&to=2001-01-02").data.decode()
    assert c.get("/admin/audit?from=yesterday").status_code == 400
    r = _post(c, "/admin/audit/verify", page="/admin/audit")
    assert r.status_code == 200 and b"intact" in r.data
    assert _audit(store, "audit.verify")[-1].actor == "boss"
    r = _post(c, "/admin/audit/export", {"actor": "robot"}, page="/admin/audit")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert len(rows) == 60 and {row["actor"] for row in rows} == {"robot"}
    export = _audit(store, "audit.export")[-1]
    assert export.actor == "boss" and '"rows": 60' in export.details


@pytest.mark.sqlite_only(reason="tampers through SQLite SQL")
def test_audit_verify_names_a_tampered_entry(admin, store):
    c, boss = admin
    with store.write() as conn:  # edit an entry the way an intruder with the file would
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'nobody' WHERE id = 1")
    r = _post(c, "/admin/audit/verify", page="/admin/audit")
    assert b"tampered" in r.data and b"entry 1" in r.data


def test_cli_prints_a_reset_link_that_works(settings, store, app):
    from click.testing import CliRunner

    from geomap.cli import main

    target, secret, _ = make_user(store, "viewer", username="cli-user")
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "users",
                                  "reset-link", "cli-user"])
    assert r.exit_code == 0, r.output
    path = re.search(r"(/reset/[A-Za-z0-9_-]+)", r.output)[1]
    anon = https_client(app)
    page = anon.get(path)
    assert page.status_code == 200
    anon.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                          "csrf_token": csrf_from(page.data.decode())})
    sign_in(https_client(app), "cli-user", secret, NEW_PASSWORD)


def test_an_admin_ending_their_own_sessions_is_signed_out_too(admin, store):
    # the request that ends them must not write its own session row back afterwards
    c, boss = admin
    r = _post(c, f"/admin/users/{boss.id}/end-sessions")
    assert r.status_code == 303
    assert c.get("/admin/users").status_code == 302
    with store.read() as conn:
        from geomap.store.schema import sessions

        assert conn.execute(select(sessions).where(sessions.c.user_id == boss.id)).first() \
            is None


def test_an_admin_resetting_their_own_second_factor_is_signed_out(admin, store):
    c, boss = admin
    _post(c, f"/admin/users/{boss.id}/reset-mfa")
    assert c.get("/admin/users").status_code == 302
