"""Imagery viewing aids (issue 13, item 5) in a real headless Chromium: per-scene opacity,
brightness and contrast; swipe or two synchronised maps side by side; a scale bar and a north
arrow on every imagery map; a phone's width in English and Korean. Screenshots go to
test-artifacts/imagery-aids/ to be looked at."""

from __future__ import annotations

from datetime import date

import pytest

from geomap.web import create_app

from .conftest import make_user, serve_in_thread, solid_geotiff
from .test_browser import ARTIFACTS, _png_pixels, browser, sign_in_ui, wait_until  # noqa: F401

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "imagery-aids"
BOUNDS = (126.86, 39.69, 126.93, 39.74)


@pytest.fixture(scope="module")
def aids_app(tmp_path_factory):
    """Two real GeoTIFF scenes of one area, ingested as an upload would be: red 2009, blue 2014."""
    from geomap.config import load_settings
    from geomap.imagery import ingest
    from geomap.store import Store
    from geomap.store.scenes import SceneStore

    tmp = tmp_path_factory.mktemp("imagery-aids")
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


def _open(browser, aids_app, width, lang="en", mode="swipe"):  # noqa: F811
    base, store, (a, b) = aids_app
    ctx = browser.new_context(viewport={"width": width, "height": 844 if width < 700 else 900},
                              locale="ko-KR" if lang == "ko" else "en-GB",
                              is_mobile=width < 700, has_touch=width < 700)
    pg = ctx.new_page()
    pg.errors, pg.csp = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.csp.append(m.text))
    user, secret, _ = make_user(store, "analyst")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(f"{base}/imagery/compare?a={a}&b={b}&mode={mode}&lang={lang}")
    wait_until(pg, "window.geomapCompare && document.querySelectorAll("
                   "'#gm-compare-map img.leaflet-tile-loaded').length >= 1")
    return ctx, pg


def _centre(pg, which):
    return pg.evaluate(f"(() => {{ const m = geomapCompare.{which}; const c = m.getCenter();"
                       " return [c.lat, c.lng, m.getZoom()]; })()")


def _aids_on_every_map(pg):
    """Each visible Leaflet map has one metric scale bar and one north arrow with its title."""
    n = pg.evaluate("[...document.querySelectorAll('.leaflet-container')]"
                    ".filter((e) => e.getBoundingClientRect().width > 0).length")
    assert n >= 1
    for sel in (".leaflet-control-scale", ".gm-north"):
        assert pg.evaluate(f"[...document.querySelectorAll('.leaflet-container')]"
                           f".filter((e) => e.getBoundingClientRect().width > 0)"
                           f".every((e) => e.querySelectorAll('{sel}').length === 1)"), sel
    assert pg.locator(".leaflet-control-scale-line").first.inner_text().strip().endswith(("m", "km"))
    assert pg.locator(".leaflet-control-scale-imperial").count() == 0


def test_sliders_change_each_scenes_opacity_and_filter(browser, aids_app):  # noqa: F811
    ctx, pg = _open(browser, aids_app, 1280)
    assert pg.locator(".gm-aids").count() == 2  # one set per scene
    left = pg.locator(".gm-aids").nth(0)
    assert "2009-06-01" in left.locator("legend").inner_text()
    # labelled controls: each slider is named by its label
    opacity = left.get_by_label("Opacity")
    brightness = left.get_by_label("Brightness")
    contrast = left.get_by_label("Contrast")
    # keyboard: focus and arrow keys move a slider by its step
    opacity.focus()
    for _ in range(4):
        pg.keyboard.press("ArrowLeft")
    assert pg.evaluate("geomapCompare.left.options.opacity") == pytest.approx(0.8)
    assert pg.evaluate("geomapCompare.left.getContainer().style.opacity") == "0.8"
    assert left.locator("output").first.inner_text() == "80%"
    for el, value in ((brightness, "150"), (contrast, "60")):
        el.fill(value)
    flt = pg.evaluate("geomapCompare.left.getContainer().style.filter")
    assert flt == "brightness(150%) contrast(60%)", flt
    # the other scene is untouched
    assert pg.evaluate("geomapCompare.right.getContainer().style.filter") == ""
    assert pg.evaluate("geomapCompare.right.options.opacity") == 1
    # the filter reaches the pixels: the red scene is darker at 20% brightness
    pg.evaluate("geomapCompare.map.setZoom(geomapCompare.map.getZoom(), {animate: false})")
    pg.wait_for_timeout(300)
    shot = _png_pixels(pg.locator("#gm-compare-map").screenshot())
    h, w = shot.shape[:2]
    red_before = int(shot[h // 2, int(w * 0.3)][0])
    contrast.fill("100")
    brightness.fill("20")
    pg.wait_for_timeout(200)
    shot = _png_pixels(pg.locator("#gm-compare-map").screenshot())
    red_after = int(shot[h // 2, int(w * 0.3)][0])
    assert red_after < red_before * 0.5, (red_before, red_after)
    # reset: all three back, and the filter gone
    left.get_by_role("button", name="Reset").click()
    assert pg.evaluate("geomapCompare.left.getContainer().style.filter") == ""
    assert pg.evaluate("geomapCompare.left.options.opacity") == 1
    assert pg.errors == [] and pg.csp == []
    ctx.close()


def test_side_by_side_maps_follow_each_other(browser, aids_app):  # noqa: F811
    ctx, pg = _open(browser, aids_app, 1280)
    _aids_on_every_map(pg)
    pg.get_by_role("radio", name="Side by side").check()
    wait_until(pg, "geomapCompare.mapB && document.querySelectorAll("
                   "'#gm-compare-map-b img.leaflet-tile-loaded').length >= 1")
    assert "mode=side" in pg.url
    assert pg.locator("#gm-swipe").is_hidden() and pg.locator("#gm-divider").is_hidden()
    boxes = [pg.locator(s).bounding_box() for s in ("#gm-compare-map", "#gm-compare-map-b")]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]  # beside each other
    _aids_on_every_map(pg)
    # each map shows its own scene whole (no swipe clip): red left, blue right
    pg.wait_for_timeout(300)
    a = _png_pixels(pg.locator("#gm-compare-map").screenshot())
    b = _png_pixels(pg.locator("#gm-compare-map-b").screenshot())
    for shot, lit in ((a, 0), (b, 2)):
        h, w = shot.shape[:2]
        for x in (0.4, 0.6):
            px = shot[h // 2, int(w * x)]
            assert px[lit] > 150 and px[2 - lit] < 80, (lit, px)
    # drag the left map with the mouse: the right one moves with it
    before = _centre(pg, "mapB")
    box = boxes[0]
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    pg.mouse.move(cx, cy)
    pg.mouse.down()
    pg.mouse.move(cx - 120, cy + 60, steps=8)
    pg.mouse.up()
    pg.wait_for_timeout(400)
    after_a, after_b = _centre(pg, "map"), _centre(pg, "mapB")
    assert after_b != before
    assert after_b == pytest.approx(after_a, abs=1e-9)
    # and the other way: zoom the right map in, the left one follows
    pg.evaluate("geomapCompare.mapB.setZoom(geomapCompare.mapB.getZoom() + 1, {animate: false})")
    pg.wait_for_timeout(200)
    assert _centre(pg, "map") == pytest.approx(_centre(pg, "mapB"), abs=1e-9)
    assert _centre(pg, "map")[2] == after_a[2] + 1
    # the sliders still act on the right scene, now on its own map
    pg.locator(".gm-aids").nth(1).get_by_label("Brightness").fill("130")
    assert pg.evaluate("geomapCompare.right.getContainer().style.filter") == \
        "brightness(130%) contrast(100%)"
    pg.locator("#gm-compare-wrap").screenshot(path=str(_shot_path("side", 1280, "en")))
    # back to the swipe: one map, both scenes, the filter kept
    pg.get_by_role("radio", name="Swipe").check()
    assert pg.locator("#gm-compare-map-b").is_hidden() and pg.locator("#gm-swipe").is_visible()
    assert pg.evaluate("geomapCompare.map.hasLayer(geomapCompare.right)")
    assert pg.evaluate("geomapCompare.right.getContainer().style.filter") == \
        "brightness(130%) contrast(100%)"
    assert pg.errors == [] and pg.csp == []
    ctx.close()


def _shot_path(name, width, lang):
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}-{width}-{lang}.png"


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("mode", ["swipe", "side"])
def test_aids_fit_a_phone_and_speak_the_pages_language(browser, aids_app, width, lang, mode):  # noqa: F811
    ctx, pg = _open(browser, aids_app, width, lang, mode)
    if mode == "side":
        wait_until(pg, "geomapCompare.mapB && document.querySelectorAll("
                       "'#gm-compare-map-b img.leaflet-tile-loaded').length >= 1")
        a, b = (pg.locator(s).bounding_box() for s in ("#gm-compare-map", "#gm-compare-map-b"))
        if width < 700:  # stacked on a phone, both still there to see
            assert b["y"] >= a["y"] + a["height"] and b["height"] >= 200
        else:
            assert b["x"] >= a["x"] + a["width"]
    _aids_on_every_map(pg)
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    north = pg.locator(".gm-north").first
    title = north.get_attribute("title")
    if lang == "ko":
        assert pg.locator(".gm-aids").first.get_by_label("불투명도").count() == 1
        assert pg.locator(".gm-aids").first.get_by_label("밝기").count() == 1
        assert pg.locator(".gm-aids").first.get_by_label("대비").count() == 1
        assert pg.get_by_role("button", name="초기화").count() == 2
        assert pg.get_by_label("나란히 보기").count() == 1
        assert "왼쪽" in pg.locator(".gm-aids legend").first.inner_text()
        assert "북쪽" in title and "메르카토르" in title
        assert north.inner_text().strip() == "북"
    else:
        assert pg.get_by_label("Side by side").count() == 1
        assert "North is up" in title and "Web Mercator" in title
    assert north.get_attribute("role") == "img" and north.get_attribute("aria-label") == title
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(_shot_path(f"compare-{mode}", width, lang)), full_page=True)
    assert pg.errors == [] and pg.csp == []
    ctx.close()


def test_compare_shows_each_scenes_annotations_with_its_scene(browser, aids_app):  # noqa: F811
    """Issue 13 item 2: both sets of annotations on the comparison, each clipped with its own
    scene in swipe mode, on the second map side by side, and switchable off."""
    from geomap import annotations as ann
    from geomap.policy import Principal, Role

    base, store, (a, b) = aids_app
    analyst = Principal(None, "ana", Role.ANALYST)
    box = [[126.89, 39.71], [126.9, 39.71], [126.9, 39.72], [126.89, 39.72], [126.89, 39.71]]
    ann.create(store, analyst, {"scene_id": a, "label": "housing_barracks",
                                "geometry": {"type": "Polygon", "coordinates": [box]}})
    ann.create(store, analyst, {"scene_id": b, "label": "demolition", "change": "gone",
                                "change_scene_id": a,
                                "geometry": {"type": "Point", "coordinates": [126.895, 39.715]}})
    ctx, pg = _open(browser, aids_app, 1280, lang="ko")
    counts = ("(() => { const x = geomapCompare.annotations();"
              " return [x.left.getLayers().length, x.right.getLayers().length,"
              " geomapCompare.map.hasLayer(x.left), (x.right._map === geomapCompare.map)]; })()")
    assert pg.evaluate(counts) == [1, 1, True, True]
    # swipe: each scene's annotations are clipped with it
    clips = pg.evaluate("['gm-ann-left', 'gm-ann-right'].map((n) =>"
                        " geomapCompare.map.getPane(n).style.clip)")
    assert all(c.startswith("rect(") for c in clips) and clips[0] != clips[1]
    # tooltips are the translated vocabulary, as text
    tips = pg.evaluate("(() => { const x = geomapCompare.annotations(); return"
                       " [x.left.getLayers()[0].getTooltip().getContent(),"
                       "  x.right.getLayers()[0].getTooltip().getContent()]; })()")
    assert "주거" in tips[0] or "막사" in tips[0], tips
    assert "·" in tips[1] and not any("<" in t for t in tips)
    pg.uncheck("#gm-show-annotations")
    assert pg.evaluate("(() => { const x = geomapCompare.annotations();"
                       " return geomapCompare.map.hasLayer(x.left) || !!x.right._map; })()") is False
    pg.check("#gm-show-annotations")
    pg.locator(".gm-compare-mode input[value=side]").check()
    wait_until(pg, "geomapCompare.mapB && geomapCompare.annotations().right._map === geomapCompare.mapB")
    assert pg.evaluate("geomapCompare.map.hasLayer(geomapCompare.annotations().left)")
    assert pg.errors == [] and pg.csp == []
    pg.screenshot(path=str(_shot_path("compare-annotations-side", 1280, "ko")), full_page=True)
    ctx.close()
