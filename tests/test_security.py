"""The security baseline (issue 3): each check named for what it pins."""

from __future__ import annotations

import sqlite3
import time

import pyotp
import pytest
from shapely.geometry import Point
from sqlalchemy import text

from geomap import accounts as acc
from geomap import audit
from geomap.crypto import DecryptionError
from geomap.model import Precision, Relationship, Testimony, Tier, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM, Permission, Role, matrix_markdown
from geomap.store.accounts import AccountStore
from geomap.web import create_app

from .conftest import (
    PASSWORD,
    code_step,
    csrf_from,
    https_client,
    make_user,
    password_step,
    sign_in,
)

NARRATIVE = "PLANTED-NARRATIVE-고문-7f3a9c"


@pytest.fixture
def app(ref_store, settings):
    ref_store.add_testimonies([
        Testimony(witness_code="SYN-SEC-1", place_text="Yodok", geometry=Point(126.9, 39.7),
                  radius_m=500, precision=Precision.LOCALITY, period=parse_period("1999"),
                  violations=[Violation.TORTURE], relationship=Relationship.DETAINED,
                  narrative=NARRATIVE, tier=Tier.INTERNAL, synthetic=True),
        Testimony(witness_code="SYN-SEC-2", place_text="Hoeryong", geometry=Point(129.7, 42.4),
                  radius_m=500, precision=Precision.LOCALITY, period=parse_period("2003"),
                  violations=[Violation.FORCED_LABOUR], relationship=Relationship.HEARSAY,
                  narrative="partner narrative", tier=Tier.PARTNER, synthetic=True),
    ])
    a = create_app(settings, ref_store)
    a.config["TESTING"] = True
    return a


def _ids(store):
    with store.read() as c:
        return dict(c.exec_driver_sql("SELECT tier, id FROM testimonies").all())


def _client_as(app, role):
    store = app.extensions["geomap_store"]
    user, secret, codes = make_user(store, role)
    return sign_in(https_client(app), user.username, secret), user, secret, codes


# -- the request guard ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/sites", "/api/testimonies", "/api/boundaries",
                                  "/api/stats", "/api/testimonies/1"])
def test_unauthenticated_api_requests_get_401(app, path):
    r = https_client(app).get(path)
    assert r.status_code == 401 and r.get_json() == {
        "error": "not_signed_in", "message": "Sign in to see this.", "field": None}
    assert r.headers["WWW-Authenticate"] == 'Session realm="geomap"'  # nothing more revealed


@pytest.mark.parametrize("path", ["/", "/basemap/relief.png"])
def test_unauthenticated_pages_redirect_to_sign_in(app, path):
    r = https_client(app).get(path)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_sign_in_page_and_static_files_are_open(app):
    c = https_client(app)
    assert c.get("/login").status_code == 200
    assert c.get("/static/css/geomap.css").status_code == 200


def test_every_response_carries_the_csp(app):
    c, *_ = _client_as(app, "researcher")
    anon = https_client(app)
    for client, path in [(anon, "/login"), (anon, "/api/sites"), (anon, "/"),
                         (anon, "/static/js/geomap-map.js"), (c, "/"), (c, "/api/sites"),
                         (c, "/api/testimonies/999999"), (c, "/nowhere"),
                         (c, "/api/testimonies?bbox=1")]:
        r = client.get(path)
        policy = r.headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                          "frame-ancestors 'none'"):
            assert directive in policy, (path, policy)
        assert "http" not in policy and "*" not in policy  # no third-party source
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers.get("Strict-Transport-Security", "").startswith("max-age="), path


def test_inline_scripts_carry_the_request_nonce(app):
    import re

    c, *_ = _client_as(app, "researcher")
    r = c.get("/")
    nonce = re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"])[1]
    html = r.data.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    styles = re.findall(r"<style([^>]*)>", html)
    assert all(f'nonce="{nonce}"' in attrs for attrs in styles)
    assert "HSTS" not in html
    assert https_client(app).get("/login", base_url="http://localhost").headers.get(
        "Strict-Transport-Security") is None  # only over HTTPS


# -- sessions -----------------------------------------------------------------------------------
def test_session_cookie_is_host_prefixed_secure_httponly_strict(app):
    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    c = https_client(app)
    password_step(c, user.username)
    r = code_step(c, pyotp.TOTP(secret).now())
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-geomap=")
    for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attr in cookie
    assert "Domain" not in cookie


def test_a_disabled_users_old_cookie_stops_working(app):
    c, user, *_ = _client_as(app, "researcher")
    assert c.get("/api/stats").status_code == 200
    AccountStore(app.extensions["geomap_store"]).set_active(user.id, False, actor="test")
    assert c.get("/api/stats").status_code == 401
    assert c.get("/").status_code == 302


def test_logout_ends_the_session_on_the_server(app):
    c, *_ = _client_as(app, "viewer")
    token = csrf_from(c.get("/").data.decode())
    cookie = c.get_cookie("__Host-geomap").value
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = https_client(app)
    replay.set_cookie("__Host-geomap", cookie)
    assert replay.get("/api/stats").status_code == 401


def test_idle_and_absolute_timeouts(app):
    from dataclasses import replace

    settings = app.config["GEOMAP_SETTINGS"]
    store = app.extensions["geomap_store"]
    for change in ({"session_idle_s": 1}, {"session_absolute_s": 1}):
        short = create_app(replace(settings, **change), store)
        c, *_ = _client_as(short, "viewer")
        assert c.get("/api/stats").status_code == 200
        time.sleep(1.2)
        assert c.get("/api/stats").status_code == 401, change


def test_sign_in_rotates_the_session_token(app):
    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    c = https_client(app)
    password_step(c, user.username)
    before = c.get_cookie("__Host-geomap").value
    code_step(c, pyotp.TOTP(secret).now())
    assert c.get_cookie("__Host-geomap").value != before


# -- CSRF ---------------------------------------------------------------------------------------
def test_a_post_without_csrf_token_fails(app):
    c, *_ = _client_as(app, "researcher")
    assert c.post("/logout").status_code == 400
    assert c.get("/api/stats").status_code == 200  # still signed in: the POST did nothing
    anon = https_client(app)
    r = anon.post("/login", data={"username": "x", "password": "y"})
    assert r.status_code == 400


def test_a_json_call_needs_the_token_in_its_header(app):
    c, *_ = _client_as(app, "researcher")
    token = csrf_from(c.get("/").data.decode())
    assert c.post("/logout", json={}).status_code == 400
    assert c.post("/logout", json={}, headers={"X-CSRFToken": token}).status_code == 302


# -- multi-factor sign-in -------------------------------------------------------------------------
def test_a_password_alone_does_not_sign_in(app):
    store = app.extensions["geomap_store"]
    user, _, _ = make_user(store)
    c = https_client(app)
    r = password_step(c, user.username)
    assert r.headers["Location"].endswith("/login/mfa")
    assert c.get("/api/stats").status_code == 401


def test_a_reused_totp_code_fails(app):
    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    code = pyotp.TOTP(secret).now()
    accounts = AccountStore(store)
    from geomap import signin

    u = accounts.get(user.id)
    assert signin.check_second_factor(accounts, u, code, "1.2.3.4")
    u = accounts.get(user.id)
    assert not signin.check_second_factor(accounts, u, code, "1.2.3.4")
    # and through the pages
    c = https_client(app)
    password_step(c, user.username)
    r = code_step(c, code)
    assert r.status_code == 401 and c.get("/api/stats").status_code == 401


def test_totp_codes_outside_the_drift_window_fail():
    secret = acc.new_totp_secret()
    now = 1_800_000_000
    old = pyotp.TOTP(secret).at(now - 120)
    assert acc.verify_totp(secret, old, 0, now=now) is None
    assert acc.verify_totp(secret, pyotp.TOTP(secret).at(now - 30), 0, now=now) is not None


def test_recovery_codes_work_once(app):
    store = app.extensions["geomap_store"]
    user, _, codes = make_user(store)
    for expected in (302, 401):
        c = https_client(app)
        token = csrf_from(c.get("/login").data.decode())
        c.post("/login", data={"username": user.username, "password": PASSWORD,
                               "csrf_token": token})
        token = csrf_from(c.get("/login/mfa").data.decode())
        r = c.post("/login/mfa", data={"code": codes[0], "csrf_token": token})
        assert r.status_code == expected
    assert len(AccountStore(store).get(user.id).recovery_hashes) == len(codes) - 1


def test_first_sign_in_enrols_totp_and_shows_recovery_codes(app):
    store = app.extensions["geomap_store"]
    user, _, _ = make_user(store, enrol=False)
    c = https_client(app)
    r = password_step(c, user.username)
    assert r.headers["Location"].endswith("/login/enrol")
    page = c.get("/login/enrol").data.decode()
    import re

    secret = re.search(r"<code>([A-Z2-7]+)</code>", page)[1]
    assert 'src="data:image/svg+xml' in page  # the QR code is inline, no request anywhere
    token = csrf_from(page)
    r = c.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert r.status_code == 200 and r.data.decode().count("<li><code>") == acc.RECOVERY_CODES
    assert c.get("/api/stats").status_code == 200
    assert AccountStore(store).get(user.id).totp_secret == secret


def test_password_reset_does_not_bypass_the_second_factor(app):
    from click.testing import CliRunner

    from geomap.cli import main

    settings = app.config["GEOMAP_SETTINGS"]
    store = app.extensions["geomap_store"]
    user, _, _ = make_user(store)
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "users",
                                  "reset-password", user.username, "--password-stdin"],
                           input="a brand new passphrase\n")
    assert r.exit_code == 0, r.output
    c = https_client(app)
    r = password_step(c, user.username, "a brand new passphrase")
    assert r.headers["Location"].endswith("/login/mfa")
    assert c.get("/api/stats").status_code == 401


def test_the_11th_failed_sign_in_within_a_minute_is_refused_and_logged(app):
    store = app.extensions["geomap_store"]
    user, _, _ = make_user(store)
    c = https_client(app)
    statuses = []
    for _ in range(11):
        token = csrf_from(c.get("/login").data.decode())
        statuses.append(c.post("/login", data={"username": user.username, "password": "wrong",
                                               "csrf_token": token}).status_code)
    assert statuses == [401] * 10 + [429]
    # even the right password is refused while the limit holds
    token = csrf_from(c.get("/login").data.decode())
    assert c.post("/login", data={"username": user.username, "password": PASSWORD,
                                  "csrf_token": token}).status_code == 429
    with store.read() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE target = :t ORDER BY id"),
            {"t": f"user:{user.username}"}).all()]
        outcomes = [r[0] for r in conn.execute(text(
            "SELECT outcome FROM login_attempts WHERE username = :u"), {"u": user.username})]
    assert actions.count("signin.failed") == 10 and actions.count("signin.refused") == 2
    assert outcomes.count("refused") == 2


def test_failures_from_one_address_are_limited_across_accounts(app):
    c = https_client(app)
    codes = []
    for i in range(11):
        token = csrf_from(c.get("/login").data.decode())
        codes.append(c.post("/login", data={"username": f"nobody{i}", "password": "x",
                                            "csrf_token": token}).status_code)
    assert codes[-1] == 429


# -- passwords ----------------------------------------------------------------------------------
def test_every_stored_password_hash_is_argon2id(app):
    store = app.extensions["geomap_store"]
    for role in Role:
        make_user(store, role.value)
    with store.read() as conn:
        hashes = [r[0] for r in conn.exec_driver_sql("SELECT password_hash FROM users").all()]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_an_old_hash_is_upgraded_at_sign_in(app):
    from argon2 import PasswordHasher

    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    AccountStore(store).set_password_hash(user.id, weak, actor="test")
    sign_in(https_client(app), user.username, secret)
    new = AccountStore(store).get(user.id).password_hash
    assert new != weak and not acc.HASHER.check_needs_rehash(new)


# -- authorisation ------------------------------------------------------------------------------
def test_a_viewer_cannot_read_a_narrative(app):
    ids = _ids(app.extensions["geomap_store"])
    viewer, *_ = _client_as(app, "viewer")
    assert viewer.get(f"/api/testimonies/{ids['internal']}").status_code == 404  # not 403
    r = viewer.get(f"/api/testimonies/{ids['partner']}")
    assert r.status_code == 200
    assert "narrative" not in r.get_json() and "witness_code" not in r.get_json()
    researcher, *_ = _client_as(app, "researcher")
    assert researcher.get(f"/api/testimonies/{ids['internal']}").get_json()["narrative"] == NARRATIVE


def test_reading_a_narrative_is_audited(app):
    store = app.extensions["geomap_store"]
    ids = _ids(store)
    researcher, user, *_ = _client_as(app, "researcher")
    researcher.get(f"/api/testimonies/{ids['internal']}")
    with store.read() as conn:
        row = conn.exec_driver_sql("SELECT actor, action, target FROM audit_log "
                                   "ORDER BY id DESC LIMIT 1").first()
    assert tuple(row) == (user.username, "narrative.view", f"testimony:{ids['internal']}")


def test_a_viewer_sees_only_partner_and_public_records_and_no_witness_codes(app):
    viewer, *_ = _client_as(app, "viewer")
    doc = viewer.get("/api/testimonies?bbox=124,37.5,131,43.1").get_json(force=True)
    assert [f["properties"]["tier"] for f in doc["features"]] == ["partner"]
    assert all("witness_code" not in f["properties"] for f in doc["features"])
    analyst, *_ = _client_as(app, "analyst")
    doc = analyst.get("/api/testimonies?bbox=124,37.5,131,43.1").get_json(force=True)
    assert {f["properties"]["witness_code"] for f in doc["features"]} == {"SYN-SEC-1", "SYN-SEC-2"}
    r = analyst.get(f"/api/testimonies/{_ids(app.extensions['geomap_store'])['internal']}")
    assert "narrative" not in r.get_json()  # analysts read codes, not narratives


def test_the_permission_matrix_in_the_docs_is_the_one_in_the_code():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    assert matrix_markdown() in doc
    assert SYSTEM.can(Permission.MANAGE_USERS)


# -- field encryption ----------------------------------------------------------------------------
@pytest.mark.sqlite_only(reason="reads the database file")
def test_a_planted_narrative_is_not_in_the_database_file(app, settings):
    store = app.extensions["geomap_store"]
    raw = b"".join(p.read_bytes() for p in settings.instance_path.glob("geomap.sqlite3*"))
    con = sqlite3.connect(settings.instance_path / "geomap.sqlite3")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the main file too, not only the WAL
    con.close()
    raw += b"".join(p.read_bytes() for p in settings.instance_path.glob("geomap.sqlite3*"))
    for secret in (NARRATIVE, "SYN-SEC-1", "partner narrative"):
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw
    assert store.testimony(_ids(store)["internal"], SYSTEM)["narrative"] == NARRATIVE


def test_a_ciphertext_copied_to_another_row_fails_to_decrypt(app):
    store = app.extensions["geomap_store"]
    ids = _ids(store)
    with store.write() as conn:
        conn.execute(text(
            "UPDATE testimonies SET narrative_enc = (SELECT narrative_enc FROM testimonies "
            "WHERE id = :a) WHERE id = :b"), {"a": ids["internal"], "b": ids["partner"]})
    with pytest.raises(DecryptionError, match="copied from another record"):
        store.testimony(ids["partner"], SYSTEM)
    # and a field moved to another column of the same row
    with store.write() as conn:
        conn.execute(text("UPDATE testimonies SET witness_enc = narrative_enc WHERE id = :a"),
                     {"a": ids["internal"]})
    with pytest.raises(DecryptionError):
        store.testimony(ids["internal"], SYSTEM)


def test_key_rotation_keeps_everything_readable_and_retires_the_old_key(app, settings):
    import json

    from geomap.rotation import rotate_keys

    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    old = set(store.keys.field_keys)
    result = rotate_keys(store, actor="test")
    assert result.new_key not in old and sorted(result.retired) == sorted(old)
    on_disk = json.loads((settings.instance_path / "keys" / "field-keys.json").read_text())
    assert list(on_disk["keys"]) == [str(result.new_key)]
    assert store.testimony(_ids(store)["internal"], SYSTEM)["narrative"] == NARRATIVE
    assert AccountStore(store).get(user.id).totp_secret == secret
    sign_in(https_client(app), user.username, secret)  # TOTP still works after rotation


def test_key_files_are_private(settings):
    import stat

    from geomap.keys import KeyRing

    KeyRing.load_or_create(settings.instance_path / "keys")
    d = settings.instance_path / "keys"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in d.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.sqlite_only(reason="plants rows through SQLite SQL")
def test_upgrading_a_plaintext_database_encrypts_it_in_place(settings):
    from sqlalchemy import create_engine

    from geomap.keys import KeyRing
    from geomap.store import Store
    from geomap.store import engine as store_engine

    engine = create_engine(settings.database_url)
    store_engine.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO testimonies (id, key, witness_code, narrative, tier, synthetic, "
            "admin1_outside, violations) VALUES (1, 'k1', 'SYN-OLD-1', 'old plaintext story', "
            "'internal', 1, 0, '')")
    engine.dispose()
    store = Store.for_instance(settings)
    rec = store.testimony(1, SYSTEM)
    assert rec["narrative"] == "old plaintext story" and rec["witness_code"] == "SYN-OLD-1"
    with store.read() as conn:
        cols = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(testimonies)").all()]
    assert "narrative" not in cols and "witness_code" not in cols
    assert KeyRing.load_or_create(settings.instance_path / "keys").active == 1


# -- audit log ----------------------------------------------------------------------------------
@pytest.fixture
def audited_store(store):
    for i in range(5):
        store.audit("tester", "thing.edit", f"thing:{i}", {"n": i, "text": "데이터"})
    return store


def _verify(store):
    with store.read() as conn:
        return audit.verify(conn, store.audit_head)


def _tamper(store, *sql):
    """What an intruder with the database file can do: drop the guards, then edit."""
    if store.dialect == "postgresql":  # a superuser can switch the trigger off
        with store.writer.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            for s in sql:
                conn.execute(text(s))
        return
    con = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("DROP TRIGGER audit_log_no_delete")
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


def test_an_untouched_audit_log_verifies(audited_store):
    n, problems = _verify(audited_store)
    assert n == 5 and problems == []


@pytest.mark.sqlite_only(reason="PostgreSQL's trigger: tests/test_postgis_backend.py")
def test_the_audit_log_refuses_updates_and_deletes(audited_store):
    con = sqlite3.connect(audited_store.url.removeprefix("sqlite:///"))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE audit_log SET actor = 'x' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM audit_log WHERE id = 2")
    con.close()


def test_editing_an_audit_entry_is_detected_and_named(audited_store):
    _tamper(audited_store, "UPDATE audit_log SET actor = 'someone-else' WHERE id = 3")
    _, problems = _verify(audited_store)
    assert [p.entry_id for p in problems] == [3] and "edited" in problems[0].message


def test_deleting_an_audit_entry_is_detected_and_named(audited_store):
    _tamper(audited_store, "DELETE FROM audit_log WHERE id = 2")
    _, problems = _verify(audited_store)
    assert problems and problems[0].entry_id == 3 and "removed" in problems[0].message


def test_swapping_two_audit_entries_is_detected_and_named(audited_store):
    _tamper(audited_store,
            "UPDATE audit_log SET id = -1 WHERE id = 2",
            "UPDATE audit_log SET id = 2 WHERE id = 4",
            "UPDATE audit_log SET id = 4 WHERE id = -1")
    _, problems = _verify(audited_store)
    assert {p.entry_id for p in problems} >= {2, 4}


def test_deleting_the_newest_entry_is_detected(audited_store):
    _tamper(audited_store, "DELETE FROM audit_log WHERE id = 5")
    _, problems = _verify(audited_store)
    assert problems and "newest entries were removed" in problems[0].message


def test_audit_verify_command_fails_and_names_the_entry(audited_store, settings):
    from click.testing import CliRunner

    from geomap.cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["--instance", str(settings.instance_path), "audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    _tamper(audited_store, "UPDATE audit_log SET details = '{}' WHERE id = 4")
    bad = runner.invoke(main, ["--instance", str(settings.instance_path), "audit", "verify"])
    assert bad.exit_code == 1 and "FAIL entry 4:" in bad.output


# -- issue 9: sessions, sign-in and files behind a real deployment --------------------------------
def _session_rows(store, user_id=None) -> int:
    with store.read() as c:
        if user_id is None:
            return c.exec_driver_sql("SELECT count(*) FROM sessions").scalar_one()
        return c.execute(text("SELECT count(*) FROM sessions WHERE user_id = :u"),
                         {"u": user_id}).scalar_one()


def test_password_reset_ends_every_session(app):
    from click.testing import CliRunner

    from geomap.cli import main

    settings = app.config["GEOMAP_SETTINGS"]
    store = app.extensions["geomap_store"]
    phished, user, _, codes = _client_as(app, "researcher")
    laptop = https_client(app)  # a second session of the same user (another browser)
    password_step(laptop, user.username)
    assert code_step(laptop, codes[0]).status_code == 302
    assert phished.get("/api/stats").status_code == 200
    assert laptop.get("/api/stats").status_code == 200
    assert _session_rows(store, user.id) == 2
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "users",
                                  "reset-password", user.username, "--password-stdin"],
                           input="a brand new passphrase\n")
    assert r.exit_code == 0, r.output
    assert _session_rows(store, user.id) == 0
    assert phished.get("/api/stats").status_code == 401
    assert laptop.get("/api/stats").status_code == 401
    assert phished.get("/").status_code == 302


def test_anonymous_login_pages_write_no_session_rows(app):
    store = app.extensions["geomap_store"]
    before = _session_rows(store)
    for _ in range(20):  # cookie-less visitors
        assert https_client(app).get("/login").status_code == 200
    c = https_client(app)
    token = csrf_from(c.get("/login").data.decode())
    # the form still carries a working CSRF token (in a signed cookie, not a row)
    r = c.post("/login", data={"username": "nobody", "password": "wrong", "csrf_token": token})
    assert r.status_code == 401
    assert c.post("/login", data={"username": "nobody", "password": "wrong"}).status_code == 400
    other = https_client(app)
    other.get("/login")
    assert other.post("/login", data={"username": "nobody", "password": "wrong",
                                      "csrf_token": "forged"}).status_code == 400
    assert _session_rows(store) == before
    # a correct password is what first earns a row
    user, secret, _ = make_user(store)
    sign_in(c, user.username, secret)
    assert _session_rows(store, user.id) == 1


def test_a_tampered_anonymous_session_cookie_is_ignored(app):
    c = https_client(app)
    c.get("/login")
    value = c.get_cookie("__Host-geomap-pre").value
    c.set_cookie("__Host-geomap-pre", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    token = csrf_from(c.get("/login").data.decode())  # a fresh token, fresh cookie
    assert c.post("/login", data={"username": "nobody", "password": "wrong",
                                  "csrf_token": token}).status_code == 401


def test_expired_session_rows_are_purged_continually(app):
    from dataclasses import replace

    settings = app.config["GEOMAP_SETTINGS"]
    store = app.extensions["geomap_store"]
    short = create_app(replace(settings, session_idle_s=1), store)
    short.config["TESTING"] = True
    _, old, _, _ = _client_as(short, "viewer")
    assert _session_rows(store, old.id) == 1
    time.sleep(1.2)
    _client_as(short, "viewer")  # any new session tidies up the expired ones
    assert _session_rows(store, old.id) == 0


def test_refused_second_factor_is_recorded(app):
    store = app.extensions["geomap_store"]
    user, secret, _ = make_user(store)
    c = https_client(app)
    password_step(c, user.username)
    statuses = [code_step(c, "000000").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    with store.read() as conn:
        outcomes = [r[0] for r in conn.execute(text(
            "SELECT outcome FROM login_attempts WHERE username = :u"), {"u": user.username})]
        refused = [r[0] for r in conn.execute(text(
            "SELECT details FROM audit_log WHERE action = 'signin.refused' AND target = :t"),
            {"t": f"user:{user.username}"})]
    assert outcomes.count("refused") == 1
    assert len(refused) == 1 and '"second factor"' in refused[0]


def test_refused_enrolment_code_is_recorded(app):
    store = app.extensions["geomap_store"]
    user, _, _ = make_user(store, enrol=False)
    c = https_client(app)
    password_step(c, user.username)
    statuses = [code_step(c, "000000", "/login/enrol").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    with store.read() as conn:
        outcomes = [r[0] for r in conn.execute(text(
            "SELECT outcome FROM login_attempts WHERE username = :u"), {"u": user.username})]
    assert outcomes.count("refused") == 1


@pytest.mark.parametrize("target,ok", [
    ("/", True), ("/sites/3?tier=partner&q=a%20b", True), ("/sites/요덕", True),
    ("/imagery/compare?left=a&right=b", True),
    ("//evil.example", False), ("/\\evil.example", False), ("/%5Cevil.example", False),
    ("/%2F%2Fevil.example", False), ("/a//b", False), ("https://evil.example/", False),
    ("javascript:alert(1)", False), ("evil", False), ("", False), (None, False),
    ("/\r\nSet-Cookie: x=1", False), ("/%0d%0aSet-Cookie:x=1", False),
    ("/%250d%250aSet-Cookie:x=1", False), ("/%E2%80%A8", False), ("/\x00", False),
    ("/" + "a" * 5000, False),
])
def test_next_must_be_a_plain_path_on_this_site(target, ok):
    from geomap.web.security import valid_next

    assert valid_next(target) is ok


@pytest.mark.sqlite_only(reason="the SQLite files' modes")
def test_database_file_is_private(tmp_path):
    import stat

    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path / "new-instance")
    assert stat.S_IMODE(settings.instance_path.stat().st_mode) == 0o700
    store = Store.for_instance(settings)
    make_user(store)  # a write: WAL and shared-memory files exist now
    db = settings.instance_path / "geomap.sqlite3"
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    store.close()
    # a database an older version left readable to others is tightened when opened
    db.chmod(0o644)
    Store.for_instance(load_settings(settings.instance_path)).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_the_deployment_docs_give_the_proxy_and_body_settings_the_code_uses():
    import re
    from pathlib import Path

    from geomap.config import FORM_OVERHEAD, Settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    defaults = dict(re.findall(r"^\| `(GEOMAP_\w+)` \| `([^`]*)` \|", doc, re.M))
    fields = Settings.__dataclass_fields__
    assert defaults["GEOMAP_PROXY_COUNT"] == str(fields["proxy_count"].default)
    assert defaults["GEOMAP_TRUSTED_PROXIES"] == ",".join(fields["trusted_proxies"].default)
    assert defaults["GEOMAP_MAX_UPLOAD_MB"] == str(fields["max_upload_mb"].default)
    nginx = int(re.search(r"client_max_body_size (\d+)m;", doc)[1])
    assert nginx * 1024 * 1024 == fields["max_upload_mb"].default * 1024 * 1024 + FORM_OVERHEAD
    assert "X-Forwarded-For $remote_addr" in doc and "X-Forwarded-Proto https" in doc
