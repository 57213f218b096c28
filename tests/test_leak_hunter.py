"""The leak hunter (issue 14, item 5): plant secrets (witness codes, narratives, interview
places, exact testimony points at several roundings, an internal-tier site, a staff note, an
annotation note), compose and publish, then fetch every public byte an anonymous visitor can
reach: the public page and JSON, every asset they load, error pages under /p/, the embed, its
tiles, oEmbed, the static export, and every response header. None of the secrets may appear.

The test of the test: the same hunt over a publication built with a deliberately leaky
allow-list (a staff field on sites) or a leaky cell builder (testimony points as cells) must
find the leak."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin, urlsplit

import pytest

from geomap import publications as pubs

from .conftest import https_client
from .test_publications import FULL, HIDDEN, POINTS, RESEARCHER, plant, secrets_of_world

_REF = re.compile(rb"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)["']?\s*\)""")
EXTRA_SECRETS = ["ANNOTATIONNOTE-LEAK"]


@pytest.fixture
def env(store, settings, tmp_path):
    from geomap.web import create_app

    world = plant(store, settings, tmp_path)
    world["imagery_dir"] = settings.instance_path / "imagery"  # story figures (item 4)
    app = create_app(settings, store)
    app.config["TESTING"] = True
    app.config["GEOMAP_EMBED_BURST"] = 100_000  # the hunt is one busy visitor
    return app, store, settings, world


def _publish_all(store, world) -> list[str]:
    """Publications in every mode a publisher can choose, each published."""
    modes = {
        "leak-exact": {"site_precision": "exact", "counts": "grid", "min_count": "2"},
        "leak-grid": {"site_precision": "grid", "site_grid_km": "5", "counts": "grid",
                      "cell_km": "5"},
        "leak-county": {"site_precision": "county", "counts": "county", "min_count": "2"},
    }
    # the exact one is also a story: steps fitted to a site, with a figure rendered at publish
    modes["leak-exact"]["steps"] = [
        {"title": "Overview", "text": "Counts only.", "layers": ["sites", "cells"]},
        {"title": "Alpha", "text": "A public camp.", "fit": "syn-alpha", "scene": world["scene"],
         "figure": {"scene": world["scene"], "bbox": [127.01, 40.0, 127.05, 40.02]}}]
    for slug, mode in modes.items():
        rec = pubs.create(store, RESEARCHER, slug, {**FULL, "scene_ids": world["scene"], **mode})
        pubs.publish(store, RESEARCHER, rec.id, imagery_dir=world.get("imagery_dir"))
    gone = pubs.create(store, RESEARCHER, "leak-gone", FULL)
    pubs.publish(store, RESEARCHER, gone.id)
    pubs.unpublish(store, RESEARCHER, gone.id)
    return list(modes)


def _crawl(client, start: list[str]) -> dict[str, bytes]:
    """Every same-origin URL reachable from `start` through src/href/url() (pages, scripts,
    styles, fonts, images), with each response's headers folded into its bytes."""
    seen: dict[str, bytes] = {}
    todo = list(start)
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        r = client.get(url)
        assert "Set-Cookie" not in r.headers, (url, r.headers.get("Set-Cookie"))
        body = r.get_data()
        seen[url] = body + b"\n" + str(r.headers).encode()
        if r.status_code != 200 or not (r.mimetype or "").startswith(("text/", "application/j")):
            continue
        for m in _REF.finditer(body):
            ref = (m.group(1) or m.group(2)).decode()
            target = urljoin(url, ref)
            parts = urlsplit(target)
            if parts.scheme in ("data", "mailto") or (parts.netloc and parts.netloc != "localhost"):
                continue
            todo.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def _coordinates(fc: dict):
    def walk(c):
        if isinstance(c[0], (int, float)):
            yield c[0], c[1]
        else:
            for x in c:
                yield from walk(x)
    for f in fc["features"]:
        yield from walk(f["geometry"]["coordinates"])


def hunt(app, store, settings, slugs: list[str], tmp_path) -> dict[str, list[str]]:
    """Secret -> the public URLs (or exported files) it was found in."""
    from geomap import embeds

    client = https_client(app)  # anonymous: no session, no cookie
    start = []
    for slug in slugs:
        start += [f"/p/{slug}", f"/p/{slug}.json", f"/embed/{slug}",
                  f"/oembed?url=https://localhost/embed/{slug}"]
    start += ["/p/no-such-slug", "/p/no-such-slug.json", "/p/leak-gone", "/p/leak-gone.json",
              "/p/%3Cscript%3E", "/p/" + "x" * 300, "/p/leak-exact/extra", "/embed/no-such"]
    found = _crawl(client, start)
    for slug in slugs:  # the tiles the page would load, over the snapshot's bounds
        snap = pubs.get_published(store, slug)
        for s in snap["scenes"]:
            for z, x, y in embeds._tiles_in(snap["bounds"], range(8, 11)):
                url = f"/embed/{slug}/tiles/{s['id']}/{z}/{x}/{y}.png"
                r = client.get(url)
                assert "Set-Cookie" not in r.headers
                found[url] = r.get_data() + str(r.headers).encode()
        out = tmp_path / f"export-{slug}"
        embeds.export_static(store, settings, snap, out, max_zoom=10)
        for f in out.rglob("*"):
            if f.is_file():
                found[f"export:{f.relative_to(out)}"] = f.read_bytes()
    for asset in ("/static/vendor/leaflet/leaflet.js", "/static/js/geomap-embed.js",
                  "/static/css/geomap-embed.css", "/static/vendor/leaflet/leaflet.css"):
        assert asset in found, f"the crawl did not reach {asset}"
    assert any(u.endswith(".woff2") for u in found), "the crawl reached no font"
    if any(pubs.get_published(store, slug)["scenes"] for slug in slugs):
        assert any(k.startswith("export:tiles/") for k in found), "no exported tile"
    hits: dict[str, list[str]] = {}
    for slug in slugs:  # no published coordinate sits on a testimony or the internal site
        snap = json.loads(found[f"/p/{slug}.json"].split(b"\n", 1)[0])
        for layer in ("sites", "cells", "annotations"):
            for x, y in _coordinates(snap[layer]):
                for px, py in [*POINTS, HIDDEN]:
                    if abs(x - px) < 0.0005 and abs(y - py) < 0.0005:
                        hits.setdefault(f"point {px},{py}", []).append(f"/p/{slug}.json {layer}")
        for i, step in enumerate(snap.get("steps") or [], start=1):  # a story's map views
            v = step.get("view") or {}
            corners = [v["center"]] if v.get("center") else list(v.get("bounds") or [])
            for y, x in corners:
                for px, py in [*POINTS, HIDDEN]:
                    if abs(x - px) < 0.0005 and abs(y - py) < 0.0005:
                        hits.setdefault(f"point {px},{py}", []).append(f"step {i} view")
            if step.get("figure"):
                assert f"/p/{slug}/figures/{step['figure']}" in found, "figure not crawled"
                assert f"export:figures/{step['figure']}" in found, "figure not exported"
    for secret in secrets_of_world() + EXTRA_SECRETS:
        needles = {secret.encode(), secret.encode("unicode_escape")}
        for url, body in found.items():
            if any(n in body for n in needles):
                hits.setdefault(secret, []).append(url)
    return hits


def test_no_planted_secret_reaches_a_public_byte(env, tmp_path):
    app, store, settings, world = env
    slugs = _publish_all(store, world)
    assert hunt(app, store, settings, slugs, tmp_path) == {}
    # and what is public is really there (the hunt looked at real content)
    snap = pubs.get_published(store, "leak-exact")
    assert snap["sites"]["features"] and snap["cells"]["features"] and snap["scenes"]
    assert snap["steps"][1]["figure"] == "step-2.png"  # the story's figure was hunted too


def test_public_pages_need_no_session_and_set_no_cookie(env):
    app, store, settings, world = env
    _publish_all(store, world)
    client = https_client(app)
    for url in ("/p/leak-grid", "/p/leak-grid.json", "/p/leak-grid?lang=en", "/p/nothing"):
        r = client.get(url)
        assert "Set-Cookie" not in r.headers, url
        assert r.status_code in (200, 404), url
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "nonce" not in csp
    page = client.get("/p/leak-grid").get_data(as_text=True)
    assert "/api/" not in page and "/tiles/" not in page.replace("/embed/leak-grid/tiles/", "")
    assert re.search(r"<script(?![^>]*(?:src=|type=\"application/json\"))", page) is None
    assert client.post("/p/leak-grid").status_code == 405
    assert client.get("/p/leak-grid.json").get_json()["slug"] == "leak-grid"


def test_public_pages_are_rate_limited(env):
    app, store, settings, world = env
    _publish_all(store, world)
    app.config.update(GEOMAP_EMBED_BURST=3, GEOMAP_EMBED_RATE=0.1)
    app.extensions.pop("geomap_embed_limiter", None)
    client = https_client(app)
    codes = [client.get("/p/leak-grid.json").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    r = client.get("/p/leak-grid")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "Set-Cookie" not in r.headers


def test_the_hunter_finds_a_leaky_site_allow_list(env, tmp_path, monkeypatch):
    app, store, settings, world = env
    monkeypatch.setattr(pubs, "SITE_PROPERTIES", (*pubs.SITE_PROPERTIES, "research_note"))
    rec = pubs.create(store, RESEARCHER, "leaky-sites", FULL)
    pubs.publish(store, RESEARCHER, rec.id)
    hits = hunt(app, store, settings, ["leaky-sites"], tmp_path)
    assert "RESEARCHNOTE-Xq7" in hits
    assert "/p/leaky-sites" in hits["RESEARCHNOTE-Xq7"]


def test_the_hunter_finds_testimony_points_published_as_cells(env, tmp_path, monkeypatch):
    app, store, settings, world = env

    def leaky_cells(store, actor, st, counties):  # a "mode" that includes testimony points
        return [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                 "properties": {"count": 1}}
                for lon, lat in pubs._testimony_points(store, actor, st)]

    monkeypatch.setattr(pubs, "_cells", leaky_cells)
    rec = pubs.create(store, RESEARCHER, "leaky-cells", {**FULL, "counts": "grid"})
    pubs.publish(store, RESEARCHER, rec.id)
    hits = hunt(app, store, settings, ["leaky-cells"], tmp_path)
    assert f"point {POINTS[0][0]},{POINTS[0][1]}" in hits
    assert f"{POINTS[0][0]:.7f}" in hits and f"{POINTS[0][1]:.5f}" in hits
