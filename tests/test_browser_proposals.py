"""The proposed-sites page in a real headless Chromium (issue 11, item 4): a researcher sees a
proposal on its map in Korean, on a phone and a desktop, and promotes it with a Hangul name."""

from __future__ import annotations

import pytest
from pyproj import Geod
from shapely.geometry import Point

from geomap.model import Testimony
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.proposals import proposals_for
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
GEOD = Geod(ellps="WGS84")
# open fields 38+ km from every listed facility; one cluster per screen width
FIELDS = {390: (126.5, 38.8), 1280: (127.3, 38.9)}


@pytest.fixture(scope="module")
def prop_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-proposals") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    ts = []
    for width, (lon, lat) in FIELDS.items():
        for i, code in enumerate(["A", "A", "B", "C"]):
            x, y, _ = GEOD.fwd(lon, lat, 90 * i, 150)
            ts.append(Testimony(witness_code=f"SYN-{width}-{code}", place_text="산골짜기 작업장",
                                geometry=Point(x, y), radius_m=250.0, precision=None,
                                period=parse_period("2003"), synthetic=True))
    store.add_testimonies(ts)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()
    store.close()


def test_the_proposals_page_in_english_at_both_widths_before_any_promotion(browser, prop_app):  # noqa: F811
    base, store = prop_app
    errors: list[str] = []
    for width in (390, 1280):
        user, secret, _ = make_user(store, "researcher")
        ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
        pg = ctx.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        sign_in_ui(pg, base, user.username, secret, land=None)
        pg.goto(base + "/proposals?lang=en")
        assert pg.locator("h1").inner_text().startswith("Proposed sites")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        assert pg.locator(".gm-table-wrap").first.evaluate("e => e.scrollWidth <= e.clientWidth")
        pg.screenshot(path=str(ARTIFACTS / f"proposals-en-{width}.png"), full_page=True)
        assert not errors, errors
        ctx.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_a_researcher_promotes_a_proposal_in_korean(browser, prop_app, width):  # noqa: F811
    base, store = prop_app
    lon, lat = FIELDS[width]
    p = next(x for x in proposals_for(store, SYSTEM)
             if GEOD.inv(lon, lat, x.lon, x.lat)[2] < 100)
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="ko-KR")
    pg = ctx.new_page()
    errors, csp, foreign = [], [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
    pg.on("request", lambda r: r.url.startswith(base) or foreign.append(r.url))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(base + "/proposals?lang=ko")
    assert pg.locator("h1").inner_text().startswith("제안된 시설")
    section = pg.locator(f"#gm-prop-{p.id}")
    section.scroll_into_view_if_needed()
    # the map shows the proposal's circle and its four testimonies, with a scale bar
    pg.wait_for_selector(f"#gm-prop-{p.id} .leaflet-control-scale")
    pg.wait_for_selector(f"#gm-prop-{p.id} path.gm-prop-circle")
    assert section.locator(".leaflet-interactive").count() >= 1 + 2 * 4
    assert section.locator("tbody tr").count() == 4
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    table = section.locator(".gm-table-wrap")  # the table fits too, without its own scroll
    assert table.evaluate("e => e.scrollWidth <= e.clientWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"proposals-ko-{width}.png"), full_page=True)
    # an empty name comes back with the field named, nothing created
    section.locator("summary").click()
    section.locator("select[name=facility_type]").select_option("jipkyulso")
    section.locator("input[name=name]").evaluate("e => e.removeAttribute('required')")
    section.locator("button[type=submit]").click()
    pg.wait_for_selector(f"#err-{p.id}")
    assert "영문 이름" in pg.locator(f"#err-{p.id}").inner_text() or \
        "English name" in pg.locator(f"#err-{p.id}").inner_text()
    section = pg.locator(f"#gm-prop-{p.id}")
    text = pg.inner_text("main")  # the page, the open form and its error: all in Korean
    for english in ("Proposal", "Promote", "testimonies", "witnesses", "Witness code",
                    "Reported place", "English name", "Type", "Visible to", "Not promoted",
                    "Choose", "Internal", "Period", "Radius"):
        assert english not in text, english
    section.screenshot(path=str(ARTIFACTS / f"proposals-ko-error-{width}.png"))
    section.locator("input[name=name]").fill(f"Valley work site {width}")
    section.locator("input[name=name_ko]").fill(f"골짜기 작업장 {width}")
    section.locator("select[name=facility_type]").select_option("rodong_danryondae")
    section.locator("button[type=submit]").click()
    pg.wait_for_url(f"**/sites/proposed-{p.id[:10]}*")
    assert f"골짜기 작업장 {width}" in pg.inner_text("main")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"proposals-dossier-ko-{width}.png"), full_page=True)
    # the new candidate links show in the review queue like any other
    pg.goto(base + "/review?lang=ko")
    pg.wait_for_selector("#gm-review-map .leaflet-interactive")
    assert "Valley work site" in pg.inner_text("main")  # the first promoted site's links
    assert not errors and not csp and not foreign, (errors, csp, foreign)
    ctx.close()
