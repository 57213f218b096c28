"""Search (issue 11, item 5): sites by any spelling, gazetteer places, and witness codes only
for roles that may read them; results respect the viewer's tiers; bad queries are answered
with a message, never a 500."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from geomap.model import FacilityType, Precision, Site, Testimony, Tier
from geomap.policy import SYSTEM, Principal, Role
from geomap.search import search

from .conftest import https_client, make_user, sign_in

YODOK = "kwalliso-15-yodok"
VIEWER = Principal(None, "a-viewer", Role.VIEWER)
RESEARCHER = Principal(None, "a-researcher", Role.RESEARCHER)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store
    from geomap.web import create_app

    settings = load_settings(tmp_path_factory.mktemp("search") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    # an internal site a partner reader must not find
    store.upsert_sites([Site(key="test-internal-qzx", name="Qazvinu Holding Centre",
                             facility_type=FacilityType.JIPKYULSO, geometry=Point(127.5, 40.1),
                             precision=Precision.AREA, name_ko="콰즈비누 집결소",
                             tier=Tier.INTERNAL)])
    store.add_testimonies([
        Testimony(witness_code=code, place_text="Yodok", geometry=Point(126.9, 39.7),
                  radius_m=2000, precision=Precision.AREA, period=None, tier=tier,
                  synthetic=True)
        for code, tier in (("SRCH-A001", Tier.INTERNAL), ("SRCH-A002", Tier.PARTNER),
                           ("SRCH-B100", Tier.INTERNAL))])
    app = create_app(settings, store)
    app.config["TESTING"] = True
    yield store, app
    store.close()


@pytest.mark.parametrize("q", ["요덕", "Yodok", "Yodŏk", "yodeok", "Yoduk", "Camp 15",
                               "요덕 정치범수용소", "Kwan-li-so No. 15 Yodok"])
def test_a_site_is_found_by_any_spelling(searched, q):
    store, _ = searched
    r = search(store, VIEWER, q)
    assert r["problem"] is None
    assert YODOK in [s["key"] for s in r["sites"]], r["sites"]
    assert r["sites"][0]["key"] == YODOK


def test_a_town_name_finds_its_camps_too(searched):
    store, _ = searched
    keys = [s["key"] for s in search(store, VIEWER, "Kaechon")["sites"]]
    assert keys and all("kaechon" in k for k in keys), keys


def test_places_come_with_a_position_for_the_map(searched):
    store, _ = searched
    for q in ("Hoeryong", "회령"):
        places = search(store, VIEWER, q)["places"]
        assert places and places[0]["name"] == "Hoeryŏng", places
        assert 129 < places[0]["lon"] < 130 and 42 < places[0]["lat"] < 43


def test_results_respect_tiers(searched):
    store, _ = searched
    assert [s["key"] for s in search(store, SYSTEM, "Qazvinu")["sites"]] == ["test-internal-qzx"]
    assert [s["key"] for s in search(store, RESEARCHER, "콰즈비누")["sites"]] == [
        "test-internal-qzx"]
    assert search(store, VIEWER, "Qazvinu")["sites"] == []
    assert search(store, VIEWER, "콰즈비누")["sites"] == []


def test_witness_codes_exact_or_prefix_only_for_roles_that_read_them(searched):
    store, _ = searched
    exact = search(store, RESEARCHER, "srch-a001")["testimonies"]
    assert [t["witness_code"] for t in exact] == ["SRCH-A001"]
    prefix = search(store, RESEARCHER, "SRCH-A")["testimonies"]
    assert [t["witness_code"] for t in prefix] == ["SRCH-A001", "SRCH-A002"]
    assert len(search(store, RESEARCHER, "SRCH")["testimonies"]) == 3
    # an analyst reads codes too; a viewer never learns that a code exists
    assert search(store, Principal(None, "an", Role.ANALYST), "SRCH-B100")["testimonies"]
    for q in ("SRCH-A002", "SRCH-A001", "SRCH", "NO-SUCH-CODE"):
        assert search(store, VIEWER, q)["testimonies"] == []


@pytest.mark.parametrize("q,problem", [("", "empty"), ("   ", "empty"), (None, "empty"),
                                       ("x" * 101, "too_long")])
def test_empty_and_too_long_queries_say_so(searched, q, problem):
    store, _ = searched
    assert search(store, RESEARCHER, q)["problem"] == problem


def _client(app, store, role):
    user, secret, _ = make_user(store, role)
    return sign_in(https_client(app), user.username, secret)


def test_the_search_page_links_sites_places_and_testimonies(searched):
    store, app = searched
    c = _client(app, store, "researcher")
    html = c.get("/search?q=요덕").data.decode()
    assert f'href="/sites/{YODOK}"' in html
    html = c.get("/search?q=Hoeryong&lang=ko").data.decode()
    assert 'href="/?lat=42.' in html and "지도에서 보기" in html
    # the province too is in Korean on the Korean page
    assert "함경북도" in html and "Hamgyŏng-bukto" not in html
    html = c.get("/search?q=SRCH-A001").data.decode()
    [tid] = [t["id"] for t in search(store, RESEARCHER, "SRCH-A001")["testimonies"]]
    assert f'href="/testimonies/{tid}"' in html and "SRCH-A001" in html
    # every staff page has the search box in its navigation
    for page in ("/", "/review", f"/sites/{YODOK}", "/search"):
        assert 'class="gm-nav-search"' in c.get(page).data.decode(), page


def test_a_viewer_page_never_reveals_a_witness_code(searched):
    store, app = searched
    c = _client(app, store, "viewer")
    exists = c.get("/search?q=SRCH-A002").data.decode()
    missing = c.get("/search?q=SRCH-Z999").data.decode()
    for html in (exists, missing):
        assert "/testimonies/" not in html and "gm-result-testimonies" not in html
    def main(html):  # the page's content (nonces and tokens differ per request)
        return html[html.index("<main"):html.index("</main>")]

    assert main(exists).replace("SRCH-A002", "Q") == main(missing).replace("SRCH-Z999", "Q")


@pytest.mark.parametrize("q", ["", "x" * 300, "<script>alert(1)</script>", "%", "' OR 1=1 --",
                               "\u0000", "요덕" * 60])
def test_bad_queries_get_a_message_not_a_500(searched, q):
    store, app = searched
    c = _client(app, store, "researcher")
    r = c.get("/search", query_string={"q": q})
    assert r.status_code in (200, 400)
    html = r.data.decode()
    assert "<script>alert(1)" not in html
    if len(q) > 100:
        assert r.status_code == 400 and "100" in html
    if not q:
        assert r.status_code == 200 and "gm-hint" in html
