"""Personal API tokens (issue 15, item 3): hashed at rest, expiring, revocable, bounded by the
user's role as it is now, read-only unless asked, Bearer or the password of HTTP Basic, never
in a query string, no session or cookie, audited; the page needs a fresh second factor."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from geomap import tokens
from geomap.cli import main
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.store.schema import audit_log, users
from geomap.store.tokens import TokenStore
from geomap.web import create_app

from .conftest import csrf_from, https_client, make_user, sign_in, sign_in_with_forms


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("tokens") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 60, seed=5)
    yield settings, store
    store.close()


@pytest.fixture(scope="module")
def app(instance):
    a = create_app(*instance)
    a.config["TESTING"] = True
    return a


@pytest.fixture
def store(instance):
    return instance[1]


def _issue(store, role="researcher", scope="read", **kw):
    user, secret, _ = make_user(store, role)
    return user, secret, tokens.issue(TokenStore(store), user, "test token", scope, **kw)


def _secret(token: str) -> str:
    return token[len("gmt_") + 11:]  # after the prefix and the public id (10 hex and "_")


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _basic(username: str, token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()}


def _audit(store, action: str, target: str | None = None) -> list:
    with store.read() as c:
        q = select(audit_log).where(audit_log.c.action == action)
        if target:
            q = q.where(audit_log.c.target == target)
        return c.execute(q.order_by(audit_log.c.id)).all()


# -- at rest --------------------------------------------------------------------------------------
def test_only_a_public_id_and_a_hash_are_stored(store, instance):
    user, _, issued = _issue(store)
    token = issued.token
    assert tokens.looks_like_token(token) and len(_secret(token)) == 43  # 32 bytes
    rec = TokenStore(store).get(issued.record.id)
    assert rec.token_hash == hashlib.sha256(("geomap-api-token|" + token).encode()).hexdigest()
    assert token.startswith(f"gmt_{rec.public_id}_")
    # the secret part is nowhere in the database file (nor in the audit log)
    secret = _secret(token)
    db = instance[0].instance_path / "geomap.db"
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(FULL)")
    finally:
        con.close()
    for f in db.parent.glob("geomap.db*"):
        assert secret.encode() not in f.read_bytes()


def test_two_tokens_never_collide_and_a_wrong_secret_with_a_right_prefix_fails(app, store):
    _, _, a = _issue(store)
    _, _, b = _issue(store)
    assert a.token != b.token and a.record.public_id != b.record.public_id
    forged = a.token[:-4] + ("AAAA" if not a.token.endswith("AAAA") else "BBBB")
    r = https_client(app).get("/api/stats", headers=_bearer(forged))
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_token"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


# -- how clients send it -------------------------------------------------------------------------
def test_bearer_and_basic_are_accepted_with_no_session_and_no_cookie(app, store):
    user, _, issued = _issue(store)
    c = https_client(app)
    for headers in (_bearer(issued.token), _basic(user.username, issued.token),
                    _basic("anything", issued.token)):
        for path in ("/api/stats", "/api/sites", "/ogcapi/collections",
                     "/ogcapi/collections/testimonies/items?limit=3&lang=ko"):
            r = c.get(path, headers=headers)
            assert r.status_code == 200, (path, r.data[:200])
            assert "Set-Cookie" not in r.headers, path
    assert not c.get_cookie("__Host-geomap") and not c.get_cookie("lang")


def test_a_token_in_the_query_string_is_refused_with_the_reason(app, store):
    user, _, issued = _issue(store)
    c = https_client(app)
    for query in (f"token={issued.token}", "access_token=x", "api_key=x",
                  f"q={issued.token}"):
        r = c.get(f"/api/sites?{query}", headers=_bearer(issued.token))
        assert r.status_code == 400, query
        assert "Authorization" in r.get_json()["message"]
    r = c.get(f"/ogcapi/collections?token={issued.token}")
    assert r.status_code == 400 and "Authorization" in r.get_json()["description"]
    # the refusal comes first: also signed out, also on pages
    assert https_client(app).get(f"/?access_token={issued.token}").status_code == 400


def test_tiles_and_tilejson_take_a_token(app, store):
    _, _, issued = _issue(store)
    c = https_client(app)
    assert c.get("/tiles/nosuchscene/tilejson.json").status_code == 401
    # with the token the request is let in (and the scene is not there)
    assert c.get("/tiles/nosuchscene/tilejson.json",
                 headers=_bearer(issued.token)).status_code == 404
    assert c.get("/tiles/nosuchscene/3/1/1.png", headers=_bearer(issued.token)).status_code == 404


def test_pages_do_not_take_a_token(app, store):
    """A token reads data; it cannot open pages, and so cannot make or revoke tokens."""
    _, _, issued = _issue(store)
    r = https_client(app).get("/account/tokens", headers=_bearer(issued.token))
    assert r.status_code == 302 and "/login" in r.location


def test_basic_with_a_password_is_not_a_sign_in(app, store):
    """Basic with anything but a token is left alone (a proxy's credentials): no session."""
    from .conftest import PASSWORD

    user, _, _ = _issue(store)
    r = https_client(app).get("/api/stats", headers=_basic(user.username, PASSWORD))
    assert r.status_code == 401


# -- validity ------------------------------------------------------------------------------------
def test_expired_and_revoked_tokens_stop_working(app, store):
    c = https_client(app)
    _, _, old = _issue(store, days=1, now=time.time() - 2 * 86400)
    assert c.get("/api/stats", headers=_bearer(old.token)).status_code == 401
    user, _, live = _issue(store)
    assert c.get("/api/stats", headers=_bearer(live.token)).status_code == 200
    assert tokens.revoke(TokenStore(store), live.record.id, actor="test")
    assert not tokens.revoke(TokenStore(store), live.record.id, actor="test")  # once
    r = c.get("/api/stats", headers=_bearer(live.token))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert TokenStore(store).get(live.record.id).state(time.time()) == "revoked"


def test_expiry_defaults_to_90_days_and_is_at_most_365(store):
    user, _, _ = make_user(store)
    ts = TokenStore(store)
    rec = tokens.issue(ts, user, "default").record
    assert rec.expires_at - rec.created_at == pytest.approx(90 * 86400)
    assert tokens.issue(ts, user, "year", days=365).record.scope == "read"
    for bad in (0, 366, "soon", -5):
        with pytest.raises(tokens.InvalidInput):
            tokens.issue(ts, user, "bad", days=bad)
    with pytest.raises(tokens.InvalidInput):
        tokens.issue(ts, user, "x", scope="admin")
    with pytest.raises(tokens.InvalidInput):
        tokens.issue(ts, user, "   ")


def test_a_token_never_grants_more_than_its_user_has_now(app, store):
    """The role is read at each request: a researcher's token reads testimonies and witness
    codes; once the account is a viewer the same token sees neither; disabled, nothing."""
    user, _, issued = _issue(store, "researcher")
    c = https_client(app)
    url = "/ogcapi/collections/testimonies/items?limit=5"
    doc = c.get(url, headers=_bearer(issued.token)).get_json()
    assert doc["numberMatched"] > 0 and "witness_code" in doc["features"][0]["properties"]
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(role="viewer"))
    doc = c.get(url, headers=_bearer(issued.token)).get_json()
    assert doc["numberMatched"] == 0
    from geomap.store.accounts import AccountStore

    AccountStore(store).set_active(user.id, False, actor="test")
    assert c.get(url, headers=_bearer(issued.token)).status_code == 401


def test_resets_and_disabling_end_tokens_as_they_end_sessions(app, store):
    """Whoever held the account's credentials may have made a token: a password reset, a
    set-password link, a second-factor reset and disabling revoke every live token (enabling
    the account again does not revive them)."""
    from geomap import accounts as acc
    from geomap.store.accounts import AccountStore

    accounts = AccountStore(store)
    c = https_client(app)
    for reset in (lambda u: accounts.reset_password(u.id, acc.hash_password("x" * 14), "adm"),
                  lambda u: accounts.issue_password_link(u.id, "adm"),
                  lambda u: accounts.reset_mfa(u.id, "adm"),
                  lambda u: accounts.set_active(u.id, False, "adm")):
        user, _, issued = _issue(store)
        assert c.get("/api/stats", headers=_bearer(issued.token)).status_code == 200
        reset(user)
        accounts.set_active(user.id, True, "adm")
        if accounts.get(user.id).totp_secret is None:  # enrolled again after an MFA reset
            accounts.enrol_totp(user.id, acc.new_totp_secret(), 0, [], "test")
        assert c.get("/api/stats", headers=_bearer(issued.token)).status_code == 401
        assert TokenStore(store).get(issued.record.id).revoked_by == "adm"


def test_a_viewer_token_sees_no_witness_codes(app, store):
    _, _, issued = _issue(store, "analyst")
    feats = https_client(app).get("/ogcapi/collections/testimonies/items?limit=5",
                                  headers=_bearer(issued.token)).get_json()["features"]
    assert feats and "witness_code" in feats[0]["properties"]
    assert "narrative" not in feats[0]["properties"]
    _, _, viewer = _issue(store, "viewer")
    doc = https_client(app).get("/api/testimonies", headers=_bearer(viewer.token)).get_json()
    assert doc["features"] == []


# -- writes --------------------------------------------------------------------------------------
def _decision(store) -> dict:
    from geomap.policy import SYSTEM
    from geomap.store import TestimonyFilter

    rows, _ = store.testimony_rows(TestimonyFilter(), SYSTEM, limit=1)
    site = store.sites(SYSTEM)[0]
    return {"testimony_id": rows[0]["id"], "site_id": site.id, "status": "rejected"}


def test_writes_need_a_read_write_bearer_token_and_the_json_api(app, store):
    c = https_client(app)
    body = _decision(store)
    user, _, ro = _issue(store, "researcher")
    r = c.post("/api/links/decide", json=body, headers=_bearer(ro.token))
    assert r.status_code == 403 and "read-only" in r.get_json()["message"]
    user, _, rw = _issue(store, "researcher", scope="read-write")
    r = c.post("/api/links/decide", json=body, headers=_basic(user.username, rw.token))
    assert r.status_code == 403 and "Bearer" in r.get_json()["message"]
    # no CSRF token needed: a browser never adds a Bearer header by itself
    r = c.post("/api/links/decide", json=body, headers=_bearer(rw.token))
    assert r.status_code == 200, r.data[:300]
    assert "Set-Cookie" not in r.headers
    # bounded by the role: a viewer's read-write token cannot decide links
    _, _, vw = _issue(store, "viewer", scope="read-write")
    assert c.post("/api/links/decide", json=body, headers=_bearer(vw.token)).status_code == 404
    # the session path still wants its CSRF token
    _, secret, _ = make_user(store, "researcher", username="csrf-check-user")
    s = sign_in(https_client(app), "csrf-check-user", secret)
    assert s.post("/api/links/decide", json=body).status_code == 400


# -- audit ---------------------------------------------------------------------------------------
def test_made_used_and_revoked_are_audited_without_the_token(app, store):
    user, _, issued = _issue(store)
    target = f"user:{user.id}"
    made = _audit(store, "token.create", target)
    assert len(made) == 1 and json.loads(made[0].details)["token"] == issued.record.public_id
    c = https_client(app)
    for _ in range(3):
        assert c.get("/api/stats", headers=_bearer(issued.token)).status_code == 200
    used = _audit(store, "token.use", target)
    assert len(used) == 1  # the first use of the day, not every request
    assert json.loads(used[0].details)["address"]
    assert TokenStore(store).get(issued.record.id).last_used_at is not None
    tokens.revoke(TokenStore(store), issued.record.id, actor=user.username)
    assert len(_audit(store, "token.revoke", target)) == 1
    with store.read() as conn:
        everything = json.dumps([tuple(r) for r in conn.execute(select(audit_log)).all()])
    assert issued.token not in everything and _secret(issued.token) not in everything


# -- the page ------------------------------------------------------------------------------------
def _form(client, **fields):
    token = csrf_from(client.get("/account/tokens").data.decode())
    return client.post("/account/tokens", data={"csrf_token": token, **fields})


def test_the_page_makes_a_token_only_after_a_fresh_code(app, store):
    user, secret, _ = make_user(store, "researcher")
    c = sign_in_with_forms(https_client(app), user.username, secret)  # spends this step's code
    page = c.get("/account/tokens")
    assert page.status_code == 200 and "gmt_" not in page.data.decode()
    now_code = pyotp.TOTP(secret).now()  # spent at sign-in: refused (each code works once)
    r = _form(c, name="QGIS", scope="read", days="30", code=now_code)
    assert r.status_code == 400 and "gmt_" not in r.data.decode()
    assert _audit(store, "token.refused", f"user:{user.id}")
    r = _form(c, name="QGIS", scope="read", days="30", code="000000")
    assert r.status_code == 400
    next_code = pyotp.TOTP(secret).at(time.time() + 30)
    r = _form(c, name="QGIS <laptop>", scope="read", days="30", code=next_code)
    html = r.data.decode()
    assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"]
    token = next(w for w in html.replace("<", " ").replace(">", " ").split()
                 if w.startswith("gmt_") and tokens.looks_like_token(w))
    assert "QGIS &lt;laptop&gt;" in html  # the name is text
    # shown once: the list afterwards holds only its prefix
    again = c.get("/account/tokens").data.decode()
    assert token not in again and token[:15] in again
    rec = TokenStore(store).for_user(user.id)[0]
    assert rec.expires_at - rec.created_at == pytest.approx(30 * 86400)
    assert https_client(app).get("/api/stats", headers=_bearer(token)).status_code == 200
    # the same code again: refused
    assert _form(c, name="again", code=next_code).status_code == 400


def test_the_page_revokes_only_the_users_own_tokens(app, store):
    user, secret, _ = make_user(store, "viewer")
    other, _, theirs = _issue(store)
    mine = tokens.issue(TokenStore(store), user, "mine")
    c = sign_in(https_client(app), user.username, secret)
    token = csrf_from(c.get("/account/tokens").data.decode())
    r = c.post(f"/account/tokens/{theirs.record.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    assert TokenStore(store).get(theirs.record.id).revoked_at is None
    r = c.post(f"/account/tokens/{mine.record.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 302
    assert https_client(app).get("/api/stats", headers=_bearer(mine.token)).status_code == 401
    page = c.get("/account/tokens?lang=ko").data.decode()
    assert "폐기됨" in page


# -- the command line ------------------------------------------------------------------------------
def test_cli_create_list_revoke(instance, store):
    settings, _ = instance
    user, _, _ = make_user(store, "analyst")
    run = CliRunner().invoke
    inst = ["--instance", str(settings.instance_path)]
    r = run(main, [*inst, "tokens", "create", user.username, "--name", "GDAL", "--days", "7"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert tokens.looks_like_token(token)
    r = run(main, [*inst, "tokens", "list", user.username, "--json"])
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0]["state"] == "active" and token not in r.stdout
    r = run(main, [*inst, "tokens", "revoke", str(rows[0]["id"])])
    assert r.exit_code == 0
    r = run(main, [*inst, "tokens", "revoke", str(rows[0]["id"])])
    assert r.exit_code == 2 and "no live token" in r.output
    r = run(main, [*inst, "tokens", "create", "nobody-here", "--name", "x"])
    assert r.exit_code == 2
    made = _audit(store, "token.create", f"user:{user.id}")
    assert made[-1].actor.startswith("cli")


# -- on this backend (GEOMAP_TEST_BACKEND=postgis runs it on PostgreSQL too) --------------------
def test_the_token_store_on_this_backend(settings):
    """Made, found, used (one audit entry a day), revoked once, listed: the SQL of
    geomap/store/tokens.py on whichever database the test settings name."""
    from geomap.store import Store
    from geomap.store.accounts import AccountStore

    store = Store.for_instance(settings)
    try:
        _backend_round_trip(store, AccountStore(store))
    finally:
        store.close()


def _backend_round_trip(store, accounts):
    user, _, _ = make_user(store, "analyst")
    ts = TokenStore(store)
    issued = tokens.issue(ts, user, "backend check", "read-write", 10)
    got, rec = tokens.authenticate(ts, accounts, issued.token, "127.0.0.1")
    assert got.id == user.id and rec.scope == "read-write"
    tokens.authenticate(ts, accounts, issued.token, "127.0.0.1")
    assert len(_audit(store, "token.use", f"user:{user.id}")) == 1
    assert [t.public_id for t in ts.for_user(user.id)] == [issued.record.public_id]
    assert tokens.revoke(ts, issued.record.id, "test") and not tokens.revoke(ts, issued.record.id,
                                                                              "test")
    with pytest.raises(tokens.InvalidToken):
        tokens.authenticate(ts, accounts, issued.token, "127.0.0.1")
    assert ts.for_user(user.id)[0].state(time.time()) == "revoked"
