"""Every page on a phone (390x844) and a tablet (768x1024), in English and Korean, in a real
headless Chromium (issue 10, items 2 and 3): nothing wider than the screen, the map usable
with its controls collapsed, a site shown in a short sheet that leaves the map (and the lines
to its testimonies) visible. Screenshots go to test-artifacts/phone/ to be looked at."""

from __future__ import annotations

import csv
import re
from datetime import date
from urllib.parse import urljoin, urlparse

import pyotp
import pytest

from geomap.demo import load_synthetic_testimonies
from geomap.policy import SYSTEM
from geomap.web import create_app

from .conftest import PASSWORD, make_user, serve_in_thread
from .conftest import solid_geotiff as _tif
from .test_browser import ARTIFACTS, browser, sign_in_ui, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "phone"
PHONE, TABLET = (390, 844), (768, 1024)
CAMP_15 = "kwalliso-15-yodok"

# Visible elements whose box reaches past the viewport's right (or left) edge. Contents of a
# map pane (tiles are drawn past the edge and clipped by the map), of a table's own scroll
# wrapper and the column names of a table shown as cards (there for screen readers) are
# clipped by their container, which is itself checked.
WIDER_THAN_VIEWPORT = """() => {
  const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll("body *")) {
    if (e.closest(".leaflet-map-pane, .gm-scroll > *, .gm-visually-hidden, .gm-cards thead")) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility === "hidden" || cs.display === "none") continue;
    if (r.right > W + 1 || r.left < -1) {
      out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
               (e.className && e.className.baseVal === undefined ? "." + String(e.className).trim().split(/\\s+/).join(".") : "") +
               " " + Math.round(r.left) + ".." + Math.round(r.right));
    }
  }
  return out.slice(0, 8);
}"""

# Share of the map's area under its visible controls (a sum: controls should not overlap).
CONTROLS_COVER = """() => {
  const map = document.querySelector(".gm-map-main .leaflet-container").getBoundingClientRect();
  let covered = 0;
  for (const c of document.querySelectorAll(".gm-map-main .leaflet-control")) {
    const r = c.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(c).display === "none") continue;
    const w = Math.max(0, Math.min(r.right, map.right) - Math.max(r.left, map.left));
    const h = Math.max(0, Math.min(r.bottom, map.bottom) - Math.max(r.top, map.top));
    covered += w * h;
  }
  return covered / (map.width * map.height);
}"""

# Pairs of visible map controls whose boxes overlap.
CONTROLS_OVERLAP = """() => {
  const cs = [...document.querySelectorAll(".gm-map-main .leaflet-control")].filter(
    (c) => c.getBoundingClientRect().width > 0 && getComputedStyle(c).display !== "none");
  const out = [];
  for (let i = 0; i < cs.length; i++) for (let j = i + 1; j < cs.length; j++) {
    const a = cs[i].getBoundingClientRect(), b = cs[j].getBoundingClientRect();
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      out.push(cs[i].className + " / " + cs[j].className);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def phone_app(tmp_path_factory):
    """Reference data, synthetic testimonies, two scenes around Camp 15 and a hostile site."""
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.imagery import ingest
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    tmp = tmp_path_factory.mktemp("browser-phone")
    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 300, seed=5)
    for year, band in ((2009, 0), (2014, 2)):
        scene = ingest(_tif(tmp / f"{year}.tif", (126.86, 39.69, 126.93, 39.74), band),
                       settings.instance_path / "imagery", date(year, 6, 1), actor="t",
                       sensor=f"TEST-{year}", licence="CC BY 4.0 " + "x" * 60)
        SceneStore(store).add(scene, actor="t")
    # proposed links for the review queue; three confirmed for one site (lines on the map)
    from collections import Counter

    from geomap import corroboration as corr
    from geomap.gazetteer import Gazetteer
    from geomap.store.links import LinkStore

    corr.run_linking(store, Gazetteer.from_store(store, SYSTEM))
    candidates = LinkStore(store).all("candidate")
    linked = Counter(c["site_key"] for c in candidates).most_common(1)[0][0]
    for c in [c for c in candidates if c["site_key"] == linked][:3]:
        LinkStore(store).decide(c["testimony_id"], c["site_id"], "confirmed", "t")
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, tmp, linked
    stop()
    store.close()


def _context(browser, size, lang):  # noqa: F811
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]},
                              locale="ko-KR" if lang == "ko" else "en-GB",
                              is_mobile=size == PHONE, has_touch=size == PHONE)
    pg = ctx.new_page()
    pg.errors, pg.csp, pg.foreign = [], [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.csp.append(m.text))
    return ctx, pg


def _shot(pg, name, size, lang, full=True):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}-{size[0]}-{lang}.png"), full_page=full)


def _fits(pg, what, size):
    wide = pg.evaluate(WIDER_THAN_VIEWPORT)
    assert not wide, (what, wide)
    assert pg.evaluate("document.documentElement.scrollWidth") <= size[0], what


def _import_a_file(pg, base, tmp):
    """Upload a small file with a good row, a bad row and an unknown place: the mapping step,
    then the report (which fills the quarantine and the place-name review)."""
    f = tmp / "phone-import.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["witness_code", "place", "lat", "lon", "period", "notes"])
        w.writerow(["PH-1", "Yodok", "39.713", "126.895", "2003", "long text " * 20])
        w.writerow(["PH-2", "nowhere", "95", "500", "2003", ""])
        w.writerow(["PH-3", "Kaechon-ish-unknown-place-name-that-goes-on", "", "", "2005", ""])
    pg.goto(base + "/import/")
    pg.set_input_files("input[type=file]", str(f))
    pg.click("form.gm-upload button[type=submit]")
    pg.wait_for_selector(".gm-mapping")


# the pages reached by URL besides those linked from the navigation
EXTRA_PAGES = ["/sites/" + CAMP_15, "/review", "/import/quarantine", "/import/review",
               "/import/uwazi/", "/publications",
               "/imagery/?site=" + CAMP_15, "/no-such-page", "/search?q=Yodok",
               "/search?q=SYN-W", "/sites/" + CAMP_15 + "/edit"]


def _nav_links(pg, base):
    hrefs = pg.evaluate("""() => [...document.querySelectorAll(
        "header a[href], nav a[href], .gm-admin-tabs a[href]")]
        .map((a) => a.href)""")
    host = urlparse(base).netloc
    out = []
    for h in hrefs:
        u = urlparse(h)
        if u.netloc != host or "lang=" in (u.query or "") or u.path in ("/logout",):
            continue
        path = u.path + ("?" + u.query if u.query else "")
        if path not in out:
            out.append(path)
    return out


@pytest.mark.parametrize("size", [PHONE, TABLET], ids=["phone", "tablet"])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_page_fits_the_screen_of_a_phone_and_a_tablet(browser, phone_app, size, lang):  # noqa: F811
    base, store, tmp, linked = phone_app
    ctx, pg = _context(browser, size, lang)
    user, secret, _ = make_user(store, "admin")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(base + f"/?lang={lang}")
    wait_until(pg, "window.geomap && geomap.state.sites > 0")
    # one line of header; the navigation opens from the menu button, with no script
    assert pg.locator("header.gm-bar").bounding_box()["height"] <= 48
    assert not pg.locator(".gm-menu .gm-nav a").first.is_visible()
    pg.click(".gm-menu summary")
    assert pg.locator(".gm-menu .gm-nav a").first.is_visible()
    _fits(pg, "open menu", size)
    _shot(pg, "menu-open", size, lang, full=False)
    pg.click(".gm-menu summary")
    pages = _nav_links(pg, base)
    # an import first (its mapping step and report), so the quarantine and the place-name
    # review have rows to show
    _import_a_file(pg, base, tmp)
    _fits(pg, "import mapping", size)
    _shot(pg, "import-mapping", size, lang)
    pg.click(".gm-map-form button[type=submit]")
    pg.wait_for_selector(".gm-report")
    _fits(pg, "import report", size)
    _shot(pg, "import-report", size, lang)
    assert "/" in pages and len(pages) >= 4, pages
    from geomap.store.links import LinkStore

    tid = LinkStore(store).all("confirmed")[0]["testimony_id"]  # a testimony page, its form
    pages += [p for p in EXTRA_PAGES + ["/sites/" + linked, f"/testimonies/{tid}",
                                        f"/testimonies/{tid}?narrative=1",
                                        f"/testimonies/{tid}/edit"] if p not in pages]
    # the compare page: linked from the imagery catalogue filtered to the site
    pg.goto(base + "/imagery/?site=" + CAMP_15)
    compare = pg.get_attribute("a[href*='/imagery/compare']", "href")
    pages.append(urlparse(urljoin(base, compare)).path + "?" + urlparse(urljoin(base, compare)).query)
    # the annotation page of a scene: linked from the site's dossier
    pg.goto(base + "/sites/" + CAMP_15)
    pages.append(urlparse(urljoin(base, pg.get_attribute("a.gm-annotate-link", "href"))).path)
    for path in pages:  # grows with the navigation each page offers (admin tabs, ...)
        if path == "/":
            continue
        resp = pg.goto(base + path)
        pages += [p for p in _nav_links(pg, base) if p not in pages][:40 - len(pages)]
        assert resp.status in (200, 404), (path, resp.status)
        if pg.locator(".leaflet-container").count():
            wait_until(pg, "document.querySelector('.leaflet-container img.leaflet-tile-loaded, "
                           ".leaflet-container .leaflet-interactive')")
            # a scale bar on every map
            assert pg.locator(".leaflet-control-scale").count() == pg.locator(".leaflet-container").count()
        _fits(pg, path, size)
        name = re.sub(r"[^a-z0-9]+", "-", urlparse(path).path.lower()).strip("-") or "map"
        _shot(pg, name, size, lang)
    # the map last: its controls and how much of it they cover
    pg.goto(base + "/")
    wait_until(pg, "window.geomap && geomap.state.sites > 0 && geomap.state.testimonies > 0")
    _fits(pg, "map", size)
    box = pg.locator(".gm-map-main .leaflet-container").bounding_box()
    assert box["height"] >= size[1] * 0.75, box  # the header is compact
    assert pg.locator(".gm-map-main .leaflet-control-scale").count() == 1
    assert pg.evaluate(CONTROLS_COVER) <= 0.35
    assert pg.evaluate(CONTROLS_OVERLAP) == []
    # the layer list and the legend start closed; the period filter is there to use
    assert pg.locator(".leaflet-control-layers-expanded").count() == 0
    assert pg.evaluate("document.querySelector('details.gm-legend').open") is False
    period = pg.locator(".gm-period")
    assert period.is_visible() and period.bounding_box()["x"] + period.bounding_box()["width"] <= size[0]
    pg.fill(".gm-period input >> nth=0", "2000")
    pg.click(".gm-period button >> nth=0")
    wait_until(pg, "geomap.filters && geomap.filters.period === 'after 1999'")
    _shot(pg, "map", size, lang, full=False)
    # the user menu: who is signed in, and signing out
    pg.click(".gm-usermenu summary")
    assert pg.locator(".gm-usermenu button[type=submit]").is_visible()
    _fits(pg, "user menu", size)
    _shot(pg, "user-menu", size, lang, full=False)
    pg.click(".gm-usermenu button[type=submit]")
    pg.wait_for_url("**/login**")
    assert pg.errors == [] and pg.csp == []
    ctx.close()


@pytest.mark.parametrize("size", [PHONE, (1280, 800)], ids=["phone", "desktop"])  # a tablet: as desktop
def test_a_site_opens_a_short_sheet_beside_or_below_the_map_not_over_it(browser, phone_app, size):  # noqa: F811
    """Clicking a site shows its names, type, grade, note and the dossier link in a sheet the
    map makes room for: the site and the lines to its testimonies stay in view. Escape closes
    it and the map takes its whole space back."""
    base, store, _, linked = phone_app
    ctx, pg = _context(browser, size, "en")
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    wait_until(pg, "window.geomap && geomap.state.sites > 0")
    map_box = pg.locator(".gm-map-main .leaflet-container").bounding_box()
    # a real click on the site's marker
    pg.evaluate(f"geomap.siteMarkers[{linked!r}]._map.setView(geomap.siteMarkers[{linked!r}].getLatLng(), 9)")
    pg.wait_for_timeout(400)  # the zoom animation (no assertion on time)
    r = pg.evaluate(f"(() => {{ const b = geomap.siteMarkers[{linked!r}]._path.getBoundingClientRect();"
                    " return [b.x + b.width / 2, b.y + b.height / 2]; })()")
    pg.mouse.click(*r)
    sheet = pg.locator(".gm-sheet")
    sheet.wait_for(state="visible")
    text = sheet.inner_text()
    site = store.site_by_key(linked, SYSTEM)
    assert site.name in text and (site.name_ko or "") in text
    assert "Type" in text and "Corroboration" in text and "Open the site dossier" in text
    # short: no aliases, sources or precision notes (those are on the dossier)
    assert "Also known as" not in text and "Sources" not in text
    assert pg.locator(".leaflet-popup").count() == 0
    # the map shrank for the sheet: they do not overlap, and the site is still in view
    wait_until(pg, "geomap.state.links >= 3")  # drawn on the map's canvas
    m = pg.locator(".gm-map-main .leaflet-container").bounding_box()
    b = sheet.bounding_box()
    assert b["y"] >= m["y"] + m["height"] - 1 or b["x"] >= m["x"] + m["width"] - 1, (m, b)
    assert m["width"] * m["height"] >= 0.5 * map_box["width"] * map_box["height"]
    x, y = pg.evaluate(f"(() => {{ const b = geomap.siteMarkers[{linked!r}]._path.getBoundingClientRect();"
                       " return [b.x + b.width / 2, b.y + b.height / 2]; })()")
    assert m["x"] <= x <= m["x"] + m["width"] and m["y"] <= y <= m["y"] + m["height"]
    assert pg.evaluate("document.activeElement.classList.contains('gm-sheet-title')")
    _shot(pg, "map-site-sheet", size, "en", full=False)
    # the dossier link goes to the dossier
    assert sheet.locator("a.gm-dossier-link").get_attribute("href") == f"/sites/{linked}"
    pg.keyboard.press("Escape")
    sheet.wait_for(state="hidden")
    assert pg.evaluate("geomap.state.links") == 0  # the lines went with it
    m2 = pg.locator(".gm-map-main .leaflet-container").bounding_box()
    assert m2 == map_box
    # from the keyboard: focus the site, Enter opens the sheet, the close button closes it
    pg.evaluate(f"geomap.siteMarkers[{linked!r}]._path.focus()")
    pg.keyboard.press("Enter")
    sheet.wait_for(state="visible")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.classList.contains('gm-sheet-close')")
    pg.keyboard.press("Enter")
    sheet.wait_for(state="hidden")
    # a testimony opens in the same sheet (no popup over the map)
    map_js = "window[Object.keys(window).find((k) => k.startsWith('map_'))]"
    pg.evaluate(f"{map_js}.setView([39.71, 126.89], 12, {{animate: false}})")
    wait_until(pg, "geomap.state.aggregated === false && geomap.state.testimonies > 0")
    pg.evaluate(f"""(() => {{ let done = false; {map_js}.eachLayer((l) => {{
        if (!done && l instanceof L.CircleMarker && l.options.fillColor === '#ffd400'
            && l.options.radius === 4) {{ l.fire('click'); done = true; }} }}); }})()""")
    sheet.wait_for(state="visible")
    assert "Testimony" in pg.inner_text(".gm-sheet-title")
    assert "SYNTHETIC" in sheet.inner_text() and "Reported place" in sheet.inner_text()
    assert pg.locator(".leaflet-popup").count() == 0
    _shot(pg, "map-testimony-sheet", size, "en", full=False)
    assert pg.errors == [] and pg.csp == []
    ctx.close()


@pytest.mark.parametrize("size", [PHONE, TABLET], ids=["phone", "tablet"])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_sign_in_pages_fit_a_phone_and_a_tablet(browser, phone_app, size, lang):  # noqa: F811
    """Sign-in, the second step, enrolment and the recovery codes, signed out."""
    base, store, _, _ = phone_app
    ctx, pg = _context(browser, size, lang)
    pg.goto(base + f"/login?lang={lang}")
    _fits(pg, "login", size)
    _shot(pg, "login", size, lang)
    user, secret, _ = make_user(store, "researcher")
    pg.fill("input[name=username]", user.username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/login/mfa")
    _fits(pg, "mfa", size)
    _shot(pg, "mfa", size, lang)
    pg.fill("input[name=code]", "000000")
    pg.click("button[type=submit]")
    pg.locator(".gm-error").wait_for()
    _fits(pg, "mfa error", size)
    _shot(pg, "mfa-error", size, lang)
    # a new account: enrolment, then its recovery codes
    pg.context.clear_cookies()
    fresh, _, _ = make_user(store, "researcher", enrol=False)
    pg.goto(base + "/login")
    pg.fill("input[name=username]", fresh.username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/login/enrol")
    _fits(pg, "enrol", size)
    _shot(pg, "enrol", size, lang)
    key = pg.inner_text(".gm-secret code").strip()
    pg.fill("input[name=code]", pyotp.TOTP(key).now())
    pg.click("button[type=submit]")
    pg.locator(".gm-codes").wait_for()
    _fits(pg, "recovery codes", size)
    _shot(pg, "recovery-codes", size, lang)
    assert pg.errors == [] and pg.csp == []
    ctx.close()


def test_the_relief_is_not_stretched_into_a_blur_past_its_native_zoom(browser, phone_app):  # noqa: F811
    """The shipped relief (native zoom 5) is drawn up to zoom 8; further in, no stretched
    tiles: the map shows a plain land tone (and the province lines) instead."""
    base, store, _, _ = phone_app
    ctx, pg = _context(browser, PHONE, "en")
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    wait_until(pg, "window.geomap && geomap.state.sites > 0")
    map_js = "window[Object.keys(window).find((k) => k.startsWith('map_'))]"
    assert pg.locator(".gm-basemap img.leaflet-tile-loaded").count() > 0
    assert not pg.evaluate(f"{map_js}.getContainer().classList.contains('gm-past-basemap')")
    pg.evaluate(f"{map_js}.setView([39.71, 126.89], 12, {{animate: false}})")
    wait_until(pg, f"{map_js}.getContainer().classList.contains('gm-past-basemap')")
    wait_until(pg, "document.querySelectorAll('.gm-basemap img').length === 0")
    _shot(pg, "map-zoomed-in", PHONE, "en", full=False)
    assert pg.errors == [] and pg.csp == []
    ctx.close()
