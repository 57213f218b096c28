"""Every page in Korean, crawled as an administrator in a real Chromium: no English words on
any of them except proper names and the data people entered.

The crawl starts from the map page and follows every same-origin link (the navigation, the
dossier link of a site's sheet, links between pages), so pages other engineers add are crawled
as soon as something links to them. Each page's visible text (plus its title, placeholders,
aria-labels, alt and title attributes, and the map controls' text) is checked, and a phone-size
screenshot of it is saved under test-artifacts/crawl/ to be looked at."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from urllib.parse import urlparse

import pyotp
import pytest

from geomap.demo import load_synthetic_testimonies
from geomap.web import create_app

from .conftest import PASSWORD, make_user, serve_in_thread
from .conftest import solid_geotiff as _tif
from .test_browser import ARTIFACTS, browser, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "crawl"
PHONE = (390, 844)
DESKTOP = (1280, 800)
CAMP_15 = "kwalliso-15-yodok"
MAX_PAGES = 60
SEARCHED = "요덕"  # a site name in Hangul, for the search page
VARIANTS_PER_ROUTE = 2  # /sites/a and /sites/b are one route: two of them are enough

# Words that are not English prose in any language: the product's name, proper names of data
# sources and software, acronyms, file formats and units. Nothing else is allowed: every other
# Latin-script word on a Korean page must come from the data (see _data_strings).
ALLOWED = {
    "geomap", "leaflet", "openstreetmap", "natural", "earth", "geonames", "geoboundaries",
    "english",  # the language switch offers English by its own name
    "mss", "mps", "km", "m", "px", "csv", "xlsx", "tsv", "txt", "geojson", "json", "kml", "kmz",
    "wkt", "geotiff", "tiff", "tif", "totp", "stac", "tilejson", "sha", "cog", "utm", "wgs",
    "epsg", "dms", "ddm", "mbtiles", "pmtiles", "xyz", "ogc", "api", "url", "id", "qr", "png",
    "uint", "int", "float", "mb", "gb", "kb", "ko", "en", "lat", "lon", "cc", "by", "sa", "nd",
    "odbl", "ok", "utc", "pdf", "jpeg", "webp", "deflate", "geopackage", "gpkg", "bom",
    "qgis", "gdal", "google", "basic", "bearer", "authorization",  # software; HTTP auth scheme names
    "uwazi",  # HURIDOCS' database software (the Uwazi import)
    "https",  # the protocol an embedding site's origin must use (publications)
    # romanised Korean facility terms shown beside their Korean (kwalliso = 관리소)
    "kwalliso", "kyohwaso", "jipkyulso", "rodong", "danryondae", "kuryujang",
}
# link targets that are not pages, or that end the session
SKIP = re.compile(r"(logout|sign-?out|\.csv|\.json|\.geojson|\.kml|\.gpkg|\.zip|/export|"
                  r"download|tilejson|/api/|/static/|/tiles/|/stac)", re.I)
# a Latin-script word (letters, apostrophes and inner hyphens)
WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*")

COLLECT = """() => {
  const out = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [alt], [title]')) {
    for (const a of ['placeholder', 'aria-label', 'alt', 'title']) {
      const v = el.getAttribute(a); if (v) out.push(v);
    }
  }
  // map controls and closed menus: a collapsed layer list or legend is text a person opens
  for (const root of document.querySelectorAll('.leaflet-control-container, details')) {
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walk.nextNode()) out.push(walk.currentNode.nodeValue);
  }
  // machine text is not prose: codes, keys and hashes (<code>, <kbd>, <samp>)
  const codes = [...document.querySelectorAll('code, kbd, samp')].map(el => el.textContent);
  return [out.join('\\n'), codes];
}"""


@pytest.fixture(scope="module")
def crawl_app(tmp_path_factory):
    """Reference data, synthetic testimonies (linked, some links confirmed), two scenes around
    Camp 15, an import with problem rows (quarantine, place names to review), an admin."""
    from geomap.config import load_settings
    from geomap.corroboration import run_linking
    from geomap.demo import load_reference_data
    from geomap.gazetteer import Gazetteer
    from geomap.geocode import geocode_pending
    from geomap.imagery import ingest
    from geomap.intake.run import import_testimonies
    from geomap.policy import SYSTEM
    from geomap.store import Store
    from geomap.store.links import LinkStore
    from geomap.store.scenes import SceneStore

    tmp = tmp_path_factory.mktemp("browser-crawl")
    settings = load_settings(tmp / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 200, seed=7)
    for year, band in ((2009, 0), (2014, 2)):
        scene = ingest(_tif(tmp / f"{year}.tif", (126.86, 39.69, 126.93, 39.74), band),
                       settings.instance_path / "imagery", date(year, 6, 1), actor="t",
                       sensor=f"TEST-{year}", provider="Test provider", licence="CC BY 4.0")
        SceneStore(store).add(scene, actor="t")
    bad = tmp / "interviews.csv"
    bad.write_text("\n".join(",".join(r) for r in IMPORTED) + "\n", encoding="utf-8")
    import_testimonies(store, bad, actor="t")
    gaz = Gazetteer.from_store(store, SYSTEM)
    geocode_pending(store, gaz, actor="t")
    run_linking(store, gaz)
    links = LinkStore(store)
    camp = store.site_by_key(CAMP_15, SYSTEM)
    proposed = [r for r in links.all("candidate") if r["site_id"] == camp.id][:4]
    for r in proposed:
        links.decide(r["testimony_id"], r["site_id"], "confirmed", actor="t")
    admin, secret, _ = make_user(store, "admin", username="crawl-admin")
    base, stop = serve_in_thread(create_app(settings, store))
    yield base, store, admin, secret
    stop()
    store.close()


# an import with good rows and rows with problems (their cells are data, shown as entered)
IMPORTED = [
    ["witness_code", "place", "lat", "lon", "period", "violations", "relationship",
     "interview_date"],
    ["W-1", "Yodok", "39.7", "126.9", "1995-1999", "forced labour", "saw directly", "2015-03-02"],
    ["", "Hoeryong", "42.4", "129.7", "spring 2001", "torture", "hearsay", "2016-01-01"],
    ["W-3", "", "139.0", "40.0", "1990", "beatings", "", "2016-02-30"],
    ["W-4", "Somewhere", "", "", "the nineties", "", "cousin", "2099-01-01"],
    ["W-5", "Pukchang camp", "", "", "2003", "forced labour", "saw directly", "2017-05-05"],
    ["W-6", "Onsong area", "", "", "2004", "forced labour", "hearsay", "2017-05-05"],
    ["W-7", "Xyzzy town", "", "", "2005", "torture", "hearsay", "2017-05-05"],
]


def _data_strings(store) -> list[str]:
    """Text people entered or imported, shown as it was entered: site names, aliases, notes
    and citations; province names; testimonies' place and period texts and witness codes;
    scenes' sensor, provider, licence and file name; usernames. Removed from a page's text
    before it is checked, longest first, so a UI word is never excused by appearing in data."""
    from sqlalchemy import text

    from geomap.gazetteer import parse_facility_ref
    from geomap.policy import SYSTEM
    from geomap.romanize import ascii_fold

    out = [cell for row in IMPORTED[1:] for cell in row]
    for s in store.sites(SYSTEM):
        out += [s.name, s.name_ko, s.facility_type_note, s.status_note, s.precision_note,
                s.sources, *s.aliases, s.key, s.note, s.research_note, s.years_text]
        # the spelling a name match quotes: a site name or alias (or what is left of it once
        # the facility words are taken off) folded to plain ASCII
        for x in (s.name, *s.aliases):
            ref = parse_facility_ref(x)
            out += [ascii_fold(x)] + ([ref.rest, ascii_fold(ref.rest)] if ref and ref.rest else [])
        for c in s.citations:
            out += [c.publisher, c.title, c.url, c.date, c.accessed_via, c.detail]
    for u in store.boundary_units():
        out += [u.name_en]
    with store.read() as conn:
        for sql in ("SELECT place_text, period_text, witness_ref FROM testimonies",
                    "SELECT sensor, provider, licence, original_name FROM scenes",
                    "SELECT username FROM users", "SELECT source FROM quarantine",
                    "SELECT DISTINCT actor FROM audit_log"):
            try:
                for row in conn.execute(text(sql)):
                    out += list(row)
            except Exception:  # a table another version names differently
                continue
        # the gazetteer's names offered for a place name to review
        for (cands,) in conn.execute(text("SELECT candidates FROM geocode_review")):
            out += [c.get("name") for c in json.loads(cands)] + [
                c.get("admin1") for c in json.loads(cands)]
    # the gazetteer's places a search offers (the crawl opens one search)
    from geomap.search import search

    out += [p[k] for p in search(store, SYSTEM, SEARCHED)["places"] for k in ("name", "admin1")]
    out = {" ".join(x.split()) for x in out if isinstance(x, str)}
    return sorted((x for x in out if len(x) >= 3), key=len, reverse=True)


def english_words(text: str, data: list[str], codes: list[str] = ()) -> list[str]:
    text = " ".join(text.split())
    data = data + sorted({" ".join(c.split()) for c in codes if c.strip()}, key=len, reverse=True)
    # whole words only: a place called "Camp" does not excuse the "C" of "Click"
    text = re.sub("|".join(rf"(?<![A-Za-z]){re.escape(s)}(?![A-Za-z])" for s in data), " ",
                  text)
    # identifiers with digits (witness codes SYN-W00012, scene TEST-2009) and hex digests
    text = re.sub(r"[\w-]*\d[\w-]*|\b[0-9a-f]{6,}\b", " ", text)
    words = []
    for w in WORD.findall(text):
        bare = w.strip("'’").lower()
        if len(bare) <= 1 or bare in ALLOWED:
            continue
        if all(p in ALLOWED for p in bare.split("-")):
            continue
        words.append(w)
    return sorted(set(words))


def _in_context(word: str, text: str) -> str:
    """The word with a little of the text around it, to find it on the page."""
    m = re.search(r"(?<![A-Za-z])" + re.escape(word) + r"(?![A-Za-z])", text)
    if not m:
        return word
    around = " ".join(text[max(0, m.start() - 25):m.end() + 25].split())
    return f"{word} («{around}»)"


def _route(path: str) -> str:
    """/sites/camp-15 and /sites/camp-16 are one route: a segment with a digit, or a long one
    (keys, ids), is a parameter; /admin/users and /admin/audit stay two pages."""
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join("*" if re.search(r"\d", p) or len(p) > 24 else p for p in parts)


def _links(pg, base) -> list[str]:
    host = urlparse(base).netloc
    hrefs = pg.evaluate("() => [...document.querySelectorAll('a[href]')]"
                        ".filter(a => !a.hasAttribute('download')).map(a => a.href)")
    out = []
    for h in hrefs:
        u = urlparse(h)
        if u.netloc != host or SKIP.search(u.path) or "lang=" in u.query:
            continue
        out.append(u.path + (f"?{u.query}" if u.query else ""))
    return out


def _visit(pg, base, url) -> None:
    pg.goto(base + url)
    if urlparse(url).path == "/":
        wait_until(pg, "window.geomap && geomap.state.sites > 0 && geomap.state.boundaries > 0")


def test_every_page_in_korean_shows_no_english_outside_proper_names_and_data(browser, crawl_app):  # noqa: F811, E501
    base, store, admin, secret = crawl_app
    data = _data_strings(store)
    ctx = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]},
                              locale="ko-KR", is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    found: dict[str, list[str]] = {}
    SHOTS.mkdir(parents=True, exist_ok=True)

    def check(name: str, url: str) -> None:
        # loaded at phone size (what a phone shows first), then the desktop layout's text
        slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "map"
        # text read before the stylesheets apply shows both labels of the language switch
        wait_until(pg, "document.readyState === 'complete'")
        try:
            pg.screenshot(path=str(SHOTS / f"{slug}.png"))
        except Exception:  # Chromium under load sometimes refuses one capture: once more
            pg.wait_for_timeout(300)
            pg.screenshot(path=str(SHOTS / f"{slug}.png"))
        text, codes = pg.evaluate(COLLECT)
        pg.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})
        pg.wait_for_timeout(150)  # media queries and the map's own resize handlers
        wide_text, wide_codes = pg.evaluate(COLLECT)
        text, codes = text + "\n" + wide_text, codes + wide_codes
        pg.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        if words := english_words(text, data, codes):
            found[url] = [_in_context(w, text) for w in words]

    # the sign-in pages, in Korean, before there is a session
    pg.goto(base + "/login?lang=ko")
    check("login", "/login")
    pg.fill("input[name=username]", admin.username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/login/mfa")
    check("login-mfa", "/login/mfa")
    pg.fill("input[name=code]", pyotp.TOTP(secret).now())
    pg.click("button[type=submit]")
    pg.wait_for_url(base + "/")
    # error pages no link leads to: 404s, and a 405 (a form's address opened as a page)
    queue = ["/?lang=ko", f"/sites/{CAMP_15}", "/no-such-page", "/sites/no-such-site",
             "/import/map/0123456789abcdef", "/search?q=" + SEARCHED, "/testimonies/1/edit",
             f"/sites/{CAMP_15}/edit", "/sites/new"]
    seen_paths: set[str] = set()
    per_route: dict[str, int] = defaultdict(int)
    visited = 0
    while queue and visited < MAX_PAGES:
        url = queue.pop(0)
        path = urlparse(url).path
        if path in seen_paths or per_route[_route(path)] >= VARIANTS_PER_ROUTE:
            continue
        seen_paths.add(path)
        per_route[_route(path)] += 1
        visited += 1
        _visit(pg, base, url)
        if path == "/":
            # a site's sheet: its labels, and the dossier link in it
            pg.evaluate(f"geomap.siteMarkers[{CAMP_15!r}].fire('click')")
            wait_until(pg, "document.querySelector('.gm-sheet:not([hidden]), "
                           ".leaflet-popup-content')")
        check(path, path)
        queue += [u for u in _links(pg, base) if urlparse(u).path not in seen_paths]
    # a form sent without its CSRF token: the 400 page
    _visit(pg, base, "/import/")
    # expect_navigation: waiting on the load state alone can return on the page being left,
    # or on the new one before its stylesheet applies (both of the switch's labels then read)
    with pg.expect_navigation():
        pg.evaluate("() => { const f = document.querySelector('form[enctype]');"
                    " f.querySelector('[name=csrf_token]').remove(); f.submit(); }")
    check("bad-request", "(form without its token) /import/")
    # signing out: the signed-out page
    _visit(pg, base, "/")
    with pg.expect_navigation():
        pg.evaluate("document.querySelector('form[action$=\"/logout\"]').submit()")
    check("signed-out", "(signed out) " + urlparse(pg.url).path)
    ctx.close()
    print(f"crawled {visited} pages: {sorted(seen_paths)}")
    assert visited >= 8, sorted(seen_paths)  # the map, dossier, import, review, imagery...
    assert found == {}, "English on Korean pages:\n" + "\n".join(
        f"  {url}:\n    " + "\n    ".join(words) for url, words in found.items())
    assert errors == []


def test_the_english_check_finds_interface_words_and_excuses_only_data_and_proper_names():
    data = ["Kwan-li-so No. 15 (Yodok)", "crawl-admin"]
    text = ("지도 Filter · Kwan-li-so No. 15 (Yodok) · crawl-admin 관리자 · 2 km · GeoJSON · "
            "SYN-W00012 · Camp 25 · sha 3d2763d0a1")
    assert english_words(text, data, codes=["lat"]) == ["Camp", "Filter"]
    # a code is removed as a whole word only: "lat" does not hide "violations"
    assert english_words("violations", [], codes=["lat"]) == ["violations"]
