"""The testimony page (issue 11, item 5): fields in the reader's language, witness codes and
narratives only for roles allowed, the narrative only on request and audited, a hidden tier
answered like a missing id, links to dossiers, and the history of edits and decisions. Also
the review queue's paging."""

from __future__ import annotations

import json
import re

import pytest
from shapely.geometry import Point

from geomap.model import Precision, Relationship, Testimony, Tier, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.store.links import LinkStore, review_count, review_queue

from .conftest import https_client, make_user, sign_in

YODOK = "kwalliso-15-yodok"
NARRATIVE = "SYNTHETIC narrative: the witness describes the gate (test text, not a real account)"


@pytest.fixture(scope="module")
def page_app(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store
    from geomap.web import create_app

    settings = load_settings(tmp_path_factory.mktemp("tpage") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    items = [Testimony(witness_code=code, place_text="Yodok camp", geometry=Point(126.9, 39.71),
                       radius_m=3000, precision=Precision.AREA,
                       period=parse_period("1995-1998"), tier=tier,
                       violations=[Violation.FORCED_LABOUR, Violation.STARVATION],
                       relationship=Relationship.DETAINED, narrative=NARRATIVE, synthetic=True)
             for code, tier in (("PAGE-INT-1", Tier.INTERNAL), ("PAGE-PART-1", Tier.PARTNER))]
    store.add_testimonies(items)
    site = store.site_by_key(YODOK, SYSTEM)
    LinkStore(store).decide(items[1].id, site.id, "confirmed", actor="test-decider")
    app = create_app(settings, store)
    app.config["TESTING"] = True
    yield store, app, {"internal": items[0].id, "partner": items[1].id, "site": site}
    store.close()


def _client(app, store, role):
    user, secret, _ = make_user(store, role)
    return sign_in(https_client(app), user.username, secret), user.username


def _reads(store, tid):
    from geomap.store.testimony_records import history

    return [h for h in history(store, tid) if h["action"] == "narrative.view"]


def test_a_researcher_sees_every_field_and_the_narrative_only_on_request(page_app):
    store, app, ids = page_app
    c, name = _client(app, store, "researcher")
    tid = ids["partner"]
    before = len(_reads(store, tid))
    html = c.get(f"/testimonies/{tid}?lang=ko").data.decode()
    assert "PAGE-PART-1" in html and "Yodok camp" in html and "1995-1998" in html
    assert "강제노동" in html  # violations in the reader's language
    assert NARRATIVE not in html and "gm-show-narrative" in html
    assert len(_reads(store, tid)) == before  # showing the page reads no narrative
    r = c.get(f"/testimonies/{tid}?narrative=1")
    assert NARRATIVE in r.data.decode() and r.headers["Cache-Control"] == "no-store"
    reads = _reads(store, tid)
    assert len(reads) == before + 1 and reads[0]["actor"] == name


def test_a_viewer_sees_neither_codes_nor_narratives_nor_history(page_app):
    store, app, ids = page_app
    c, _ = _client(app, store, "viewer")
    tid = ids["partner"]
    before = len(_reads(store, tid))
    for url in (f"/testimonies/{tid}", f"/testimonies/{tid}?narrative=1"):
        r = c.get(url)
        html = r.data.decode()
        assert r.status_code == 200
        assert "PAGE-PART-1" not in html and NARRATIVE not in html
        assert "gm-show-narrative" not in html and "gm-history" not in html
        assert "/edit" not in html
        assert "test-decider" not in html  # staff names are for staff
    assert len(_reads(store, tid)) == before


def test_another_tier_is_a_404_like_a_missing_id(page_app):
    store, app, ids = page_app
    c, _ = _client(app, store, "viewer")
    hidden = c.get(f"/testimonies/{ids['internal']}")
    missing = c.get("/testimonies/987654")
    assert hidden.status_code == missing.status_code == 404
    assert "PAGE-INT-1" not in hidden.data.decode()
    assert c.get(f"/testimonies/{ids['internal']}/edit").status_code == 404  # no edit right


def test_links_with_who_decided_and_the_dossier_links_back(page_app):
    store, app, ids = page_app
    c, _ = _client(app, store, "researcher")
    html = c.get(f"/testimonies/{ids['partner']}").data.decode()
    links = html[html.index("gm-testimony-links"):]
    assert f'href="/sites/{YODOK}"' in links and "test-decider" in links
    # the map: local Leaflet, the point with its radius and the linked site, no inline script
    data = json.loads(re.search(r'id="gm-testimony-data"[^>]*>(.*?)</script>', html, re.S)[1])
    assert data["point"]["radius_m"] == 3000 and data["sites"][0]["status"] == "confirmed"
    assert "/static/vendor/leaflet/leaflet.js" in html
    dossier = c.get(f"/sites/{YODOK}").data.decode()
    assert f'href="/testimonies/{ids["partner"]}"' in dossier


def test_history_lists_an_edit_and_a_decision(page_app):
    from geomap.testimony_edit import update_testimony

    store, app, ids = page_app
    c, name = _client(app, store, "researcher")
    tid = ids["partner"]
    update_testimony(store, tid, {"place_text": "Yodok, Ipsok-ri"}, name)
    html = c.get(f"/testimonies/{tid}").data.decode()
    hist = html[html.index('class="gm-history"'):]
    assert "Edited" in hist and name in hist and "Yodok camp" in hist and "Yodok, Ipsok-ri" in hist
    assert "Link confirmed" in hist and "test-decider" in hist
    assert NARRATIVE not in hist


def _proposals(store, n):
    """`n` candidate links, one per new testimony, to the Yodok site."""
    site = store.site_by_key(YODOK, SYSTEM)
    items = [Testimony(witness_code=f"PAGING-{i:04d}", place_text=None,
                       geometry=Point(126.9 + i * 1e-4, 39.71), radius_m=1000,
                       precision=Precision.LOCALITY, period=None, synthetic=True)
             for i in range(n)]
    store.add_testimonies(items)
    ev = {"distance_m": 100, "testimony_radius_m": 1000, "site_radius_m": 10000}
    LinkStore(store).replace_candidates(
        [{"testimony_id": t.id, "site_id": site.id, "score": 0.5 + i / 1000, "evidence": ev}
         for i, t in enumerate(items)], engine="test")
    return items


def test_the_review_queue_shows_its_true_size_and_pages_through_it(tmp_path):
    from geomap.config import load_settings
    from geomap.corroboration import GradeRule
    from geomap.demo import load_reference_data
    from geomap.store import Store
    from geomap.web import create_app

    settings = load_settings(tmp_path / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    _proposals(store, 130)
    assert review_count(store, SYSTEM) == 130
    pages = [review_queue(store, SYSTEM, GradeRule(), limit=50, offset=o) for o in (0, 50, 100)]
    assert [len(p) for p in pages] == [50, 50, 30]
    pairs = [(i["testimony_id"], i["site_id"]) for p in pages for i in p]
    assert len(set(pairs)) == 130  # no overlap, nothing left out
    assert pages[0] == review_queue(store, SYSTEM, GradeRule())[:50]  # the same order

    app = create_app(settings, store)
    app.config["TESTING"] = True
    c, _ = _client(app, store, "researcher")

    def page(q=""):
        html = c.get("/review" + q).data.decode()
        data = json.loads(re.search(r'id="gm-review-data"[^>]*>(.*?)</script>', html, re.S)[1])
        return html, data

    html, data = page()
    assert "1–50 of 130" in html and len(data["items"]) == 50 and data["total"] == 130
    assert 'href="/review?page=2"' in html and "Previous page" not in html
    html, data = page("?page=3")
    assert "101–130 of 130" in html and len(data["items"]) == 30
    assert 'href="/review?page=2"' in html and "Next page" not in html
    assert "전체 130건 중 51–100" in page("?page=2&lang=ko")[0]
    assert c.get("/review?page=abc").status_code == 400
    assert "101–130 of 130" in page("?page=99&lang=en")[0]  # past the end: the last page
    # deciding still works from a later page
    it = data["items"][0]
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)[1]
    r = c.post("/api/links/decide", json={"testimony_id": it["testimony_id"],
                                          "site_id": it["site_id"], "status": "rejected"},
               headers={"X-CSRFToken": token})
    assert r.status_code == 200
    assert "1–50 of 129" in page("?lang=en")[0]
    store.close()
