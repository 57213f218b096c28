"""The map's filters, its state in the URL (a shared link opens the same map) and an installed
basemap package, in a real Chromium over the real app."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner

from geomap.cli import main
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_basemap_packages import make_mbtiles
from .test_browser import ARTIFACTS, browser, sign_in_ui, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
ATTRIBUTION = "© Test OSM contributors <img src=x onerror=\"window.pwned=1\">"
MAP = "window[Object.keys(window).find(k => k.startsWith('map_'))]"
ONLINE = "https://tiles.example.org/{z}/{x}/{y}.png"


def _tile(z, x, y) -> bytes:
    """A pale tile with a darker edge (so the package is visibly what is drawn)."""
    import numpy as np
    from rasterio.io import MemoryFile

    data = np.empty((3, 256, 256), dtype="uint8")
    tint = (z * 37 + x * 11 + y * 5) % 30
    for band, value in enumerate((236 - tint, 228, 205 + tint)):
        data[band] = value
    data[:, :3, :] = data[:, -3:, :] = data[:, :, :3] = data[:, :, -3:] = 150
    with MemoryFile() as mem:
        with mem.open(driver="PNG", width=256, height=256, count=3, dtype="uint8") as dst:
            dst.write(data)
        return mem.read()


def _xyz(lon, lat, z):
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


@pytest.fixture(scope="module")
def state_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    tmp = tmp_path_factory.mktemp("mapstate")
    tiles = {}
    for z in range(5, 9):
        (x0, y0), (x1, y1) = _xyz(124.0, 43.1, z), _xyz(131.0, 37.5, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                tiles[(z, x, y)] = _tile(z, x, y)
    src = make_mbtiles(tmp / "nk.mbtiles", tiles, {"minzoom": "5", "maxzoom": "8",
                                                     "bounds": "124.0,37.5,131.0,43.1",
                                                     "attribution": ATTRIBUTION})
    settings = load_settings(tmp / "instance")
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "basemap",
                                  "install", str(src), "--name", "nk-test"])
    assert r.exit_code == 0, r.output
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 300, seed=5)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, settings
    stop()
    store.close()


def _page(browser, state_app, size=(1280, 800), lang="en"):  # noqa: F811
    base, store, _ = state_app
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]},
                              locale="ko-KR" if lang == "ko" else "en-GB")
    pg = ctx.new_page()
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    if lang == "ko":
        pg.goto(base + "/?lang=ko")
    _drawn(pg)
    return ctx, pg


def _drawn(pg):
    wait_until(pg, "window.geomap && geomap.state.sites > 0 && geomap.state.boundaries > 0"
                   " && geomap.state.testimoniesMatched > 0")


def _query(pg) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query, keep_blank_values=True).items()}


def _shot(pg, name):
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / name))


def test_filters_by_facility_type_and_violation_reach_the_api_and_the_url(browser, state_app):  # noqa: F811
    ctx, pg = _page(browser, state_app)
    all_sites = pg.evaluate("geomap.state.sites")
    pg.click(".gm-filters summary")
    pg.check(".gm-filters input[name=type][value=kwalliso]")
    wait_until(pg, f"geomap.state.sites < {all_sites}")
    assert pg.evaluate("geomap.state.sites") >= 4  # the public list's political prison camps
    assert "facility_type=kwalliso" in [u for u in pg.requests if "/api/sites" in u][-1]
    matched = pg.evaluate("geomap.state.testimoniesMatched")
    pg.check(".gm-filters input[name=violation][value=torture]")
    wait_until(pg, f"geomap.state.testimoniesMatched < {matched}")
    assert "violation=torture" in [u for u in pg.requests if "/api/testimonies" in u][-1]
    wait_until(pg, "location.search.includes('violation=torture')")
    q = _query(pg)
    assert q["type"] == "kwalliso" and q["violation"] == "torture"
    assert "(2)" in pg.inner_text(".gm-filters summary")
    _shot(pg, "map-filters-en-1280.png")
    # unticking shows everything again
    pg.uncheck(".gm-filters input[name=type][value=kwalliso]")
    wait_until(pg, f"geomap.state.sites == {all_sites}")
    wait_until(pg, "!location.search.includes('type=')")
    assert pg.errors == []
    ctx.close()


def test_a_shared_map_url_opens_the_same_map(browser, state_app):  # noqa: F811
    base = state_app[0]
    ctx, pg = _page(browser, state_app)
    # someone zooms to Yodok, sets a period and filters, hides the provinces
    pg.evaluate(f"{MAP}.setView([39.71, 126.89], 9)")
    pg.fill(".gm-period input >> nth=0", "1995")
    pg.fill(".gm-period input >> nth=1", "2005")
    pg.click(".gm-period button >> nth=0")
    pg.click(".gm-filters summary")
    pg.check(".gm-filters input[name=violation][value=forced_labour]")
    pg.evaluate("""() => { for (const l of document.querySelectorAll(
        '.leaflet-control-layers-overlays label')) if (l.textContent.includes('Provinces'))
        l.querySelector('input').click(); }""")
    wait_until(pg, "location.search.includes('layers=testimonies,sites') && "
                   "location.search.includes('from=1995') && location.search.includes('z=9')")
    shared = pg.url
    ctx.close()
    # someone else opens the link
    ctx, pg = _page(browser, state_app)
    pg.requests.clear()  # those of the map the sign-in landed on
    pg.goto(shared)
    _drawn(pg)
    wait_until(pg, "location.search.includes('z=9')")
    centre = pg.evaluate(f"[{MAP}.getCenter().lat, {MAP}.getCenter().lng, {MAP}.getZoom()]")
    assert abs(centre[0] - 39.71) < 0.01 and abs(centre[1] - 126.89) < 0.01 and centre[2] == 9
    assert pg.input_value(".gm-period input >> nth=0") == "1995"
    assert pg.input_value(".gm-period input >> nth=1") == "2005"
    assert pg.is_checked(".gm-filters input[name=violation][value=forced_labour]")
    assert pg.evaluate("geomap.state.boundaries") > 0  # loaded, then hidden
    assert not pg.is_checked(".leaflet-control-layers-overlays label:has-text('Provinces') input")
    first = [u for u in pg.requests if "/api/testimonies" in u][0]
    assert "violation=forced_labour" in first and "period=1995-2005" in first
    sites = [u for u in pg.requests if "/api/sites" in u][0]
    assert "period=1995-2005" in sites
    now = _query(pg)
    assert all(now.get(k) == v[0] for k, v in parse_qs(urlparse(shared).query).items())
    _shot(pg, "map-shared-url-en-1280.png")
    assert pg.errors == []
    ctx.close()
    assert base in shared


def test_a_url_with_bad_map_state_is_ignored_not_obeyed(browser, state_app):  # noqa: F811
    base = state_app[0]
    ctx, pg = _page(browser, state_app)
    pg.goto(base + "/?lat=999&lon=127&z=40&from=abc&to=1800&type=kwalliso,%3Cscript%3E"
                   "&violation=bogus&layers=evil&base=../x&lang=en")
    _drawn(pg)
    wait_until(pg, "location.search.includes('lat=40.3000')")
    assert pg.evaluate(f"{MAP}.getZoom()") == 7
    q = _query(pg)
    assert q["type"] == "kwalliso" and "violation" not in q and "from" not in q
    assert q["lang"] == "en" and q["base"] == "pkg-nk-test"
    assert q["layers"] == "provinces,testimonies,sites"  # nothing known asked for: all stay
    assert pg.locator("script:not([src])", has_text="<script>").count() == 0
    assert pg.errors == []
    ctx.close()


def test_an_installed_basemap_package_is_the_base_layer_with_its_attribution_as_text(
        browser, state_app):  # noqa: F811
    base = state_app[0]
    ctx, pg = _page(browser, state_app)
    wait_until(pg, "document.querySelector('.leaflet-control-attribution')"
                   ".textContent.includes('Test OSM')")
    assert [u for u in pg.requests if "/tiles/basemap-pkg/nk-test/" in u]
    attribution = pg.inner_text(".leaflet-control-attribution")
    assert "© Test OSM contributors" in attribution
    assert pg.locator(".leaflet-control-attribution img").count() == 0
    assert pg.evaluate("window.pwned === undefined")
    layers = pg.inner_text(".leaflet-control-layers-base")
    assert "Offline basemap: nk-test" in layers and "Relief (offline)" in layers
    host = urlparse(base).netloc
    assert [u for u in pg.requests if urlparse(u).netloc not in (host, "")] == []
    _shot(pg, "map-package-en-1280.png")
    pg.evaluate(f"{MAP}.setView([39.71, 126.89], 8)")
    wait_until(pg, "[...document.querySelectorAll('.leaflet-tile-loaded')]"
                   ".some(t => t.src.includes('/basemap-pkg/nk-test/8/'))")
    _shot(pg, "map-package-z8-en-1280.png")
    # the dossier's map uses it too
    pg.goto(base + "/sites/kwalliso-15-yodok")
    wait_until(pg, "[...document.querySelectorAll('.leaflet-tile-loaded')]"
                   ".some(t => t.src.includes('/basemap-pkg/nk-test/'))")
    assert pg.errors == []
    ctx.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_the_filters_fit_and_are_translated_on_phones_and_desktops(browser, state_app, size,  # noqa: F811
                                                                   lang):
    ctx, pg = _page(browser, state_app, size, lang)
    box = pg.locator(".gm-filters")
    assert box.get_attribute("open") is None  # closed at first
    pg.click(".gm-filters summary")
    text = box.inner_text()
    if lang == "ko":
        assert "필터" in text and "정치범수용소" in text and "Filters" not in text
    else:
        assert "Facility type (sites)" in text and "Torture / ill-treatment" in text
    b = box.bounding_box()
    assert b["x"] >= 0 and b["x"] + b["width"] <= size[0]
    pg.check(".gm-filters input[name=type][value=kyohwaso]")
    wait_until(pg, "location.search.includes('type=kyohwaso')")
    _shot(pg, f"map-filters-{lang}-{size[0]}.png")
    assert pg.errors == []
    ctx.close()


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_an_online_basemap_an_administrator_set_is_drawn_and_warned_about(browser, state_app,  # noqa: F811
                                                                         size):
    """The tile server is simulated inside Chromium (page.route): nothing leaves the machine."""
    from dataclasses import replace

    _, store, settings = state_app
    settings = replace(settings, online_basemap_url=ONLINE,
                       online_basemap_attribution="Example tiles")
    base, stop = serve_in_thread(create_app(settings, store))
    try:
        ctx = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  locale="ko-KR")
        pg = ctx.new_page()
        csp, tiles, errors = [], [], []
        pg.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
        pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        png = _tile(0, 0, 0)

        def serve_tile(route):
            tiles.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=png)

        pg.route("https://tiles.example.org/**", serve_tile)
        user, secret, _ = make_user(store, "researcher")
        sign_in_ui(pg, base, user.username, secret, land=None)
        pg.goto(base + "/?lang=ko")
        try:
            _drawn(pg)
        except AssertionError:
            raise AssertionError(errors) from None
        wait_until(pg, "[...document.querySelectorAll('.leaflet-tile-loaded')]"
                       ".some(t => t.src.startsWith('https://tiles.example.org/'))")
        warning = pg.locator(".gm-online-warning")
        assert warning.is_visible() and "tiles.example.org" in warning.inner_text()
        assert "온라인 배경지도" in warning.inner_text()
        b = warning.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= size[0]
        assert tiles and csp == []
        _shot(pg, f"map-online-basemap-ko-{size[0]}.png")
        ctx.close()
    finally:
        stop()
