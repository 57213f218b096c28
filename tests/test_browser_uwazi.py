"""The Uwazi import page in Chromium: upload, the per-row report, no sideways scroll at
390 px, in English and Korean; screenshots in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
DATA = Path(__file__).parent / "data" / "uwazi"


@pytest.fixture
def live(store, settings):
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()


@pytest.mark.parametrize("width, lang", [(390, "ko"), (1280, "en"), (390, "en"), (1280, "ko")])
def test_uwazi_upload_report_fits_and_speaks_both_languages(browser, live, width, lang):  # noqa: F811
    base, store = live
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    pg.goto(f"{base}/import/uwazi/?lang={lang}")
    pg.set_input_files("input[name=file]", str(DATA / "export_mixed.csv"))
    pg.check("input[name=dry_run]")
    pg.click("form.gm-uwazi-form button[type=submit]")
    pg.wait_for_selector(".gm-uwazi-rows")
    text = pg.inner_text(".gm-report")
    assert ("관계 필드는 지원하지 않습니다" if lang == "ko" else
            "relationship fields are not supported") in text
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"uwazi-import-{width}-{lang}.png"), full_page=True)
    assert errors == []
    ctx.close()
