"""Publications in Chromium: the staff page with its preview map and the public page
(/p/<slug>) at 390 and 1280 px in English and Korean; the public page is drawn from the
snapshot with no request to another host, no request to an internal API and no cookie.
Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

from geomap import publications as pubs
from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 - the fixture
from .test_publications import FULL, RESEARCHER, plant

pytestmark = pytest.mark.browser


@pytest.fixture
def live(store, settings, tmp_path):
    world = plant(store, settings, tmp_path)
    rec = pubs.create(store, RESEARCHER, "browser-map",
                      {**FULL, "scene_ids": world["scene"], "site_precision": "grid",
                       "min_count": "2", "text": "Synthetic text.\n\n합성 본문."})
    pubs.publish(store, RESEARCHER, rec.id)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, rec.id
    stop()


@pytest.mark.parametrize("width, lang", [(390, "ko"), (1280, "en"), (390, "en"), (1280, "ko")])
def test_staff_and_public_pages_fit_and_stay_on_our_origin(browser, live, width, lang):  # noqa: F811
    base, store, pub_id = live
    ARTIFACTS.mkdir(exist_ok=True)
    # the public page first, in a context that never signed in
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    errors, urls = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: urls.append(r.url))
    set_cookie = []
    pg.on("response", lambda r: set_cookie.append(r.url) if r.header_value("set-cookie") else None)
    pg.goto(f"{base}/p/browser-map")
    pg.wait_for_selector("body[data-ready='1']")
    assert pg.locator(".gm-embed-site").count() == 2 and pg.locator(".gm-embed-cell").count() >= 1
    assert all(u.startswith(base) for u in urls), [u for u in urls if not u.startswith(base)]
    assert not [u for u in urls if "/api/" in u or "/ogcapi" in u or "/tiles/" in u
                and "/embed/browser-map/tiles/" not in u]
    assert set_cookie == [], (set_cookie, urls)
    assert ctx.cookies() == []
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"publication-public-{width}-{lang}.png"), full_page=True)
    ctx.close()
    # the staff page
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    pg.on("pageerror", lambda e: errors.append(str(e)))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(f"{base}/publications/{pub_id}?lang={lang}")
    pg.wait_for_selector(".gm-pub-preview[data-ready='1']")
    assert ("초안 게시" if lang == "ko" else "Publish the draft") in pg.inner_text("main")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"publication-edit-{width}-{lang}.png"), full_page=True)
    pg.goto(f"{base}/publications?lang={lang}")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"publications-{width}-{lang}.png"), full_page=True)
    assert errors == []
    ctx.close()
