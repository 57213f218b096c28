"""The upload page's mapping step in a real headless Chromium, on a phone and a desktop, in
English and Korean (issue 9, item 3). Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv

import pytest

from geomap.web import create_app

from .conftest import make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser, sign_in_ui  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def import_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-import") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()
    store.close()


def _file(tmp_path):
    f = tmp_path / "unrecognised.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Wtness ref", "Lattitude", "Longitud", "Wann", "A very long column of notes"])
        w.writerow(["W-1", "39.713", "126.895", "October 2003 to June 2004",
                    HOSTILE + " " + "long text " * 30])
        w.writerow(["W-2", "39.72", "126.9", "고난의 행군", "강제노동"])
    return f


@pytest.mark.parametrize("width, lang", [(390, "en"), (390, "ko"), (1280, "en"), (1280, "ko")])
def test_mapping_step_previews_the_file_and_imports_on_a_phone_and_desktop(
        browser, import_app, tmp_path, width, lang):  # noqa: F811
    base, store = import_app
    ctx = browser.new_context(viewport={"width": width, "height": 900},
                              locale="ko-KR" if lang == "ko" else "en-GB")
    pg = ctx.new_page()
    errors, csp, dialogs, foreign = [], [], [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.on("request", lambda r: r.url.startswith(base) or foreign.append(r.url))
    user, secret, _ = make_user(store, "researcher")
    sign_in_ui(pg, base, user.username, secret)
    before = store.count_testimonies()
    pg.goto(base + f"/import/?lang={lang}")
    pg.set_input_files("input[type=file]", str(_file(tmp_path)))
    pg.click("form.gm-upload button[type=submit]")
    pg.wait_for_selector(".gm-mapping")
    # the preview is text, the suggested columns are chosen, the missing field is named
    assert pg.locator(".gm-preview td", has_text="<img src=x").count() == 1
    assert pg.locator(".gm-preview img").count() == 0
    assert pg.input_value("select[name=col-witness_code]") == "Wtness ref"
    assert pg.input_value("select[name=col-lat]") == "Lattitude"
    assert pg.locator(".gm-error").count() == 1
    # nothing wider than the screen: the table scrolls inside its own wrapper
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    body = pg.inner_text("main")
    if lang == "ko":
        for english in ("Columns of", "Import", "not in this file", "Latitude", "Save this",
                        "No column was recognised", "Choose another file"):
            assert english not in body, english
        assert "열을 알아보지 못했습니다" in body
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"import-mapping-{width}-{lang}.png"), full_page=True)
    pg.select_option("select[name=col-period]", "Wann")
    pg.click(".gm-map-form button[type=submit]")
    pg.wait_for_selector(".gm-report")
    assert store.count_testimonies() - before in (0, 2)  # the same rows land once per instance
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"import-report-{width}-{lang}.png"), full_page=True)
    assert errors == [] and csp == [] and dialogs == [] and foreign == []
    ctx.close()
