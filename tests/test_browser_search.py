"""Search and the testimony page in a real headless Chromium (issue 11, item 5): in Korean, on
a phone and a desktop, the nav search box finds a site by its Hangul name and by an MR
spelling without breves, the dossier opens, and a linked testimony's page opens from it with
its map, and the narrative on request; no page errors, CSP violations or foreign requests."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from geomap.model import Precision, Relationship, Testimony, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.store.links import LinkStore
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
YODOK = "kwalliso-15-yodok"
NARRATIVE = "SYNTHETIC test narrative <b>not bold</b>, not a real account"


@pytest.fixture(scope="module")
def search_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-search") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    t = Testimony(witness_code="BRW-0001", place_text="<i>Yodok</i> camp, east gate",
                  geometry=Point(126.91, 39.72), radius_m=2500, precision=Precision.AREA,
                  period=parse_period("1995-1998"), violations=[Violation.FORCED_LABOUR],
                  relationship=Relationship.DETAINED, narrative=NARRATIVE, synthetic=True)
    store.add_testimonies([t])
    site = store.site_by_key(YODOK, SYSTEM)
    LinkStore(store).decide(t.id, site.id, "confirmed", "test")
    # 60 proposed links: the review queue has two pages
    more = [Testimony(witness_code=f"BRW-Q{i:03d}", place_text="Yodok", radius_m=1000,
                      geometry=Point(126.9 + i * 1e-3, 39.7), precision=Precision.LOCALITY,
                      period=None, synthetic=True) for i in range(60)]
    store.add_testimonies(more)
    ev = {"distance_m": 900, "testimony_radius_m": 1000, "site_radius_m": 10000,
          "name_match": None, "name_score": 0}
    LinkStore(store).replace_candidates(
        [{"testimony_id": x.id, "site_id": site.id, "score": 0.6, "evidence": ev}
         for x in more], engine="test")
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, t.id
    stop()
    store.close()


def _watch(pg, base):
    errors, csp, foreign = [], [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
    pg.on("request", lambda r: r.url.startswith((base, "data:")) or foreign.append(r.url))
    return errors, csp, foreign


def _search(pg, width, text):
    """Type into the navigation's search box (inside the menu on a phone) and submit."""
    if width < 900:
        pg.click("details.gm-menu > summary")
        box = pg.locator("details.gm-menu .gm-nav-search input")
    else:
        box = pg.locator("nav.gm-wide-only .gm-nav-search input")
    box.fill(text)
    box.press("Enter")
    pg.wait_for_selector(".gm-search-results")


@pytest.mark.parametrize("width", [390, 1280])
def test_search_to_dossier_to_testimony_in_korean(browser, search_app, width):  # noqa: F811
    base, store, tid = search_app
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="ko-KR")
    pg = ctx.new_page()
    errors, csp, foreign = _watch(pg, base)
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(base + "/?lang=ko")
    ARTIFACTS.mkdir(exist_ok=True)
    for i, text in enumerate(("요덕", "Yodok")):
        if i:
            pg.goto(base + "/review")
        _search(pg, width, text)
        link = pg.locator(f".gm-result-sites a[href='/sites/{YODOK}']")
        assert link.count() == 1, text
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        pg.screenshot(path=str(ARTIFACTS / f"search-{i}-ko-{width}.png"), full_page=True)
    link.click()
    pg.wait_for_url(f"**/sites/{YODOK}")
    pg.click(f"a.gm-testimony-link[href='/testimonies/{tid}']")
    pg.wait_for_url(f"**/testimonies/{tid}")
    pg.wait_for_selector("#gm-testimony-map .leaflet-control-scale")
    assert pg.locator("#gm-testimony-map path.leaflet-interactive").count() >= 1  # the circle
    main = pg.inner_text("main")
    assert "BRW-0001" in main and "<i>Yodok</i> camp" in main and "강제노동" in main
    assert NARRATIVE not in main
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"testimony-ko-{width}.png"), full_page=True)
    pg.click("button.gm-show-narrative")
    pg.wait_for_selector(".gm-narrative")
    assert pg.inner_text(".gm-narrative") == NARRATIVE  # text, not markup
    # the edit form: a click on the map fills the coordinates
    pg.goto(base + f"/testimonies/{tid}/edit")
    pg.wait_for_selector("#gm-testimony-map .leaflet-control-scale")
    pg.locator("#gm-testimony-map").click(position={"x": 60, "y": 60})
    assert pg.input_value("input[name=lat]") not in ("", "39.720000")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"testimony-edit-ko-{width}.png"), full_page=True)
    assert not errors and not csp and not foreign, (errors, csp, foreign)
    ctx.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_pages_in_english(browser, search_app, width):  # noqa: F811
    base, store, tid = search_app
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
    pg = ctx.new_page()
    errors, csp, foreign = _watch(pg, base)
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    for name, path in (("search", "/search?q=Hoeryong&lang=en"), ("testimony", f"/testimonies/{tid}"),
                       ("testimony-edit", f"/testimonies/{tid}/edit"), ("review", "/review")):
        pg.goto(base + path)
        pg.wait_for_load_state("networkidle")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, path
        pg.screenshot(path=str(ARTIFACTS / f"{name}-en-{width}.png"), full_page=True)
    assert "1–50 of 60" in pg.inner_text("main")
    pg.click("#gm-r-open")
    pg.wait_for_url("**/testimonies/*")
    assert "BRW-Q" in pg.inner_text("h1")
    assert not errors and not csp and not foreign, (errors, csp, foreign)
    ctx.close()
