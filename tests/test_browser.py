"""The demo map in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from shapely.geometry import Point

from geomap.demo import load_synthetic_testimonies
from geomap.model import FacilityType, Precision, Site, Tier
from geomap.web import create_app

from .conftest import USER_STORES, make_user, open_session, serve_in_thread

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-features=Translate,OptimizationHints"]


@pytest.fixture(scope="module")
def live_store(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 400, seed=11)
    store.upsert_sites([Site(
        key="xss", name=XSS, aliases=["<script>alert(2)</script>"],
        facility_type=FacilityType.OTHER, geometry=Point(127.3, 40.2),
        precision=Precision.LOCALITY, sources="<b>bold</b>", tier=Tier.INTERNAL)])
    yield settings, store
    store.close()


@pytest.fixture(scope="module")
def live_app(live_store):
    base, stop = serve_in_thread(create_app(*live_store))
    yield base
    stop()


@pytest.fixture(scope="module")
def grouping_app(live_store):
    """The same data, with a per-view limit low enough that the country view is grouped."""
    from dataclasses import replace

    settings, store = live_store
    base, stop = serve_in_thread(create_app(replace(settings, points_per_view=50), store))
    yield base
    stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: run `make setup-test`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in_ui(pg, base: str, username: str, secret: str, land: str | None = "/") -> None:
    """Signed in, then `land` opened ("/", the map, where the sign-in pages leave you; None:
    nothing opened). The session is the one the sign-in pages would open, its cookie given to
    the browser: the pages themselves cost a second of every test, and their own tests are
    test_browser_admin's, the crawl's and the phone tests'."""
    from geomap.web.sessions import COOKIE

    token = open_session(USER_STORES[username], username, secret)
    # by host and path: Chromium refuses a Secure cookie given with an http:// address,
    # though it sends one to a loopback address (a trustworthy origin)
    pg.context.add_cookies([{"name": COOKIE, "value": token, "domain": urlparse(base).hostname,
                             "path": "/", "secure": True, "httpOnly": True,
                             "sameSite": "Strict"}])
    if land is not None:
        pg.goto(base + land)


def _new_page(browser, store, base, role="researcher"):  # noqa: D103
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    pg = ctx.new_page()
    pg.console_errors, pg.requests, pg.dialogs, pg.csp = [], [], [], []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.csp.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    user, secret, _ = make_user(store, role)
    sign_in_ui(pg, base, user.username, secret)
    return ctx, pg


@pytest.fixture
def page(browser, live_store, live_app):
    ctx, pg = _new_page(browser, live_store[1], live_app)
    yield pg
    ctx.close()


def wait_until(page, expression: str, timeout: float = 20.0) -> None:
    """Poll a JS expression from Python: Playwright's wait_for_function evaluates its predicate
    with eval(), which our Content-Security-Policy (rightly) forbids in the page."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)


def _wait_drawn(page):
    wait_until(page, "window.geomap && geomap.state.boundaries > 0 && geomap.state.sites > 0"
                     " && geomap.state.testimonies > 0")


def test_demo_map_draws_boundaries_sites_and_testimonies_from_our_origin_only(page, live_app):
    _wait_drawn(page)  # the sign-in landed on the map
    state = page.evaluate("geomap.state")
    assert state["boundaries"] == 12  # 12 admin-1 units
    assert state["sites"] == 29  # 28 public sites with coordinates + the hostile test site
    assert state["testimonies"] > 300 and state["errors"] == []
    assert page.locator(".leaflet-container").count() == 1
    assert page.locator(".gm-cluster, .leaflet-interactive").count() > 0
    assert page.locator(".gm-basemap").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"))
    host = urlparse(live_app).netloc
    assert [u for u in page.requests if urlparse(u).netloc not in (host, "")] == []
    assert page.console_errors == [] and page.csp == []


def test_testimonies_reload_for_the_new_viewport(page, live_app):
    page.goto(live_app + "/")
    _wait_drawn(page)
    before = page.evaluate("geomap.state.testimonies")
    api_calls = len([u for u in page.requests if "/api/testimonies" in u])
    # zoom to Yodok (Camp 15): fewer testimonies, fetched again for the new bbox
    page.evaluate("""() => { const k = Object.keys(window).find(k => k.startsWith('map_'));
                            window[k].setView([39.71, 126.89], 11); }""")
    wait_until(page, f"geomap.state.testimonies < {before}")
    assert len([u for u in page.requests if "/api/testimonies" in u]) > api_calls
    assert "bbox=126." in [u for u in page.requests if "/api/testimonies" in u][-1]
    # zoomed in, uncertainty circles of real radius are drawn
    assert page.locator("path.leaflet-interactive, canvas").count() > 0
    assert page.console_errors == []


def test_hostile_site_name_shows_as_text_in_the_site_sheet_and_tooltip(page, live_app):
    page.goto(live_app + "/")
    _wait_drawn(page)
    page.evaluate("geomap.siteMarkers['xss'].fire('click')")
    sheet = page.locator(".gm-sheet")
    sheet.wait_for()
    assert XSS in sheet.inner_text()  # the title; aliases and sources are on the dossier
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".gm-sheet b, .gm-sheet script").count() == 0
    page.goto(live_app + "/sites/xss")
    assert "<script>alert(2)</script>" in page.inner_text("main")
    assert page.locator("main b, main img[src='x']").count() == 0
    page.goto(live_app + "/")
    _wait_drawn(page)
    page.evaluate("geomap.siteMarkers['xss'].openTooltip()")
    assert XSS in page.locator(".leaflet-tooltip").last.inner_text()
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == [] and page.console_errors == []


def test_korean_page_renders_hangul_labels(page, live_app):
    page.goto(live_app + "/?lang=ko")
    _wait_drawn(page)
    assert "도·직할시" in page.locator(".leaflet-control-layers").inner_text()
    fonts = page.evaluate("document.fonts.check('16px \"Noto Sans KR\"', '함경북도')")
    assert fonts is True
    page.screenshot(path=str(ARTIFACTS / "map-ko.png"))
    assert page.console_errors == []


def test_a_crowded_view_is_grouped_by_the_server_and_counts_add_up(browser, live_store,
                                                                 grouping_app):
    ctx, page = _new_page(browser, live_store[1], grouping_app)
    errors = page.console_errors
    wait_until(page, "window.geomap && geomap.state.aggregated === true"
                     " && geomap.state.testimonies > 0")
    total = page.evaluate("geomap.state.testimoniesMatched")
    badges = page.locator(".gm-cluster span").all_inner_texts()
    assert badges and sum(int(b) for b in badges) == total
    assert "grouped by area" in page.locator(".gm-status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "map-grouped.png"))
    # zooming in far enough shows individual testimonies again
    page.evaluate("""() => { const k = Object.keys(window).find(k => k.startsWith('map_'));
                            window[k].setView([39.71, 126.89], 12); }""")
    wait_until(page, "geomap.state.aggregated === false")
    assert errors == [] and page.csp == []
    ctx.close()


def test_review_queue_works_from_the_keyboard_and_the_dossier_draws(browser, live_store,
                                                                    live_app):
    from geomap import corroboration as corr
    from geomap.gazetteer import Gazetteer
    from geomap.policy import SYSTEM
    from geomap.store.links import LinkStore

    store = live_store[1]
    corr.run_linking(store, Gazetteer.from_store(store, SYSTEM))
    ctx, page = _new_page(browser, store, live_app)
    page.goto(live_app + "/review")
    page.locator("#gm-r-title").wait_for()
    first = page.locator("#gm-r-title").inner_text()
    page.keyboard.press("c")
    wait_until(page, "document.getElementById('gm-r-status').textContent.length > 0")
    assert page.locator("#gm-r-status").inner_text() == "Saved"
    assert page.locator("#gm-r-title").inner_text() != first
    assert LinkStore(store).all("confirmed")
    assert page.locator(".leaflet-interactive").count() >= 2  # both circles drawn
    site_key = LinkStore(store).all("confirmed")[0]["site_key"]
    page.goto(live_app + f"/sites/{site_key}")
    page.locator(".gm-grade").wait_for()
    assert page.locator("#gm-dossier-map .leaflet-interactive").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "dossier.png"), full_page=True)
    assert page.console_errors == [] and page.csp == []
    ctx.close()


def _png_pixels(png: bytes):
    import numpy as np
    import rasterio

    with rasterio.MemoryFile(png) as mem, mem.open() as ds:
        return np.moveaxis(ds.read(), 0, -1)


def test_swipe_comparison_shows_each_date_on_its_side(browser, live_store, live_app, tmp_path):
    """Two scenes of one area (a red one from 2009, a blue one from 2014) around Camp 15:
    left of the divider the first, right of it the last."""
    from datetime import date

    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds

    from geomap.imagery import ingest
    from geomap.store.scenes import SceneStore

    settings, store = live_store
    bounds = (126.86, 39.69, 126.93, 39.74)  # around Camp 15's point
    for year, band in ((2009, 0), (2014, 2)):
        data = np.zeros((3, 512, 512), dtype="uint8")
        data[band] = 220
        f = tmp_path / f"{year}.tif"
        with rasterio.open(f, "w", driver="GTiff", width=512, height=512, count=3,
                           dtype="uint8", crs="EPSG:4326",
                           transform=from_bounds(*bounds, 512, 512)) as dst:
            dst.write(data)
        scene = ingest(f, settings.instance_path / "imagery", date(year, 6, 1), actor="t",
                       sensor=f"TEST-{year}")
        SceneStore(store).add(scene, actor="t")
    ctx, page = _new_page(browser, store, live_app, role="analyst")
    page.goto(live_app + "/sites/kwalliso-15-yodok")
    page.click("text=Compare first and last")
    page.wait_for_url("**/imagery/compare**")
    wait_until(page, "document.querySelectorAll('#gm-compare-map img.leaflet-tile-loaded')"
                     ".length >= 2")
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swipe.png"))
    shot = _png_pixels(page.locator("#gm-compare-map").screenshot())
    h, w = shot.shape[:2]
    left, right = shot[h // 2, int(w * 0.42)], shot[h // 2, int(w * 0.58)]
    assert left[0] > 150 and left[2] < 80, left    # 2009: red
    assert right[2] > 150 and right[0] < 80, right  # 2014: blue
    page.evaluate("document.getElementById('gm-swipe').value = 90; "
                  "document.getElementById('gm-swipe').dispatchEvent(new Event('input'))")
    shot = _png_pixels(page.locator("#gm-compare-map").screenshot())
    assert shot[h // 2, int(w * 0.58)][0] > 150  # the divider moved: the red scene shows there
    assert page.console_errors == [] and page.csp == []
    ctx.close()


def test_a_licence_with_a_meta_refresh_is_text_on_the_map_and_compare_page(browser, tmp_path):
    """A scene whose sensor and licence hold markup: on the map (layer control, attribution)
    and on the compare page they show as text, create no element, and the page stays put."""
    from datetime import date

    from geomap.config import load_settings
    from geomap.imagery import ingest
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    from .test_imagery import make_tif

    meta = '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/">'
    img = "<img src=x onerror=\"window.pwned = 'img'\">"
    script = "</script><script>window.pwned = 'script'</script>"
    sensor, licence = f"S1 {img} {script}", f"CC-BY {meta} {img} <b id=gm-pwn>b</b>"
    settings = load_settings(tmp_path / "instance")
    store = Store.for_instance(settings)
    scene = ingest(make_tif(tmp_path / "scene.tif"), settings.instance_path / "imagery",
                   date(2014, 5, 1), actor="t", sensor=sensor, licence=licence)
    SceneStore(store).add(scene, actor="t")
    base, stop = serve_in_thread(create_app(settings, store))
    try:
        ctx, page = _new_page(browser, store, base, role="analyst")
        navigations = []
        page.on("framenavigated",
                lambda f: f == page.main_frame and navigations.append(f.url))

        def assert_inert(url):
            page.wait_for_timeout(1000)  # room for a refresh to fire, were there one
            # the same page (the map keeps its view in the query: history.replaceState)
            assert page.url.split("?")[0] == url.split("?")[0]
            assert [u for u in navigations if u.split("?")[0] != url.split("?")[0]] == []
            assert page.locator('meta[http-equiv="refresh"]').count() == 0
            assert page.locator("img[src='x'], #gm-pwn").count() == 0
            assert page.evaluate("window.pwned === undefined")
            assert not [u for u in page.requests if "127.0.0.1:9/" in u]

        # the map: the overlay's name in the layer control, its licence in the attribution
        wait_until(page, "document.querySelector('.leaflet-control-layers-overlays')")
        name = page.locator(".leaflet-control-layers-overlays label", has_text="2014-05-01")
        assert f"2014-05-01 {sensor}" in name.inner_text()
        name.locator("input").check()
        attribution = page.locator(".leaflet-control-attribution")
        wait_until(page, "document.querySelector('.leaflet-control-attribution')"
                         ".textContent.includes('CC-BY')")
        assert licence in attribution.inner_text()
        assert_inert(base + "/")

        # the compare page: title labels, scene choices and the attribution
        url = f"{base}/imagery/compare?a={scene.id}&b={scene.id}"
        page.goto(url)
        navigations.clear()
        wait_until(page, "document.querySelector('#gm-compare-map .leaflet-control-attribution')"
                         " && document.querySelector('#gm-compare-map "
                         ".leaflet-control-attribution').textContent.includes('CC-BY')")
        assert licence in page.locator("#gm-compare-map .leaflet-control-attribution").inner_text()
        assert sensor in page.locator(".gm-compare-labels").inner_text()
        assert_inert(url)
        assert page.dialogs == [] and page.console_errors == [] and page.csp == []
        ctx.close()
    finally:
        stop()
        store.close()


def test_an_empty_review_queue_shows_no_buttons_and_no_blank_map(browser, tmp_path):
    """A class set display:grid on the item and beat its `hidden` attribute: an empty queue
    showed the decision buttons over a blank map. `hidden` now always wins."""
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    base, stop = serve_in_thread(create_app(settings, store))
    try:
        ctx, page = _new_page(browser, store, base)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/review?lang=ko")
        page.locator("#gm-review-empty").wait_for()
        assert page.locator("#gm-review-empty").is_visible()
        assert not page.locator("#gm-review-item").is_visible()
        assert not page.locator("button[data-action=confirm]").is_visible()
        assert page.console_errors == [] and page.csp == []
        ctx.close()
    finally:
        stop()
        store.close()
