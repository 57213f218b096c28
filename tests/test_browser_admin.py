"""The administration pages and error pages in a real headless Chromium against the app served
by waitress (issue 10, items 4 and 5): a disabled user's open session ends at once, a reset
link sets a password and works once, and every page fits a phone in English and Korean.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import pyotp
import pytest

from geomap.web import create_app

from .conftest import PASSWORD, make_user, serve_in_thread
from .test_browser import ARTIFACTS, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a fresh passphrase for geomap"


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("browser-admin") / "instance")
    store = Store.for_instance(settings)
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store
    stop()
    store.close()


def _context(browser, width=1280, height=860, lang="en"):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              locale="ko-KR" if lang == "ko" else "en-GB")
    pg = ctx.new_page()
    pg.problems = []
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.on("console", lambda m: "Content Security Policy" in m.text and pg.problems.append(m.text))
    pg.on("dialog", lambda d: (pg.problems.append(d.message), d.dismiss()))
    return ctx, pg


def _sign_in(pg, base, username, secret, password=PASSWORD, lang="en"):
    pg.goto(base + f"/login?lang={lang}")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password)
    pg.click("main button[type=submit]")
    pg.wait_for_url("**/login/mfa")
    pg.fill("input[name=code]", pyotp.TOTP(secret).now())
    pg.click("main button[type=submit]")
    pg.wait_for_url(base + "/")


def _row(pg, username):
    return pg.locator(f"tr[data-user='{username}']")


def test_disabling_a_user_signs_their_open_session_out_at_once(browser, admin_app):  # noqa: F811
    base, store = admin_app
    boss, boss_secret, _ = make_user(store, "admin")
    user, secret, _ = make_user(store, "researcher")
    user_ctx, user_pg = _context(browser)
    _sign_in(user_pg, base, user.username, secret)
    assert user_pg.locator(".gm-user").count() >= 1  # signed in, on the map

    admin_ctx, pg = _context(browser)
    _sign_in(pg, base, boss.username, boss_secret)
    pg.goto(base + "/admin/users")
    row = _row(pg, user.username)
    assert "1 open session" in row.inner_text()
    row.locator("details.gm-confirm summary", has_text="Disable").click()
    row.locator("button", has_text="Yes, disable").click()
    pg.wait_for_selector(".gm-ok")
    assert f"{user.username} is disabled" in pg.inner_text(".gm-ok")
    assert "Disabled" in _row(pg, user.username).inner_text()

    user_pg.goto(base + "/review")  # their very next request
    assert "/login" in user_pg.url
    assert user_pg.locator("input[name=password]").count() == 1
    assert "Your session has ended" in user_pg.inner_text(".gm-ok")
    assert pg.problems == [] and user_pg.problems == []
    user_ctx.close()
    admin_ctx.close()


def test_a_reset_link_sets_a_new_password_and_works_once(browser, admin_app):  # noqa: F811
    base, store = admin_app
    boss, boss_secret, _ = make_user(store, "admin")
    user, secret, _ = make_user(store, "viewer")
    admin_ctx, pg = _context(browser)
    _sign_in(pg, base, boss.username, boss_secret)
    pg.goto(base + "/admin/users")
    row = _row(pg, user.username)
    row.locator("details.gm-confirm summary", has_text="Reset password").click()
    row.locator("button", has_text="Yes, make a reset link").click()
    link = pg.inner_text("#gm-reset-link").strip()
    assert link.startswith(base + "/reset/")
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "admin-link-1280-en.png"), full_page=True)

    user_ctx, upg = _context(browser, 390, 844)
    upg.goto(link)
    upg.fill("input[name=password]", NEW_PASSWORD)
    upg.fill("input[name=confirm]", NEW_PASSWORD)
    upg.screenshot(path=str(ARTIFACTS / "reset-password-390-en.png"), full_page=True)
    upg.click("main button[type=submit]")
    upg.wait_for_selector(".gm-ok")
    assert "Your password is set" in upg.inner_text(".gm-ok")
    _sign_in(upg, base, user.username, secret, NEW_PASSWORD)
    upg.goto(link)  # a second use
    assert "This link does not work" in upg.inner_text("main")
    assert upg.locator("input[name=password]").count() == 0
    assert pg.problems == [] and upg.problems == []
    user_ctx.close()
    admin_ctx.close()


ENGLISH = ("Users", "Audit log", "Active sessions", "Add a user", "Disable", "Reset password",
           "Verify the chain", "Export as CSV", "Last sign-in", "Second factor", "Signed in",
           "Page not found", "Back to the map", "Administration", "No active sessions")


@pytest.mark.parametrize("width, lang", [(390, "en"), (390, "ko"), (1280, "en"), (1280, "ko")])
def test_admin_and_error_pages_fit_the_screen_in_both_languages(
        browser, admin_app, width, lang):  # noqa: F811
    base, store = admin_app
    boss, boss_secret, _ = make_user(store, "admin")
    make_user(store, "analyst", enrol=False, username=f"a-very-long-user-name-{width}-{lang}@ngo")
    ctx, pg = _context(browser, width, 844, lang)
    _sign_in(pg, base, boss.username, boss_secret, lang=lang)
    for name, path in [("users", "/admin/users"), ("audit", "/admin/audit"),
                       ("sessions", "/admin/sessions"), ("404", "/no/such/page")]:
        pg.goto(base + path + f"?lang={lang}")
        if name == "users":  # a confirmation open, as a person would see it
            pg.locator("details.gm-confirm summary").first.click()
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        pg.screenshot(path=str(ARTIFACTS / f"admin-{name}-{width}-{lang}.png"), full_page=True)
        text = pg.inner_text("main")
        if lang == "ko":
            for english in ENGLISH:
                assert english not in text, (name, english)
    if lang == "ko":
        assert "페이지를 찾을 수 없습니다" in pg.inner_text("main")
    # the one-time link page: a long link wraps inside the screen
    pg.goto(base + f"/admin/users?lang={lang}")
    row = _row(pg, f"a-very-long-user-name-{width}-{lang}@ngo")
    row.locator("details.gm-confirm summary").nth(1).click()
    row.locator("button.gm-danger").nth(1).click()
    pg.wait_for_selector("#gm-reset-link")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    pg.screenshot(path=str(ARTIFACTS / f"admin-link-{width}-{lang}.png"), full_page=True)
    if lang == "ko":
        for english in ("Give this link", "Back to users", "is added", "New password link"):
            assert english not in pg.inner_text("main"), english
    assert pg.problems == []
    ctx.close()


@pytest.mark.parametrize("lang, message", [("en", "You have been signed out."),
                                           ("ko", "로그아웃되었습니다.")])
def test_signing_out_shows_a_signed_out_message(browser, admin_app, lang, message):  # noqa: F811
    base, store = admin_app
    user, secret, _ = make_user(store, "viewer")
    ctx, pg = _context(browser, 1280, 800, lang)
    _sign_in(pg, base, user.username, secret, lang=lang)
    if pg.locator("details.gm-usermenu summary").count():  # the header's user menu
        pg.click("details.gm-usermenu summary")
    pg.locator("form.gm-user button[type=submit]").first.click()
    pg.wait_for_selector(".gm-ok")
    assert pg.inner_text(".gm-ok") == message
    assert pg.locator("input[name=password]").count() == 1
    pg.screenshot(path=str(ARTIFACTS / f"signed-out-1280-{lang}.png"), full_page=True)
    # a spent or unknown link, signed out: a translated page with a minimal header
    pg.set_viewport_size({"width": 390, "height": 844})
    pg.goto(base + f"/reset/no-such-token?lang={lang}")
    assert pg.locator(".gm-nav a").count() == 0
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    if lang == "ko":
        assert "이 링크는 쓸 수 없습니다" in pg.inner_text("main")
    pg.screenshot(path=str(ARTIFACTS / f"reset-invalid-390-{lang}.png"), full_page=True)
    assert pg.problems == []
    ctx.close()
