"""The account page's Export section in a real browser (chromium): at phone and desktop
widths, in Korean and English, its form downloads the chosen file."""

from __future__ import annotations

import pytest

from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data, load_synthetic_testimonies
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-exports") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 10, seed=2)
    app = create_app(settings, store)
    base, stop = serve_in_thread(app)
    yield base, store
    stop()
    store.close()


@pytest.mark.parametrize(("width", "lang"), [(390, "ko"), (1280, "ko"), (390, "en"),
                                             (1280, "en")])
def test_export_form_downloads_the_file(browser, served, width, lang):  # noqa: F811
    base, store = served
    ctx = browser.new_context(viewport={"width": width, "height": 900},
                              locale="ko-KR" if lang == "ko" else "en-GB",
                              accept_downloads=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret, land=None)
    pg.goto(f"{base}/account/tokens?lang={lang}")
    section = pg.locator("section.gm-exports")
    assert section.locator("h2").inner_text() == ("내보내기" if lang == "ko" else "Export")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    section.scroll_into_view_if_needed()
    pg.screenshot(path=str(ARTIFACTS / f"exports-{lang}-{width}.png"), full_page=True)
    section.locator("select[name=dataset]").select_option("testimonies")
    section.locator("input[name=bom]").check()
    with pg.expect_download() as info:
        section.locator("button[type=submit]").click()
    dl = info.value
    assert dl.suggested_filename == "geomap-testimonies.csv"
    data = open(dl.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf") and b"witness_code" in data
    assert not errors
    ctx.close()
