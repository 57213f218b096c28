"""Embeds of published snapshots (geomap.embeds, geomap.web.embeds): headers, no cookies,
read-only, rate limit, oEmbed, tiles only for scenes the snapshot publishes, static export.
The snapshots are dicts the tests build (the publication contract); an end-to-end test through
the publications API is in tests/test_browser_embed.py."""

from __future__ import annotations

import json
from datetime import date

import pytest

from geomap import embeds
from geomap.errors import InvalidInput
from geomap.imagery import ingest

from .conftest import https_client, make_user, sign_in
from .test_imagery import LL_BOUNDS, _centre_tile, make_tif

ALLOWED = "https://partner.example.org"


def snapshot(slug="camp-15", scenes=(), lang="en", **kw) -> dict:
    """A snapshot as geomap.publications would store it (synthetic sites)."""
    w, s, e, n = LL_BOUNDS
    snap = {
        "slug": slug, "version": 2, "title": "Camp 15 <b>area</b>", "text": "First.\n\nSecond.",
        "lang": lang, "published_at": "2026-11-24T18:40:00Z",
        "bounds": [[s - 0.01, w - 0.01], [n + 0.01, e + 0.01]], "precision": "grid",
        "sites": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [126.895, 39.71]},
             "properties": {"name": "Synthetic site <script>x</script>", "name_ko": "가상 시설",
                            "facility_type": "kwanliso", "placement": "grid", "witnesses": 7}}]},
        "cells": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"count": 5}, "geometry": {
                "type": "Polygon", "coordinates": [[[126.88, 39.70], [126.90, 39.70],
                                                    [126.90, 39.72], [126.88, 39.72],
                                                    [126.88, 39.70]]]}}]},
        "scenes": list(scenes),
        "annotations": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [126.89, 39.715]},
             "properties": {"label": "guard_post", "label_text": "Guard post",
                            "scene_date": "2014-05-01"}}]},
        "allowed_origins": [ALLOWED, "https://bad.example; script-src *"], "min_count": 3}
    return {**snap, **kw}


@pytest.fixture
def env(ref_store, settings, tmp_path, monkeypatch):
    """An app with two scenes and three snapshots: `pub` shows scene A's tiles, lists scene B
    without tiles; `other` shows scene B's tiles (a different publication)."""
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    ids = []
    for name, size in (("a", 512), ("b", 256)):
        f = make_tif(tmp_path / f"{name}.tif", crs="EPSG:4326", bounds=LL_BOUNDS, size=size)
        s = ingest(f, settings.instance_path / "imagery",
                   date(2014, 5, 1), actor="t")
        SceneStore(ref_store).add(s, actor="t")
        ids.append(s.id)
    a, b = ids
    snaps = {"pub": snapshot("pub", scenes=[
        {"id": a, "acquired": "2014-05-01", "sensor": "test", "attribution": "Test",
         "licence": "CC-BY-4.0", "tiles": True},
        {"id": b, "acquired": "2014-05-01", "sensor": "test", "attribution": "Test",
         "licence": "proprietary", "tiles": False}]),
        "other": snapshot("other", scenes=[{"id": b, "tiles": True}])}
    monkeypatch.setattr(embeds, "_get_published", lambda store, slug: snaps.get(slug))
    app = create_app(settings, ref_store)
    app.config["TESTING"] = True
    return app, snaps, a, b


def test_embed_page_headers_frame_ancestors_and_no_cookie(env):
    app, snaps, a, b = env
    c = https_client(app)
    r = c.get("/embed/pub?lang=ko")
    assert r.status_code == 200 and r.mimetype == "text/html"
    policy = r.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {ALLOWED}" in policy
    assert "bad.example" not in policy and "'unsafe-inline'" not in policy
    assert "X-Frame-Options" not in r.headers
    assert "Set-Cookie" not in r.headers  # not even the ?lang= cookie
    page = r.get_data(as_text=True)
    # user text is escaped; the snapshot's language decides (en here), not ?lang=
    assert "Camp 15 &lt;b&gt;area&lt;/b&gt;" in page and '<html lang="en">' in page
    assert "<script>x</script>" not in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page


def test_embed_neither_reads_nor_writes_the_session(env):
    app, snaps, a, b = env
    user, secret, _ = make_user(app.extensions["geomap_store"], "researcher")
    c = sign_in(https_client(app), user.username, secret)  # the browser has a session cookie
    for path in ("/embed/pub", "/embed/nope", f"/embed/pub/tiles/{a}/0/0/0.png",
                 "/oembed?url=https://localhost/p/pub"):
        r = c.get(path)
        assert "Set-Cookie" not in r.headers, path
    assert "Sign out" not in c.get("/embed/pub").get_data(as_text=True)


def test_embed_is_read_only(env):
    app, *_ = env
    c = https_client(app)
    for method in ("post", "put", "delete", "patch"):
        r = getattr(c, method)("/embed/pub")
        assert r.status_code == 405, method
        assert "Set-Cookie" not in r.headers
    assert c.head("/embed/pub").status_code == 200


def test_rate_limit_answers_429_with_retry_after(env):
    app, *_ = env
    app.config.update(GEOMAP_EMBED_BURST=5, GEOMAP_EMBED_RATE=0.1)
    c = https_client(app)
    codes = [c.get("/embed/pub").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    r = c.get("/embed/pub")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # another client address has its own bucket
    assert c.get("/embed/pub", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_token_bucket_refills():
    tb = embeds.TokenBucket(rate=1.0, burst=2)
    assert [tb.take("x", now=0.0) for _ in range(3)] == [0, 0, 1]
    assert tb.take("x", now=1.5) == 0


def test_unknown_slug_is_404_without_a_leak(env):
    app, *_ = env
    c = https_client(app)
    for slug in ("nope", "UPPER", "a" * 200, "..%2f..%2fetc"):
        r = c.get(f"/embed/{slug}")
        assert r.status_code == 404, slug
        body = r.get_data(as_text=True)
        assert "Camp 15" not in body and "Traceback" not in body and "Synthetic" not in body
    assert c.get("/embed/nope/tiles/x/0/0/0.png").status_code == 404


def test_oembed_document(env):
    app, *_ = env
    c = https_client(app)
    r = c.get("/oembed?url=https://localhost/p/pub&format=json&maxwidth=400")
    assert r.status_code == 200, r.data
    doc = r.get_json()
    assert doc["version"] == "1.0" and doc["type"] == "rich" and doc["provider_name"] == "geomap"
    assert doc["width"] == 400 and doc["height"] == 300
    assert doc["title"] == "Camp 15 <b>area</b>"  # JSON: the consumer escapes
    assert 'src="https://localhost/embed/pub"' in doc["html"] and "<iframe" in doc["html"]
    assert "&lt;b&gt;" in doc["html"]
    assert c.get("/oembed?url=https://localhost/p/pub&format=xml").status_code == 501
    assert c.get("/oembed?url=https://localhost/p/nope").status_code == 404
    assert c.get("/oembed?url=https://evil.example/p/pub").status_code == 404
    assert c.get("/oembed?url=https://localhost/p/pub&maxwidth=abc").status_code == 400


def test_tiles_only_for_scenes_the_snapshot_publishes(env):
    app, snaps, a, b = env
    c = https_client(app)
    t = _centre_tile(LL_BOUNDS, 15)
    ok = c.get(f"/embed/pub/tiles/{a}/{t.z}/{t.x}/{t.y}.png")
    assert ok.status_code == 200 and ok.mimetype == "image/png"
    assert "Set-Cookie" not in ok.headers
    # listed with tiles false; not in this snapshot (in another); unknown
    assert c.get(f"/embed/pub/tiles/{b}/{t.z}/{t.x}/{t.y}.png").status_code == 404
    assert c.get(f"/embed/other/tiles/{a}/{t.z}/{t.x}/{t.y}.png").status_code == 404
    assert c.get(f"/embed/other/tiles/{b}/{t.z}/{t.x}/{t.y}.png").status_code == 200
    assert c.get(f"/embed/pub/tiles/zzz/{t.z}/{t.x}/{t.y}.png").status_code == 404
    # outside the publication's bounds, or deeper than the embed serves
    assert c.get(f"/embed/pub/tiles/{a}/15/0/0.png").status_code == 404
    assert c.get(f"/embed/pub/tiles/{a}/20/{t.x * 32}/{t.y * 32}.png").status_code == 404
    # the public-domain relief: to its zoom limit, for published slugs only
    r5 = _centre_tile(LL_BOUNDS, 5)
    ok = c.get(f"/embed/pub/basemap/5/{r5.x}/{r5.y}.png")
    assert ok.status_code == 200 and ok.mimetype == "image/png" and "Set-Cookie" not in ok.headers
    assert c.get(f"/embed/nope/basemap/5/{r5.x}/{r5.y}.png").status_code == 404
    assert c.get(f"/embed/pub/basemap/{t.z}/{t.x}/{t.y}.png").status_code == 404


def test_embed_code_and_pure_renderers():
    code = embeds.embed_code("https://maps.example.org/", "camp-15", "ko")
    assert code.startswith('<iframe src="https://maps.example.org/embed/camp-15" '
                           'title="geomap 지도: camp-15"')
    assert "aspect-ratio:4 / 3" in code and "geomap-embed-resize.js" in code
    assert "<script" not in embeds.embed_code("https://m.example", "x", resize_script=False)
    snap = snapshot()
    page = embeds.render_page(snap, "/static/", "/embed/x/tiles/{scene}/{z}/{x}/{y}.png")
    assert "Camp 15 &lt;b&gt;" in page and "<p>First.</p>" in page
    ko = embeds.render_page(snapshot(lang="ko"), "", "tiles/{scene}/{z}/{x}/{y}.png")
    assert '<html lang="ko">' in ko and "지도" in ko
    assert embeds.frame_origins(snap) == [ALLOWED]


def test_static_export_writes_a_self_contained_folder(env, tmp_path):
    app, snaps, a, b = env
    store, settings = app.extensions["geomap_store"], app.config["GEOMAP_SETTINGS"]
    out = tmp_path / "site"
    res = embeds.export_static(store, settings, snaps["pub"], out, max_zoom=15)
    assert res["tiles"] > 0 and res["scenes"] == [a]
    assert (out / "index.html").is_file() and (out / "vendor/leaflet/leaflet.js").is_file()
    assert json.loads((out / "sites.geojson").read_text())["features"][0]["properties"]["witnesses"] == 7
    assert not (out / "tiles" / b).exists()  # tiles false: none written
    assert any((out / "basemap").rglob("*.png"))  # the relief, for context
    page = (out / "index.html").read_text()
    assert "/static/" not in page and "http" not in page.replace("http://www.w3.org", "")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        embeds.export_static(store, settings, snaps["pub"], out)
    with pytest.raises(InvalidInput, match="more than the limit of 10"):
        embeds.export_static(store, settings, snaps["pub"], tmp_path / "big", max_zoom=16,
                             max_tiles=10)
    assert not (tmp_path / "big").exists()  # refused before writing anything


def test_cli_publish_export(env, tmp_path):
    from click.testing import CliRunner

    from geomap.cli import main

    app, snaps, a, b = env
    inst = str(app.config["GEOMAP_SETTINGS"].instance_path)
    run = CliRunner().invoke
    r = run(main, ["--instance", inst, "publish", "export", "pub", str(tmp_path / "o"),
                   "--max-zoom", "15"])
    assert r.exit_code == 0, r.output
    assert "tiles" in r.output and (tmp_path / "o" / "index.html").is_file()
    r = run(main, ["--instance", inst, "publish", "export", "nope", str(tmp_path / "n")])
    assert r.exit_code == 2 and "no published publication 'nope'" in r.output
    r = run(main, ["--instance", inst, "publish", "export", "pub", str(tmp_path / "big"),
                   "--max-tiles", "3"])
    assert r.exit_code == 2 and "more than the limit of 3" in r.output
    from sqlalchemy import select

    from geomap.store.schema import audit_log

    with app.extensions["geomap_store"].read() as c:
        row = c.execute(select(audit_log).where(
            audit_log.c.action == "publication.export_static")).first()
    assert row is not None and row.target == "pub"


def test_end_to_end_publish_then_embed_and_export(ref_store, settings, tmp_path):
    """Through geomap.publications (the real snapshot): publish, embed, oEmbed, export;
    unpublish and the embed is gone."""
    from geomap import publications
    from geomap.model import Tier
    from geomap.policy import Principal, Role
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    s = ingest(make_tif(tmp_path / "p.tif", crs="EPSG:4326", bounds=LL_BOUNDS),
               settings.instance_path / "imagery", date(2014, 5, 1), actor="t",
               provider="Test provider", licence="CC-BY-4.0", tier=Tier.PUBLIC)
    SceneStore(ref_store).add(s, actor="t")
    actor = Principal(None, "advocate", Role.RESEARCHER)
    key = next(x.key for x in ref_store.sites(actor) if x.tier == Tier.PUBLIC)
    rec = publications.create(ref_store, actor, "e2e-map", {
        "title": "End to end", "lang": "ko", "site_keys": [key], "layers": ["sites"],
        "scene_ids": [s.id], "allowed_origins": [ALLOWED]})
    publications.publish(ref_store, actor, rec.id)
    c = https_client(create_app(settings, ref_store))
    r = c.get("/embed/e2e-map")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    assert f"frame-ancestors 'self' {ALLOWED}" in r.headers["Content-Security-Policy"]
    page = r.get_data(as_text=True)
    assert '<html lang="ko">' in page and "End to end" in page and "Test provider" in page
    assert c.get("/oembed?url=https://localhost/p/e2e-map").get_json()["title"] == "End to end"
    res = embeds.export_static(ref_store, settings, embeds.published(ref_store, "e2e-map"),
                               tmp_path / "out", max_zoom=12)
    assert res["scenes"] == [s.id] and (tmp_path / "out" / "index.html").is_file()
    publications.unpublish(ref_store, actor, rec.id)
    assert c.get("/embed/e2e-map").status_code == 404


def test_the_embed_code_include_renders_for_the_publication_page(env):
    from flask import render_template_string

    app, *_ = env
    with app.test_request_context("/", base_url="https://maps.example.org/"):
        out = render_template_string('{% include "_embed_code.html" %}', slug="pub", lang="en")
    assert "&lt;iframe src=&#34;https://maps.example.org/embed/pub&#34;" in out
    assert 'href="/embed/pub"' in out
