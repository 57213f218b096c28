"""The place-names review page in a real headless Chromium (issue 11, item 3): a researcher
picks a candidate, the entry leaves the list and the testimony is located."""

from __future__ import annotations

import pytest

from geomap.gazetteer import Gazetteer
from geomap.geocode import geocode_pending, review_items
from geomap.model import Testimony
from geomap.policy import SYSTEM
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def geo_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-geocode") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    store.add_testimonies([Testimony(witness_code=f"SYN-B{n}", place_text="Songwon",
                                     geometry=None, radius_m=None, precision=None, period=None,
                                     synthetic=True) for n in (1, 2)])
    geocode_pending(store, Gazetteer.from_store(store, SYSTEM), actor="test")
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()
    store.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_resolve_a_place_name_from_the_review_page(browser, geo_app, width):  # noqa: F811
    base, store = geo_app
    # one entry per screen width (the other width's may be decided already)
    item = [i for i in review_items(store) if i["place_text"] == "Songwon"][0]
    tid = item["testimony_id"]
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="ko-KR")
    pg = ctx.new_page()
    errors, csp, foreign = [], [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
    pg.on("request", lambda r: r.url.startswith(base) or foreign.append(r.url))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    pg.goto(base + "/import/review?lang=ko")
    section = pg.locator(f"#gm-geo-{tid}")
    assert section.locator(".gm-geo-cand").count() >= 2
    # the map opens with the candidates and a scale bar; a click fills the point's fields
    section.locator("summary").click()
    pg.wait_for_selector(f"#gm-geo-{tid} .leaflet-control-scale")
    section.locator(".gm-geo-map").click(position={"x": 100, "y": 100})
    assert section.locator("input[name=lat]").input_value() != ""
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    assert "Use this" not in pg.inner_text("main")
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"geocode-review-{width}.png"), full_page=True)
    chosen = item["candidates"][0]
    section.locator(".gm-use-candidate").first.click()
    pg.wait_for_selector(".gm-status-line")
    assert pg.locator(f"#gm-geo-{tid}").count() == 0
    t = store.testimony(tid, SYSTEM)
    assert (t["lon"], t["lat"]) == (chosen["lon"], chosen["lat"])
    assert not errors and not csp and not foreign, (errors, csp, foreign)
    ctx.close()
