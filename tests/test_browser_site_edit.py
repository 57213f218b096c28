"""Editing a site in a real headless Chromium (issue 11, item 5): a researcher working in Korean
changes a site's Hangul name and draws its perimeter with the Geoman polygon tool, at desktop
and phone widths; the dossier then shows both and the audit log holds the change."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from geomap.policy import SYSTEM
from geomap.site_edit import create_site
from geomap.store.schema import audit_log
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
SITES = {1280: "kwalliso-15-yodok", 390: "kwalliso-16-hwasong"}
EVIL = "<img src=x onerror=\"window.pwned='site'\">"


@pytest.fixture(scope="module")
def site_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-site-edit") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()
    store.close()


def _page(browser, store, base, width, locale="ko-KR"):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    pg = ctx.new_page()
    pg.errors, pg.csp, pg.foreign = [], [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.csp.append(m.text))
    pg.on("request", lambda r: r.url.startswith(base) or pg.foreign.append(r.url))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    return ctx, pg


def _updates(store, key):
    with store.read() as conn:
        return [json.loads(r.details) for r in conn.execute(
            select(audit_log).where(audit_log.c.action == "site.update",
                                    audit_log.c.target == key))]


@pytest.mark.parametrize("width", [1280, 390])
def test_change_the_hangul_name_and_draw_a_perimeter(browser, site_app, width):  # noqa: F811
    base, store = site_app
    key = SITES[width]
    old = store.site_by_key(key, SYSTEM)
    assert old.perimeter is None
    new_ko = f"시험 이름 {width}"
    ctx, pg = _page(browser, store, base, width)
    pg.goto(f"{base}/sites/{key}?lang=ko")
    pg.locator("a.gm-edit-site").click()
    pg.wait_for_url(f"**/sites/{key}/edit")
    pg.wait_for_selector("#gm-site-map .leaflet-pm-toolbar")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.fill("input[name=name_ko]", new_ko)

    # the Geoman polygon tool: four corners around the site's point, then the first again
    m = pg.locator("#gm-site-map")
    m.scroll_into_view_if_needed()
    pg.locator("#gm-site-map .leaflet-pm-icon-polygon").click()
    box = m.bounding_box()
    cx, cy = box["width"] / 2, box["height"] / 2
    corners = [(cx - 60, cy - 50), (cx + 60, cy - 50), (cx + 60, cy + 50), (cx - 60, cy + 50)]
    for x, y in corners + corners[:1]:
        m.click(position={"x": x, "y": y})
        pg.wait_for_timeout(120)
    drawn = json.loads(pg.locator("input[name=perimeter]").input_value())
    assert drawn["type"] == "Polygon" and len(drawn["coordinates"][0]) == 5
    # drawing did not move the point
    assert float(pg.locator("input[name=lat]").input_value()) == pytest.approx(old.geometry.y)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"site-edit-ko-{width}.png"), full_page=True)

    pg.locator(".gm-site-form button[type=submit]").click()
    pg.wait_for_url(f"**/sites/{key}")
    assert new_ko in pg.locator("main .gm-ko").inner_text()
    # the perimeter is a Leaflet path on the dossier's map (drawn in the site's colour)
    pg.wait_for_selector('#gm-dossier-map path[stroke="#D55E00"]')
    pg.screenshot(path=str(ARTIFACTS / f"site-dossier-ko-{width}.png"), full_page=True)
    assert pg.evaluate("document.documentElement.scrollWidth") <= width

    [entry] = _updates(store, key)
    assert entry["before"]["name_ko"] == old.name_ko and entry["after"]["name_ko"] == new_ko
    assert entry["before"]["perimeter"] is None
    assert entry["after"]["perimeter"]["type"] == "Polygon"
    assert entry["after"]["extent_km2"] > 0  # measured from the outline
    site = store.site_by_key(key, SYSTEM)
    assert site.perimeter.contains(site.geometry)
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()


@pytest.mark.parametrize("width, locale", [(1280, "en-GB"), (390, "en-GB"), (390, "ko-KR")])
def test_the_add_form_and_its_errors_fit_and_load_nothing_foreign(browser, site_app, width,  # noqa: F811
                                                                  locale):
    base, store = site_app
    ctx, pg = _page(browser, store, base, width, locale)
    lang = locale[:2]
    pg.goto(f"{base}/sites/new?lang={lang}")
    pg.wait_for_selector("#gm-site-map .leaflet-pm-toolbar")
    # a click on the map places the point
    pg.locator("#gm-site-map").click(position={"x": 120, "y": 120})
    assert pg.locator("input[name=lat]").input_value() != ""
    pg.locator("#gm-src-add").click()
    assert pg.locator(".gm-src-row").count() == 2
    pg.locator(".gm-src-row").nth(1).locator(".gm-src-remove").click()
    assert pg.locator(".gm-src-row").count() == 1
    # sent with a blank name (spaces pass the browser's `required`) and no type: 400, messages
    # beside the fields, nothing saved
    pg.fill("input[name=name]", "   ")
    pg.fill("input[name=name_ko]", "이름만")
    pg.select_option("select[name=precision]", "area")
    pg.locator(".gm-site-form button[type=submit]").click()
    pg.wait_for_selector("#err-name")
    assert pg.locator("#err-facility_type").count() == 1
    assert pg.locator("input[name=name_ko]").input_value() == "이름만"
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"site-new-errors-{lang}-{width}.png"), full_page=True)
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()


def test_a_hostile_site_name_is_text_in_the_map_popup(browser, site_app):  # noqa: F811
    base, store = site_app
    site = create_site(store, {"name": EVIL, "name_ko": EVIL, "note": EVIL, "facility_type": "other",
                        "precision": "locality", "tier": "internal", "lat": "41.5",
                        "lon": "129.0"}, "test")
    ctx, pg = _page(browser, store, base, 1280, "en-GB")
    pg.goto(f"{base}/?lang=en")
    pg.wait_for_function("window.geomap && geomap.siteMarkers && geomap.siteMarkers['{key}']"
                         .replace("{key}", site.key))
    pg.evaluate(f"geomap.siteMarkers['{site.key}'].fire('click')")
    sheet = pg.locator(".gm-sheet")
    sheet.wait_for()
    assert EVIL in sheet.inner_text()
    assert pg.locator("img[src='x']").count() == 0
    assert pg.evaluate("window.pwned") is None
    assert not pg.errors and not pg.foreign, (pg.errors, pg.foreign)
    ctx.close()


def test_a_stored_perimeter_can_be_removed_with_the_geoman_tool(browser, site_app):  # noqa: F811
    base, store = site_app
    square = {"type": "Polygon", "coordinates": [[[128.49, 40.49], [128.51, 40.49],
                                                  [128.51, 40.51], [128.49, 40.51],
                                                  [128.49, 40.49]]]}
    site = create_site(store, {"name": "Outline test", "facility_type": "other",
                               "precision": "vicinity", "tier": "internal", "lat": "40.5",
                               "lon": "128.5", "perimeter": json.dumps(square)}, "test")
    ctx, pg = _page(browser, store, base, 390)
    pg.goto(f"{base}/sites/{site.key}/edit?lang=ko")
    pg.wait_for_selector('#gm-site-map path[stroke="#D55E00"]')
    assert json.loads(pg.locator("input[name=perimeter]").input_value())["type"] == "Polygon"
    # the removal tool, then a click on the outline (away from the point in its middle)
    pg.locator("#gm-site-map .leaflet-pm-icon-delete").click()
    box = pg.locator('#gm-site-map path[stroke="#D55E00"]').first.bounding_box()
    pg.mouse.click(box["x"] + 6, box["y"] + box["height"] / 2)
    pg.wait_for_function("document.querySelector('input[name=perimeter]').value === ''")
    pg.locator("#gm-site-map .leaflet-pm-icon-delete").click()  # the tool off again
    pg.locator(".gm-site-form button[type=submit]").click()
    pg.wait_for_url(f"**/sites/{site.key}")
    assert store.site_by_key(site.key, SYSTEM).perimeter is None
    [entry] = _updates(store, site.key)
    assert entry["after"]["perimeter"] is None and entry["before"]["perimeter"]["type"] == "Polygon"
    assert not pg.errors and not pg.csp and not pg.foreign, (pg.errors, pg.csp, pg.foreign)
    ctx.close()
