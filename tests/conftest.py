"""Shared fixtures: real SQLite files in temporary instance folders (with their own keys), the
Flask app over them, signed-in test clients, and a real WSGI server for browser tests."""

from __future__ import annotations

import itertools
import os
import re
import threading
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient

from geomap import accounts as acc
from geomap.config import load_settings
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.policy import Role
from geomap.store import Store
from geomap.store.accounts import AccountStore
from tests import pg
from tests.pg import pg_cluster, pg_url  # noqa: F401  (fixtures)

# fixtures the tests own (tests/data/ATTRIBUTION.md); tests read nothing outside the repository
TEST_DATA = Path(__file__).resolve().parent / "data"
PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


# GEOMAP_TEST_BACKEND=postgis runs the `settings`/`store` tests on a throw-away PostgreSQL +
# PostGIS cluster (tests/pg.py) instead of SQLite files.
BACKEND = os.environ.get("GEOMAP_TEST_BACKEND", "sqlite")


def pytest_collection_modifyitems(config, items):
    """On the postgis backend run only the tests that get a database from `settings` (the
    rest do not touch one, or use the shared SQLite demo instance, and ran already)."""
    if BACKEND != "postgis":
        return
    keep = [i for i in items if {"settings", "pg_url", "pg_cluster"} & set(i.fixturenames)
            and not i.get_closest_marker("sqlite_only")]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture
def settings(tmp_path, request, monkeypatch):
    url = None
    if BACKEND == "postgis":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("DATABASE_URL", url)  # for the CLI commands a test invokes
    return load_settings(tmp_path / "instance", database_url=url)


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


def make_user(store, role: str = "researcher", enrol: bool = True, username: str | None = None):
    """A user with a known password and (if enrolled) TOTP secret: (user, secret, codes)."""
    accounts = AccountStore(store)
    user = accounts.add(username or f"test-{role}-{next(_names)}", Role(role),
                        acc.hash_password(PASSWORD), actor="test")
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


def sign_in(client, username: str, secret: str, password: str = PASSWORD):
    r = password_step(client, username, password)
    assert r.status_code == 302, r.data[:300]
    r = code_step(client, pyotp.TOTP(secret).now())
    assert r.status_code == 302, r.data[:300]
    return client


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


PG_PASSED: list[str] = []  # tests that passed on the PostgreSQL test cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    on_pg = "pg_cluster" in item.funcargs or ("database", "postgresql") in item.user_properties
    if call.when == "call" and outcome.get_result().passed and on_pg:
        PG_PASSED.append(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if PG_PASSED:
        FIGURES.append(f"{len(PG_PASSED)} tests passed on PostgreSQL + PostGIS (test cluster: "
                       f"initdb, start and PostGIS template in {pg.STARTED[0]:.1f} s)")
    if FIGURES:
        terminalreporter.section("geomap figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
