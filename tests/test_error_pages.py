"""Error pages (issue 10, item 4): every error a person can meet is a page with the site's
layout, in their language, with a way back; machine paths (/api/, /tiles/) keep JSON; every
error response keeps the security headers; a 500 shows a reference, never a traceback, and
the log has the traceback under that reference."""

from __future__ import annotations

import logging

import pytest
from flask import abort

from geomap.errors import InvalidInput
from geomap.web import create_app

from .conftest import csrf_from, https_client, make_user, password_step, sign_in


def _fresh_app(settings, store):
    """An app with routes that raise what no real route raises on demand (403, 429, a crash),
    added before its first request; errors are handled, not propagated, as in production."""
    app = create_app(settings, store)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/test-403")
    def _forbidden():
        abort(403)

    @app.get("/test-429")
    def _too_many():
        abort(429)

    @app.get("/test-invalid")
    @app.get("/api/test-invalid")
    def _invalid():
        raise InvalidInput("year: a number between 1945 and 2100", field="year")

    @app.get("/test-crash")
    def _crash():
        raise RuntimeError("secret internal detail /srv/geomap/instance")

    @app.get("/api/test-crash")
    def _api_crash():
        raise RuntimeError("secret internal detail")

    return app


@pytest.fixture
def app(settings, store):
    return _fresh_app(settings, store)


@pytest.fixture
def signed_in(app, store):
    user, secret, _ = make_user(store, "researcher", username="errwatcher")
    return sign_in(https_client(app), user.username, secret)


def _assert_security_headers(r):
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"


def _assert_page(r, code: int, title: str):
    html = r.data.decode()
    assert r.status_code == code
    assert r.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in html, html[:2000]
    assert 'class="gm-bar"' in html  # the site's header
    _assert_security_headers(r)
    return html


@pytest.mark.parametrize("url, code, title", [
    ("/no/such/page", 404, "Page not found"),
    ("/test-403", 403, "Not allowed"),
    ("/test-429", 429, "Too many requests"),
])
def test_error_pages_have_the_layout_navigation_and_a_way_back(signed_in, url, code, title):
    html = _assert_page(signed_in.get(url), code, title)
    assert 'class="gm-nav' in html and "errwatcher" in html  # navigation, signed in
    assert "Back to the map" in html


def test_a_405_is_a_page_that_keeps_the_allow_header(signed_in):
    token = csrf_from(signed_in.get("/").data.decode())
    r = signed_in.post("/review", data={"csrf_token": token})
    _assert_page(r, 405, "Not allowed")
    assert "GET" in r.headers["Allow"]


def test_a_form_sent_without_its_csrf_token_is_a_400_page_with_navigation(signed_in):
    r = signed_in.post("/logout")
    html = _assert_page(r, 400, "The form expired")
    assert "errwatcher" in html and 'class="gm-nav' in html  # still signed in: navigation


def test_bad_input_the_library_refuses_is_a_400_page_and_400_json_on_the_api(signed_in):
    _assert_page(signed_in.get("/test-invalid"), 400, "Bad request")
    r = signed_in.get("/api/test-invalid")
    assert r.status_code == 400 and r.get_json()["parameter"] == "year"


def test_a_request_too_large_is_a_413_page(settings, store):
    app = _fresh_app(settings, store)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    c = https_client(app)
    token = csrf_from(c.get("/login").data.decode())
    r = c.post("/login", data={"username": "x" * 5000, "password": "y", "csrf_token": token})
    html = _assert_page(r, 413, "File too large")
    assert 'class="gm-nav' not in html  # signed out: a minimal header, nothing revealed
    assert "Go to sign-in" in html


def test_a_crash_is_a_500_page_with_a_reference_that_the_log_holds(signed_in, caplog):
    with caplog.at_level(logging.ERROR):
        r = signed_in.get("/test-crash")
    html = _assert_page(r, 500, "Something went wrong")
    assert "secret internal detail" not in html and "Traceback" not in html
    import re

    ref = re.search(r'<code class="gm-ref">([0-9a-f]{8})</code>', html)[1]
    logged = [rec for rec in caplog.records if ref in rec.getMessage()]
    assert logged and logged[0].exc_info and "secret internal detail" in str(logged[0].exc_info[1])


def test_api_and_tile_errors_stay_json(signed_in):
    for url in ("/api/no-such-endpoint", "/tiles/no-such-scene/1/2/3.png"):
        r = signed_in.get(url)
        assert r.status_code == 404 and r.mimetype == "application/json", url
        assert "error" in r.get_json()
        _assert_security_headers(r)
    r = signed_in.get("/api/test-crash")
    assert r.status_code == 500 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["error"] == "internal_error" and len(body["reference"]) == 8
    assert "secret" not in r.data.decode()


def test_the_404_page_is_in_korean(signed_in):
    r = signed_in.get("/no/such/page?lang=ko")
    html = _assert_page(r, 404, "페이지를 찾을 수 없습니다")
    assert "지도로 돌아가기" in html
    for english in ("Page not found", "There is nothing here", "Back to the map"):
        assert english not in html


def test_the_sign_in_rate_limit_429_keeps_the_security_headers(app, store):
    c = https_client(app)
    for _ in range(11):
        r = password_step(c, "nobody-at-all", "wrong password")
    assert r.status_code == 429
    _assert_security_headers(r)
    assert "Too many failed attempts" in r.data.decode()


def test_signing_out_says_so_on_the_sign_in_page(app, store):
    user, secret, _ = make_user(store, "viewer", username="leaving-soon")
    c = sign_in(https_client(app), user.username, secret)
    r = c.post("/logout", data={"csrf_token": csrf_from(c.get("/").data.decode())})
    assert r.status_code == 302 and "signed_out=1" in r.location
    html = c.get(r.location).data.decode()
    assert "You have been signed out." in html
    assert "로그아웃되었습니다." in c.get(r.location + "&lang=ko").data.decode()
    assert c.get("/").status_code == 302  # and really signed out
