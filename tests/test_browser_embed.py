"""Embeds and the static export in a real Chromium: a page on another origin frames the embed
(the map renders, nothing comes from a third host, no geomap cookie goes or comes); an origin
not in the publication's list is refused by frame-ancestors; the static export served by
`python -m http.server` renders on its own. Screenshots in test-artifacts/."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import date

import pytest

from geomap import embeds
from geomap.imagery import ingest

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)
from .test_embeds import snapshot
from .test_imagery import LL_BOUNDS, make_tif

pytestmark = pytest.mark.browser


def _host_page(embed_code: str):
    """A WSGI app: a plain HTML page with the embed code, as a partner's site would have."""
    body = ("<!doctype html><html><head><meta charset=utf-8><title>Partner</title></head><body>"
            f"<h1>Partner page</h1>{embed_code}</body></html>").encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return app


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store
    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    tmp = tmp_path_factory.mktemp("browser-embed")
    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    s = ingest(make_tif(tmp / "s.tif", crs="EPSG:4326", bounds=LL_BOUNDS),
               settings.instance_path / "imagery", date(2014, 5, 1), actor="t")
    SceneStore(store).add(s, actor="t")
    base, stop = serve_in_thread(create_app(settings, store))
    port = base.rsplit(":", 1)[1]
    # the partner's page server: its own port; allowed when reached as localhost, not as
    # 127.0.0.1 (another origin, and another site than the geomap server's, so the browser
    # would not send a geomap cookie there anyway)
    codes = {lang: embeds.embed_code(base, f"map-{lang}", lang) for lang in ("en", "ko")}
    pages = {lang: serve_in_thread(_host_page(code)) for lang, code in codes.items()}
    snaps = {}
    for lang, (pbase, _) in pages.items():
        allowed = pbase.replace("127.0.0.1", "localhost")
        snaps[f"map-{lang}"] = snapshot(
            f"map-{lang}", lang=lang, title="가상 수용소 지도" if lang == "ko" else "Synthetic camp map",
            scenes=[{"id": s.id, "acquired": "2014-05-01", "sensor": "test",
                     "attribution": "Test provider", "licence": "CC-BY-4.0", "tiles": True}],
            allowed_origins=[allowed])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embeds, "_get_published", lambda _store, slug: snaps.get(slug))
        yield {"base": base, "port": port, "pages": {k: v[0] for k, v in pages.items()},
               "store": store, "settings": settings, "snaps": snaps}
    for _, pstop in pages.values():
        pstop()
    stop()
    store.close()


def _watch(pg, allowed_hosts: set[str]):
    seen = {"foreign": [], "csp": [], "errors": [], "cookies_sent": [], "cookies_set": []}
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    pg.on("console", lambda m: "frame-ancestors" in m.text and seen["csp"].append(m.text))

    def req(r):
        from urllib.parse import urlsplit

        if urlsplit(r.url).netloc not in allowed_hosts and not r.url.startswith("data:"):
            seen["foreign"].append(r.url)
        if "/embed/" in r.url and "cookie" in r.headers:
            seen["cookies_sent"].append(r.url)

    def resp(r):
        if "/embed/" in r.url and "set-cookie" in r.headers:
            seen["cookies_set"].append(r.url)

    pg.on("request", req)
    pg.on("response", resp)
    return seen


@pytest.mark.parametrize("lang,width", [("en", 1280), ("ko", 390)])
def test_embed_in_another_origin_renders_without_a_session(browser, live, lang, width):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    # the browser holds a geomap session (signed in on the geomap server)
    user, secret, _ = make_user(live["store"], "researcher")
    sign_in_ui(pg, live["base"], user.username, secret)
    session_before = sorted((c["name"], c["value"]) for c in ctx.cookies())
    page_url = live["pages"][lang].replace("127.0.0.1", "localhost")
    seen = _watch(pg, {live["base"].split("//")[1], page_url.split("//")[1]})
    pg.goto(page_url)
    frame = pg.frame_locator("iframe[data-geomap-embed]")
    frame.locator("body[data-ready='1']").wait_for(timeout=15000)
    assert frame.locator("path.gm-embed-site").count() >= 1
    assert frame.locator("path.gm-embed-cell").count() >= 1
    assert frame.locator("html").get_attribute("lang") == lang
    legend = frame.locator(".gm-embed-legend").inner_text()
    assert ("구금 시설" if lang == "ko" else "Detention site") in legend
    frame.locator("img.leaflet-tile-loaded").first.wait_for(timeout=15000)  # public tiles
    pg.wait_for_timeout(300)
    # the framed page fits its frame (no sideways scroll inside the iframe)
    assert frame.locator("html").evaluate("e => e.scrollWidth <= e.clientWidth")
    assert seen["foreign"] == [] and seen["errors"] == []
    assert seen["cookies_sent"] == [] and seen["cookies_set"] == []
    assert sorted((c["name"], c["value"]) for c in ctx.cookies()) == session_before
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"embed-partner-{lang}-{width}.png"), full_page=True)
    ctx.close()


def test_an_origin_not_allowed_cannot_frame_the_embed(browser, live):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    seen = _watch(pg, {live["base"].split("//")[1], live["pages"]["en"].split("//")[1]})
    pg.goto(live["pages"]["en"])  # 127.0.0.1:<port>: not in allowed_origins
    pg.wait_for_timeout(1500)
    frames = [f for f in pg.frames if f != pg.main_frame]
    assert frames, "no iframe"
    assert all(f.locator("path.gm-embed-site").count() == 0 for f in frames)
    assert any("frame-ancestors" in m for m in seen["csp"]), seen["csp"]
    assert seen["foreign"] == []
    ctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_static_export_served_by_a_plain_static_server(browser, live, tmp_path, lang):  # noqa: F811
    out = tmp_path / "site"
    res = embeds.export_static(live["store"], live["settings"], live["snaps"][f"map-{lang}"],
                               out, max_zoom=15)
    assert res["tiles"] > 0
    port = _free_port()
    srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1", "--directory", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for width in (1280, 390):
            ctx = browser.new_context(viewport={"width": width, "height": 900})
            pg = ctx.new_page()
            seen = _watch(pg, {f"127.0.0.1:{port}"})
            pg.goto(base + "/")
            pg.wait_for_selector("body[data-ready='1']", timeout=15000)
            assert pg.locator("path.gm-embed-site").count() >= 1
            pg.wait_for_selector("img.leaflet-tile-loaded", timeout=15000)
            assert pg.locator("html").get_attribute("lang") == lang
            assert seen["foreign"] == [] and seen["errors"] == []
            # nothing wider than the screen
            assert pg.evaluate("document.documentElement.scrollWidth") <= width
            pg.wait_for_timeout(500)  # Leaflet's tile fade-in
            pg.screenshot(path=str(ARTIFACTS / f"embed-static-{lang}-{width}.png"),
                          full_page=True)
            ctx.close()
    finally:
        srv.terminate()
        srv.wait(10)
