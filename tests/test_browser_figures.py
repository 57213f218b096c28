"""Report-figure links in a real headless Chromium: on the compare page they follow the map's
view (the figure covers what the analyst framed), in English and Korean, at a phone's width and
a desktop's; the figure they name is a print-size PNG of both dates. Screenshots go to
test-artifacts/figures/ to be looked at."""

from __future__ import annotations

import io
from datetime import date
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from geomap.web import create_app

from .conftest import make_user, serve_in_thread, solid_geotiff
from .test_browser import ARTIFACTS, browser, sign_in_ui, wait_until  # noqa: F401

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "figures"
BOUNDS = (126.86, 39.69, 126.93, 39.74)


@pytest.fixture(scope="module")
def fig_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.imagery import ingest
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    tmp = tmp_path_factory.mktemp("figures")
    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    ids = []
    for year, band in ((2009, 0), (2014, 2)):
        scene = ingest(solid_geotiff(tmp / f"{year}.tif", BOUNDS, band),
                       settings.instance_path / "imagery", date(year, 6, 1), actor="t",
                       sensor=f"TEST-{year}", licence="CC BY 4.0")
        SceneStore(store).add(scene, actor="t")
        ids.append(scene.id)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, ids
    stop()
    store.close()


def test_compare_page_figure_links_follow_the_view(browser, fig_app):  # noqa: F811
    base, store, (a, b) = fig_app
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                              has_touch=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    user, secret, _ = make_user(store, "analyst")
    sign_in_ui(pg, base, user.username, secret)
    for width in (390, 1280):
        for lang in ("en", "ko"):
            pg.set_viewport_size({"width": width, "height": 844 if width < 700 else 900})
            # right = the earlier scene: the figure still puts the earlier date first
            pg.goto(f"{base}/imagery/compare?a={b}&b={a}&lang={lang}")
            wait_until(pg, "window.geomapCompare && document.querySelectorAll("
                           "'#gm-compare-map img.leaflet-tile-loaded').length >= 1")
            wait_until(pg, "document.querySelector('a[data-figure-view]')"
                           ".getAttribute('href').includes('bbox=')")
            assert pg.evaluate("document.documentElement.scrollWidth") <= width
            pg.screenshot(path=str(SHOTS / f"compare-{lang}-{width}.png"), full_page=True)
    # the view's bbox, then a zoom in: the link follows
    link = pg.locator("a[data-figure-view]").first
    q = parse_qs(urlparse(link.get_attribute("href")).query)
    assert q["before"] == [a] and q["after"] == [b]
    west, south, east, north = map(float, q["bbox"][0].split(","))
    pg.evaluate("geomapCompare.map.setZoom(geomapCompare.map.getZoom() + 1, {animate: false})")
    wait_until(pg, f"!document.querySelector('a[data-figure-view]').getAttribute('href')"
                   f".includes({q['bbox'][0]!r})")
    q2 = parse_qs(urlparse(link.get_attribute("href")).query)
    w2, s2, e2, n2 = map(float, q2["bbox"][0].split(","))
    assert w2 > west and e2 < east and (e2 - w2) < 0.6 * (east - west)
    # the figure it names: both dates side by side at A4 width, 300 dpi
    r = pg.request.get(base + link.get_attribute("href"))
    assert r.status == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.body()))
    assert img.width == 2480 and abs(img.info["dpi"][0] - 300) < 0.5
    img.save(SHOTS / "before-after.png")
    assert errors == []
    ctx.close()
