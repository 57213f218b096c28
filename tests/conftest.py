"""Shared fixtures: real SQLite files in temporary instance folders, the Flask app over them,
and a real WSGI server for browser tests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from geomap.config import load_settings
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.store import Store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "instance")


@pytest.fixture
def store(settings):
    s = Store(settings.database_url)
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
    store = Store(settings.database_url)
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


@pytest.fixture
def client(demo_app):
    return demo_app.test_client()


def serve_in_thread(app):
    """Serve `app` with waitress on a free loopback port; returns (base_url, stop)."""
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    return f"http://127.0.0.1:{server.effective_port}", server.close
