"""Shared fixtures: real databases in temporary instance folders (with their own keys): SQLite
files, or PostgreSQL databases with GEOMAP_TEST_BACKEND=postgis; the Flask app over them,
signed-in test clients, and a real WSGI server for browser tests."""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient

from geomap import accounts as acc
from geomap import config
from geomap.config import load_settings
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.policy import Role
from geomap.store import Store
from geomap.store.accounts import AccountStore
from geomap.web.sessions import token_hash
from tests import pg
from tests.pg import pg_cluster, pg_migrated_url, pg_url  # noqa: F401  (fixtures)

# fixtures the tests own (tests/data/ATTRIBUTION.md); tests read nothing outside the repository
TEST_DATA = Path(__file__).resolve().parent / "data"
PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


# GEOMAP_TEST_BACKEND=postgis runs the suite on a throw-away PostgreSQL + PostGIS cluster
# (tests/pg.py) instead of SQLite files: every instance folder a test makes (the `settings`
# fixture's, a module's own, one a CLI command is pointed at) gets a fresh database copied from
# a migrated template, named in the folder's settings.toml so that `geomap` subprocesses on the
# folder find it too. Tests about SQLite itself are marked sqlite_only(reason) and skipped.
BACKEND = os.environ.get("GEOMAP_TEST_BACKEND", "sqlite")
ON_PG = BACKEND == "postgis"
SQLITE_ONLY: dict[str, list[str]] = {}  # reason -> test ids skipped on PostgreSQL
PG_ONLY_ELSEWHERE = "tests/test_postgis_backend.py"  # runs against both in the first pass
RAN_BEFORE: list[str] = []  # its tests, skipped in the postgis pass

_read_settings_file = config.read_settings_file
_instance_dbs: dict[Path, tuple[str, str]] = {}  # instance folder -> (database, url)
_made_during_test: list[Path] = []  # folders given a database since the current test began
_TMP = Path(tempfile.gettempdir()).resolve()
_fixture_scopes: list[str] = []  # scopes of the fixtures being set up (innermost last)
_touched: list[bool] = []  # non-empty once the current test used a PostgreSQL connection


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(str(v))


def _write_database_url(inst: Path, doc: dict, url: str) -> None:
    """settings.toml with the test database (0600, as geomap requires of that file)."""
    lines = [f"{k} = {_toml(v)}" for k, v in doc.items() if k != "database_url"]
    path = inst / config.SETTINGS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join([*lines, f"database_url = {json.dumps(url)}", ""]))


def instance_database(inst: Path, migrated: bool = True) -> str:
    """The PostgreSQL database of a test instance folder (made on first use)."""
    inst = Path(inst).resolve()
    got = _instance_dbs.get(inst)
    if got is None:
        got = _instance_dbs[inst] = pg.shared().new_database(migrated=migrated)
        if not _fixture_scopes or _fixture_scopes[-1] == "function":
            _made_during_test.append(inst)  # dropped when the test ends
        _touched.append(True)
    doc = _read_settings_file(inst / config.SETTINGS_FILE)
    if doc.get("database_url") != got[1]:
        _write_database_url(inst, doc, got[1])
    return got[1]


def _read_settings_file_on_pg(path: Path) -> dict:
    """config.read_settings_file on the postgis backend: a test's instance folder (under the
    temporary directory) without a database of its own gets one."""
    doc = _read_settings_file(path)
    inst = Path(path).parent.resolve()
    if "database_url" in doc or os.environ.get("DATABASE_URL") or not inst.is_relative_to(_TMP):
        return doc
    try:
        return {**doc, "database_url": instance_database(inst)}
    except pg.Unavailable as e:
        pytest.skip(str(e))


if ON_PG:
    config.read_settings_file = _read_settings_file_on_pg


def _sqlite_only_reason(item) -> str | None:
    mark = item.get_closest_marker("sqlite_only")
    if mark is None:
        return None
    return mark.kwargs.get("reason") or (mark.args[0] if mark.args else "no reason given")


def pytest_collection_modifyitems(config, items):
    """On the postgis backend: sqlite_only tests are skipped with their reason (counted for
    the summary), as are those of tests/test_postgis_backend.py (they ran already)."""
    if not ON_PG:
        return
    for item in items:
        if item.nodeid.startswith(PG_ONLY_ELSEWHERE):
            RAN_BEFORE.append(item.nodeid)
            item.add_marker(pytest.mark.skip(reason="ran against PostgreSQL in the first pass"))
        elif (reason := _sqlite_only_reason(item)) is not None:
            SQLITE_ONLY.setdefault(reason, []).append(item.nodeid)
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture
def settings(tmp_path, request):
    inst = tmp_path / "instance"
    if ON_PG:
        # a test that runs the migrations itself gets a database without the schema
        empty = request.node.get_closest_marker("empty_database") is not None
        inst.mkdir(mode=0o700)
        try:
            instance_database(inst, migrated=not empty)
        except pg.Unavailable as e:
            pytest.skip(str(e))
    return load_settings(inst)


@pytest.fixture
def store(settings):
    s = Store.for_instance(settings)
    yield s
    s.close()


@pytest.fixture
def ref_store(store):
    """A store with the shipped boundaries and public sites."""
    load_reference_data(store)
    return store


@pytest.fixture(scope="session")
def demo_instance(tmp_path_factory):
    """One demo instance (reference data + 600 synthetic testimonies) shared by read-only tests."""
    settings = load_settings(tmp_path_factory.mktemp("demo") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 600, seed=7)
    yield settings, store
    store.close()


@pytest.fixture(scope="session")
def demo_app(demo_instance):
    from geomap.web import create_app

    settings, store = demo_instance
    app = create_app(settings, store)
    app.config["TESTING"] = True
    return app


@functools.cache
def password_hash() -> str:
    """PASSWORD's Argon2id hash with the production parameters, made once: each hash costs
    ~0.1 s of four threads, and the suite makes hundreds of users (signing in still verifies)."""
    return acc.hash_password(PASSWORD)


# username -> the store make_user added it to (browser tests open its session there)
USER_STORES: dict[str, Store] = {}


def make_user(store, role: str = "researcher", enrol: bool = True, username: str | None = None):
    """A user with a known password and (if enrolled) TOTP secret: (user, secret, codes)."""
    accounts = AccountStore(store)
    user = accounts.add(username or f"test-{role}-{next(_names)}", Role(role),
                        password_hash(), actor="test")
    USER_STORES[user.username] = store
    secret, codes = None, []
    if enrol:
        secret, codes = acc.new_totp_secret(), acc.new_recovery_codes()
        accounts.enrol_totp(user.id, secret, 0, [acc.recovery_hash(c) for c in codes], "test")
    return user, secret, codes


class HttpsClient(FlaskClient):
    """Requests over https, as behind the TLS proxy (the session cookie is __Host-/Secure)."""

    def open(self, *args, **kwargs):
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


def https_client(app):
    app.test_client_class = HttpsClient
    return app.test_client()


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def password_step(client, username: str, password: str = PASSWORD):
    """POST the sign-in form (with its CSRF token); returns the response."""
    token = csrf_from(client.get("/login").data.decode())
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def code_step(client, code: str, page: str = "/login/mfa"):
    token = csrf_from(client.get(page).data.decode())
    return client.post(page, data={"code": code, "csrf_token": token})


def sign_in_with_forms(client, username: str, secret: str, password: str = PASSWORD):
    """Signed in through the two forms: password, then the authenticator's code."""
    r = password_step(client, username, password)
    assert r.status_code == 302, r.data[:300]
    r = code_step(client, pyotp.TOTP(secret).now())
    assert r.status_code == 302, r.data[:300]
    return client


def sign_in(client, username: str, secret: str, password: str = PASSWORD):
    """Signed in as the forms leave a client: a new server-side session holding the user's id,
    saved by the app's own session interface (Flask's session_transaction), without the forms'
    Argon2 verification (~0.1 s of four threads, hundreds of times a run). The forms have their
    own tests (sign_in_with_forms, password_step, code_step, the browser tests); another
    password, or a user who has not enrolled (the forms send them to enrol), goes through them."""
    user = AccountStore(client.application.extensions["geomap_store"]).by_name(username)
    if password != PASSWORD or user is None or user.password_hash != password_hash() \
            or user.totp_secret is None:
        return sign_in_with_forms(client, username, secret, password)
    assert user.active and user.totp_secret == secret, username
    base = "https://localhost" if isinstance(client, HttpsClient) else "http://localhost"
    with client.session_transaction(base_url=base) as sess:
        sess.clear()
        sess["uid"] = user.id
        sess.regenerate()  # a new token, as after the code step
    return client


def open_session(store, username: str, secret: str) -> str:
    """A new server-side session for `username`, as the code step opens one: its cookie value.
    Only for an enrolled user with PASSWORD (what the sign-in forms would have accepted)."""
    user = AccountStore(store).by_name(username)
    assert user is not None and user.active and secret and user.totp_secret == secret, username
    assert user.password_hash == password_hash(), "another password: sign in through the forms"
    token, now = secrets.token_urlsafe(32), time.time()
    AccountStore(store).save_session(token_hash(token), user.id, {"uid": user.id}, now, now)
    return token


@pytest.fixture
def client(demo_app, demo_instance):
    """A researcher's signed-in client on the shared demo instance."""
    _, store = demo_instance
    user, secret, _ = make_user(store, "researcher")
    return sign_in(https_client(demo_app), user.username, secret)


def serve_in_thread(app):
    """Serve `app` with waitress on a free loopback port; returns (base_url, stop)."""
    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()

    def stop():
        # closing sockets from this thread would pull them from under the loop (EBADF):
        # let the workers finish, then close every channel from the loop's own thread
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        t.join(10)

    return f"http://127.0.0.1:{server.effective_port}", stop


def solid_geotiff(path, bounds, band):
    """A real 256x256 RGB GeoTIFF in EPSG:4326 over `bounds`, one band lit (0 red, 2 blue)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds

    data = np.zeros((3, 256, 256), dtype="uint8")
    data[band] = 200
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=from_bounds(*bounds, 256, 256)) as dst:
        dst.write(data)
    return path


# Figures tests measure (accuracy and the like) are printed at the end of the run.
FIGURES: list[str] = []


PG_PASSED: list[str] = []  # tests that passed using the PostgreSQL test cluster
NO_DATABASE: list[str] = []  # tests of the postgis pass that never used a database


def _on_postgresql(value, depth: int = 0) -> bool:
    """Whether a fixture value is (or holds) settings, a store or an app on PostgreSQL."""
    if depth > 2:
        return False
    if isinstance(value, tuple | list):
        return any(_on_postgresql(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_on_postgresql(v, depth + 1) for v in value.values())
    url = getattr(value, "database_url", None) or getattr(value, "url", None)
    if isinstance(url, str) and url.startswith("postgresql"):
        return True
    ext = getattr(value, "extensions", None)
    return isinstance(ext, dict) and _on_postgresql(ext.get("geomap_store"), depth + 1)


if ON_PG:
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    @event.listens_for(Pool, "checkout")
    def _count_checkout(dbapi_connection, _record, _proxy):
        if type(dbapi_connection).__module__.startswith("psycopg"):
            _touched.append(True)


class _FixtureScopes:
    """Which fixture is being set up, for every fixture (a conftest's own hooks would not see
    session fixtures: their node, the session, lies outside tests/)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        _fixture_scopes.append(fixturedef.scope)
        try:
            yield
        finally:
            _fixture_scopes.pop()


def pytest_configure(config):
    config.pluginmanager.register(_FixtureScopes(), "geomap-fixture-scopes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _touched.clear()
    _made_during_test.clear()
    yield
    if ON_PG:  # the test's own databases: gone with it (16 MB each)
        for inst in _made_during_test:
            name, _ = _instance_dbs.pop(inst)
            pg.shared().drop(name)
        _made_during_test.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not outcome.get_result().passed:
        return
    on_pg = ("pg_cluster" in item.funcargs or ("database", "postgresql") in item.user_properties
             or (ON_PG and (_touched or any(map(_on_postgresql, item.funcargs.values())))))
    if on_pg:
        PG_PASSED.append(item.nodeid)
    elif ON_PG:
        NO_DATABASE.append(item.nodeid)


def pytest_sessionfinish(session):
    pg.stop_shared()


def pytest_terminal_summary(terminalreporter):
    if PG_PASSED:
        FIGURES.append(f"{len(PG_PASSED)} tests passed on PostgreSQL + PostGIS (test cluster: "
                       f"initdb, start and PostGIS template in {pg.STARTED[0]:.1f} s)")
    if ON_PG:
        FIGURES.append(f"{len(NO_DATABASE)} tests passed without touching a database (the "
                       "same as on SQLite)")
        if RAN_BEFORE:
            FIGURES.append(f"{len(RAN_BEFORE)} tests of {PG_ONLY_ELSEWHERE} skipped: they ran "
                           "against PostgreSQL in the first pass")
        skipped = sum(map(len, SQLITE_ONLY.values()))
        FIGURES.append(f"{skipped} tests skipped as SQLite-only, by reason:")
        for reason, ids in sorted(SQLITE_ONLY.items(), key=lambda kv: -len(kv[1])):
            FIGURES.append(f"  {len(ids):3d}  {reason}")
    if FIGURES:
        terminalreporter.section("geomap figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
