"""Annotating a scene in a real headless Chromium (issue 13): an analyst draws a polygon, labels
it, saves, reloads and finds it; edits it and finds the earlier version in its history; draws
a line whose displayed length is within 1% of the geodesic length (pyproj). At desktop and
phone widths, in English and Korean; nothing loads from other hosts and the CSP holds."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pyproj import Geod
from shapely.geometry import Point

from geomap.web import create_app

from .conftest import make_user, serve_in_thread, solid_geotiff
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
BOUNDS = (126.99, 39.99, 127.02, 40.02)


@pytest.fixture(scope="module")
def ann_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.imagery import ingest
    from geomap.model import FacilityType, Precision, Site, Tier
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    tmp = tmp_path_factory.mktemp("browser-annotate")
    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    scenes = []
    # one scene per test run (the first also the earlier scene a change is against)
    for i, (day, band) in enumerate([(date(2012, 4, 2), 1), (date(2018, 9, 14), 0),
                                     (date(2019, 7, 1), 2), (date(2020, 8, 3), 0)]):
        # bounds a hair apart: four files, four hashes
        f = solid_geotiff(tmp / f"s{i}.tif", (*BOUNDS[:3], BOUNDS[3] + i * 1e-5), band)
        s = ingest(f, settings.instance_path / "imagery", day, actor="t", sensor="TestSat-2",
                   licence="CC BY 4.0 (test)")
        SceneStore(store).add(s, actor="t")
        scenes.append(s)
    store.upsert_sites([Site(key="camp-test", name="Test camp (synthetic)",
                             facility_type=FacilityType.KWALLISO, geometry=Point(127.005, 40.005),
                             precision=Precision.VICINITY, tier=Tier.INTERNAL)])
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, scenes
    stop()
    store.close()


def _page(browser, store, base, width, locale):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    pg = ctx.new_page()
    pg.errors, pg.csp, pg.foreign = [], [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.csp.append(m.text))
    pg.on("request", lambda r: r.url.startswith(base) or pg.foreign.append(r.url))
    pg.on("dialog", lambda d: d.accept())
    user, secret, _ = make_user(store, "analyst")
    sign_in_ui(pg, base, user.username, secret, land=None)
    return ctx, pg


def _draw(pg, tool: str, points: list[tuple[float, float]]) -> None:
    m = pg.locator("#gm-annotate-map")
    m.scroll_into_view_if_needed()
    pg.locator(f"#gm-annotate-map .leaflet-pm-icon-{tool}").click()
    for x, y in points:
        m.click(position={"x": x, "y": y})
        pg.wait_for_timeout(150)


def _centre(pg):
    box = pg.locator("#gm-annotate-map").bounding_box()
    return box["width"] / 2, box["height"] / 2


def _fits(pg, width):
    assert pg.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width, locale", [(1280, "en-GB"), (390, "ko-KR")])
def test_draw_label_save_reload_edit_and_see_history(browser, ann_app, width, locale):  # noqa: F811
    base, store, scenes = ann_app
    scene = scenes[1 if width == 1280 else 2]
    lang = locale[:2]
    ctx, pg = _page(browser, store, base, width, locale)
    pg.goto(f"{base}/imagery/{scene.id}/annotate?lang={lang}")
    pg.wait_for_selector("#gm-annotate-map .leaflet-pm-toolbar")
    pg.wait_for_selector("#gm-annotate-map img.leaflet-tile-loaded")
    _fits(pg, width)
    cx, cy = _centre(pg)
    corners = [(cx - 50, cy - 40), (cx + 50, cy - 40), (cx + 50, cy + 40), (cx - 50, cy + 40)]
    _draw(pg, "polygon", corners + corners[:1])
    pg.wait_for_selector("#gm-ann-form:not([hidden])")
    # the live figures of the new outline
    assert float(pg.locator("#gm-ann-measure").get_attribute("data-area-m2")) > 0
    pg.select_option("#gm-ann-label", "housing_barracks")
    pg.select_option("#gm-ann-confidence", "high")
    pg.select_option("#gm-ann-site", label="Test camp (synthetic)")
    pg.select_option("#gm-ann-change", "appeared")
    pg.select_option("#gm-ann-earlier", scenes[0].id)
    pg.fill("#gm-ann-note", "[SYNTHETIC] <b>seen</b> by W-3")
    pg.click("#gm-ann-save")
    saved = {"en": "Saved.", "ko": "저장되었습니다."}[lang]
    pg.wait_for_function("() => document.getElementById('gm-ann-status').textContent")
    assert pg.locator("#gm-ann-status").inner_text() == saved
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"annotate-{lang}-{width}.png"), full_page=True)

    # reload: the polygon is in the list and on the map; its form holds what was saved
    pg.reload()
    pg.wait_for_selector(".gm-ann-item")
    items = pg.locator(".gm-ann-item")
    assert items.count() == 1
    label_text = {"en": "Housing or barracks", "ko": "주거지 또는 막사"}[lang]
    assert label_text in items.first.inner_text()
    items.first.click()
    assert pg.locator("#gm-ann-label").input_value() == "housing_barracks"
    assert pg.locator("#gm-ann-confidence").input_value() == "high"
    assert pg.locator("#gm-ann-note").input_value() == "[SYNTHETIC] <b>seen</b> by W-3"
    assert pg.evaluate("window.pwned") is None
    assert pg.locator("#gm-annotate-map path.leaflet-interactive").count() >= 1

    # edit: a new label; the earlier version stays in the history
    pg.select_option("#gm-ann-label", "admin_building")
    pg.click("#gm-ann-save")
    pg.wait_for_selector(".gm-ann-version[data-version='2']")
    versions = pg.locator(".gm-ann-version")
    assert versions.count() == 2
    assert {"en": "Administrative building", "ko": "행정 건물"}[lang] in versions.nth(0).inner_text()
    assert label_text in versions.nth(1).inner_text()
    assert "[SYNTHETIC] <b>seen</b> by W-3" in versions.nth(1).inner_text()
    # the earlier scene's annotations as a dashed reference (whatever it holds by now)
    pg.select_option("#gm-ann-reference", scenes[0].id)
    pg.wait_for_load_state("networkidle")
    assert "Not saved" not in pg.locator("#gm-ann-status").inner_text()
    assert "저장하지 못했습니다" not in pg.locator("#gm-ann-status").inner_text()
    _fits(pg, width)
    pg.screenshot(path=str(ARTIFACTS / f"annotate-history-{lang}-{width}.png"), full_page=True)
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()


@pytest.mark.parametrize("width, locale", [(1280, "ko-KR"), (390, "en-GB")])
def test_a_drawn_line_shows_its_geodesic_length(browser, ann_app, width, locale):  # noqa: F811
    base, store, scenes = ann_app
    scene = scenes[0 if width == 1280 else 3]
    lang = locale[:2]
    ctx, pg = _page(browser, store, base, width, locale)
    pg.goto(f"{base}/imagery/{scene.id}/annotate?lang={lang}")
    pg.wait_for_selector("#gm-annotate-map .leaflet-pm-toolbar")
    cx, cy = _centre(pg)
    pts = [(cx - 120 * width / 1280 - 30, cy + 60), (cx + 20, cy - 70), (cx + 90, cy + 10)]
    _draw(pg, "polyline", pts + pts[-1:])  # a click on the last corner finishes the line
    pg.wait_for_selector("#gm-ann-form:not([hidden])")
    coords = pg.evaluate("""() => { const ls = geomapAnnotate.layers;
        return ls[ls.length - 1].getLatLngs().map((p) => [p.lng, p.lat]); }""")
    assert len(coords) == 3
    geodesic = Geod(ellps="WGS84").line_length([c[0] for c in coords], [c[1] for c in coords])
    shown = float(pg.locator("#gm-ann-measure").get_attribute("data-length-m"))
    assert abs(shown - geodesic) / geodesic < 0.01, (shown, geodesic)
    # what the reader sees says the same number (in metres, their locale's digits)
    text = pg.locator("#gm-ann-measure").inner_text()
    digits = re.search(r"([\d,]+\.\d) m", text).group(1).replace(",", "")
    assert abs(float(digits) - geodesic) / geodesic < 0.01
    pg.select_option("#gm-ann-label", "perimeter_fence")
    pg.click("#gm-ann-save")
    pg.wait_for_selector(".gm-ann-version[data-version='1']")
    after = float(pg.locator("#gm-ann-measure").get_attribute("data-length-m"))
    assert abs(after - geodesic) / geodesic < 0.001  # the server's figure (pyproj)
    pg.screenshot(path=str(ARTIFACTS / f"annotate-line-{lang}-{width}.png"), full_page=True)
    _fits(pg, width)
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()


@pytest.mark.parametrize("width, locale", [(1280, "en-GB"), (390, "ko-KR")])
def test_an_outline_confirmed_on_imagery_shows_on_the_dossier(browser, ann_app, width,  # noqa: F811
                                                              locale):
    base, store, scenes = ann_app
    lang = locale[:2]
    ctx, pg = _page(browser, store, base, width, locale)
    pg.goto(f"{base}/imagery/{scenes[3].id}/annotate?lang={lang}")
    pg.wait_for_selector("#gm-annotate-map .leaflet-pm-toolbar")
    cx, cy = _centre(pg)
    corners = [(cx - 40, cy - 30), (cx + 40, cy - 30), (cx + 40, cy + 30), (cx - 40, cy + 30)]
    _draw(pg, "polygon", corners + corners[:1])
    pg.wait_for_selector("#gm-ann-form:not([hidden])")
    pg.select_option("#gm-ann-label", "perimeter_fence")
    pg.select_option("#gm-ann-site", label="Test camp (synthetic)")
    pg.click("#gm-ann-save")
    pg.wait_for_selector("#gm-ann-confirm-site:not([hidden])")
    pg.click("#gm-ann-confirm-site")
    pg.wait_for_function("() => document.getElementById('gm-ann-status').textContent.length > 20")
    pg.goto(f"{base}/sites/camp-test?lang={lang}")
    # both on the map: the reported point (orange) and the outline seen on imagery (blue)
    pg.wait_for_selector('#gm-dossier-map path[stroke="#0072B2"]')
    pg.wait_for_selector('#gm-dossier-map path[fill="#D55E00"]')
    assert "2020-08-03" in pg.locator(".gm-imagery-geom").inner_text()
    assert pg.locator(".gm-features-by-date li").count() >= 1
    _fits(pg, width)
    pg.screenshot(path=str(ARTIFACTS / f"annotate-dossier-{lang}-{width}.png"), full_page=True)
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()
