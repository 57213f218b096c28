"""Story maps in Chromium: a published story on /p/<slug> and in the static export (served by
`python -m http.server`): next/previous and the arrow keys move the map to the step's view and
change the panel; #step-N opens a step; the Korean page has Korean controls; 390 px has no
horizontal scroll; no request leaves our origin. Screenshots in test-artifacts/."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from geomap import embeds
from geomap import publications as pubs
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 - the fixture
from .test_publications import FULL, RESEARCHER, plant

pytestmark = pytest.mark.browser

CLOSE = {"center": [40.02, 127.03], "zoom": 13}  # not the page's first view (zoom 8 to 11)


def _story(world, lang: str) -> dict:
    ko = lang == "ko"
    return {**FULL, "lang": lang, "scene_ids": world["scene"], "site_precision": "grid",
            "min_count": "2", "steps": [
                {"title": "전체 지역" if ko else "The whole area",
                 "text": "합성 설명 첫 단계." if ko else "Synthetic first step.",
                 "layers": ["sites", "cells"]},
                {"title": "가까이 보기" if ko else "A closer look",
                 "text": "합성 설명 둘째 단계.\n둘째 줄." if ko else "Synthetic second step.\nLine two.",
                 "center": CLOSE["center"], "zoom": CLOSE["zoom"], "layers": ["sites"]},
                {"title": "영상" if ko else "The imagery",
                 "text": "합성 그림." if ko else "A synthetic figure.", "fit": "syn-alpha",
                 "layers": ["sites", "annotations"], "scene": world["scene"],
                 "figure": {"scene": world["scene"], "bbox": [127.01, 40.0, 127.05, 40.02]}},
            ]}


@pytest.fixture
def live(store, settings, tmp_path):
    world = plant(store, settings, tmp_path)
    for lang in ("en", "ko"):
        rec = pubs.create(store, RESEARCHER, f"story-{lang}", _story(world, lang))
        pubs.publish(store, RESEARCHER, rec.id, imagery_dir=settings.instance_path / "imagery")
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, settings
    stop()


@pytest.mark.parametrize("width, lang", [(390, "ko"), (1280, "en"), (390, "en"), (1280, "ko")])
def test_steps_editor(browser, live, width, lang):  # noqa: F811
    """Add a step, fill its view from the preview map, move it up, save: the draft's steps are
    in the order shown and the new one has the preview's view."""
    base, store, _ = live
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    rec = next(r for r in pubs.all_publications(store, RESEARCHER) if r.slug == f"story-{lang}")
    pg.goto(f"{base}/publications/{rec.id}?lang={lang}")
    pg.wait_for_selector(".gm-pub-preview[data-ready='1']")
    assert ("이야기 단계" if lang == "ko" else "Story steps") in pg.inner_text("main")
    assert pg.locator(".gm-step").count() == 4  # three steps and the empty new one
    new = pg.locator(".gm-step").nth(3)
    new.locator("input[name$='-title']").fill("Added")
    new.locator("[data-step-action='use-view']").click()
    assert new.locator("input[name$='-zoom']").input_value() != ""
    new.locator("[data-step-action='up']").click()
    assert pg.locator(".gm-step").nth(2).locator("input[name='step-2-title']").input_value() \
        == "Added"
    pg.click(".gm-step-add")
    assert pg.locator(".gm-step").count() == 5
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.locator(".gm-step").nth(2).scroll_into_view_if_needed()
    pg.screenshot(path=str(ARTIFACTS / f"story-editor-{width}-{lang}.png"), full_page=True)
    with pg.expect_navigation():  # the load state alone can be the editor's, before the POST
        pg.click(".gm-pub-form button[type=submit]")
    steps = pubs.get(store, RESEARCHER, rec.id).settings["steps"]
    assert [s["title"] for s in steps][2] == "Added" and len(steps) == 4
    assert steps[2]["view"]["zoom"] >= 0 and "center" in steps[2]["view"]
    assert errors == []
    ctx.close()


def _watch(pg, base: str) -> dict:
    seen: dict = {"foreign": [], "errors": []}
    pg.on("request", lambda r: seen["foreign"].append(r.url)
          if not (r.url.startswith(base) or r.url.startswith("data:")) else None)
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    return seen


def _until(pg, expression: str, timeout: float = 10.0) -> None:
    """Poll from outside: the page's policy forbids the eval wait_for_function needs."""
    end = time.monotonic() + timeout
    while not pg.evaluate(expression):
        assert time.monotonic() < end, f"timed out waiting for {expression}"
        pg.wait_for_timeout(100)


def _view(pg) -> tuple[float, float, int]:
    lat, lon, z = pg.evaluate("document.body.dataset.view").split(",")
    return float(lat), float(lon), int(z)


def _walk_the_story(pg, lang: str, width: int, name: str) -> None:
    pg.wait_for_selector("body[data-ready='1'].gm-story-ready")
    panel = pg.locator(".gm-story")
    ko = lang == "ko"
    assert pg.locator(".gm-story-step:visible").count() == 1
    assert ("전체 지역" if ko else "The whole area") in panel.inner_text()
    assert ("다음" if ko else "Next") in pg.inner_text(".gm-story-next")
    assert ("이전" if ko else "Previous") in pg.inner_text(".gm-story-prev")
    assert pg.inner_text(".gm-story-pos") == "1 / 3"
    assert pg.locator(".gm-story-prev").is_disabled()
    before = _view(pg)
    pg.click(".gm-story-next")
    _until(pg, "document.body.dataset.step === '2'")
    _until(pg, f"(document.body.dataset.view || '') === "
            f"'{CLOSE['center'][0]:.3f},{CLOSE['center'][1]:.3f},{CLOSE['zoom']}'")
    lat, lon, z = _view(pg)
    assert (lat, lon, z) != before
    assert abs(lat - CLOSE["center"][0]) < 0.01 and abs(lon - CLOSE["center"][1]) < 0.01
    text = panel.inner_text()
    assert ("가까이 보기" if ko else "A closer look") in text
    assert ("전체 지역" if ko else "The whole area") not in text
    assert pg.inner_text(".gm-story-pos") == "2 / 3"
    assert pg.evaluate("location.hash") == "#step-2"
    assert pg.locator(".gm-embed-cell").count() == 0  # the step's layers: sites only
    pg.keyboard.press("ArrowRight")
    _until(pg, "document.body.dataset.step === '3'")
    pg.wait_for_selector(".gm-story-step:visible img.gm-story-figure")
    _until(pg, "document.querySelector('.gm-story-step:not([hidden]) img')"
           ".naturalWidth > 0")
    pg.wait_for_timeout(1500)  # the flight
    assert pg.locator(".gm-story-next").is_disabled()
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"story-{name}-{width}-{lang}.png"), full_page=True)
    pg.keyboard.press("ArrowLeft")
    _until(pg, "document.body.dataset.step === '2'")


@pytest.mark.parametrize("width, lang", [(1280, "en"), (390, "ko"), (390, "en"), (1280, "ko")])
def test_public_story_moves_the_map_step_by_step(browser, live, width, lang):  # noqa: F811
    base, _, _ = live
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    seen = _watch(pg, base)
    pg.goto(f"{base}/p/story-{lang}")
    _walk_the_story(pg, lang, width, "public")
    assert pg.locator("html").get_attribute("lang") == lang
    # #step-N opens that step
    pg.goto(f"{base}/p/story-{lang}#step-3")
    pg.reload()
    pg.wait_for_selector("body.gm-story-ready")
    assert pg.inner_text(".gm-story-pos") == "3 / 3"
    assert seen["foreign"] == [] and seen["errors"] == []
    assert ctx.cookies() == []
    ctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_static_export_story(browser, live, tmp_path):  # noqa: F811
    _, store, settings = live
    out = tmp_path / "site"
    embeds.export_static(store, settings, pubs.get_published(store, "story-ko"), out,
                         max_zoom=14)
    assert (out / "figures" / "step-3.png").is_file()
    port = _free_port()
    srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1", "--directory", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for width in (1280, 390):
            ctx = browser.new_context(viewport={"width": width, "height": 900})
            pg = ctx.new_page()
            seen = _watch(pg, base)
            pg.goto(base + "/")
            _walk_the_story(pg, "ko", width, "static")
            assert seen["foreign"] == [] and seen["errors"] == []
            ctx.close()
    finally:
        srv.terminate()
        srv.wait(10)
