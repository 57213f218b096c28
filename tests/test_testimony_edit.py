"""Editing a testimony (issue 11, item 5): validation naming the field with nothing stored on
error, one audit entry with before/after of the changed fields only and never the text of an
encrypted field, links proposed again after a move, the spatial index kept consistent, and
user text shown as text."""

from __future__ import annotations

import json
import re

import pytest
from shapely.geometry import Point
from sqlalchemy import select

from geomap.errors import InvalidInput
from geomap.model import Precision, Testimony, Tier
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.store.schema import audit_log, testimony_violations
from geomap.testimony_edit import update_testimony

from .conftest import csrf_from, https_client, make_user, sign_in

OLD_NARRATIVE = "SYNTHETIC old narrative text zq1 (test data, not a real account)"
NEW_NARRATIVE = "SYNTHETIC new narrative text zq2 (test data, not a real account)"


@pytest.fixture
def edit_app(tmp_path):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store
    from geomap.web import create_app

    settings = load_settings(tmp_path / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    t = Testimony(witness_code="EDIT-W1", place_text="Hoeryong", geometry=Point(129.75, 42.44),
                  radius_m=2000, precision=Precision.AREA, period=parse_period("1999"),
                  narrative=OLD_NARRATIVE, tier=Tier.INTERNAL, synthetic=True)
    store.add_testimonies([t])
    app = create_app(settings, store)
    app.config["TESTING"] = True
    yield store, app, t.id
    store.close()


def _audit(store) -> list:
    with store.read() as conn:
        return conn.execute(select(audit_log).order_by(audit_log.c.id)).all()


def test_one_audit_entry_with_changed_fields_only_and_no_clear_narrative(edit_app):
    store, _, tid = edit_app
    out = update_testimony(store, tid, {
        "place_text": "Hoeryong city", "narrative": NEW_NARRATIVE, "witness_code": "EDIT-W2",
        "period": "1999", "tier": "internal", "violations": ["torture", "forced_labour"]},
        "editor-1")
    assert out["changed"] == ["narrative", "place_text", "violations", "witness_code"]
    entry = _audit(store)[-1]
    assert (entry.actor, entry.action, entry.target) == ("editor-1", "testimony.update",
                                                          f"testimony:{tid}")
    d = json.loads(entry.details)
    assert d["changed"] == out["changed"]
    assert d["before"] == {"place_text": "Hoeryong", "violations": []}
    assert d["after"] == {"place_text": "Hoeryong city",
                          "violations": ["forced_labour", "torture"]}
    every = " ".join(r.details for r in _audit(store))
    for secret in (OLD_NARRATIVE, NEW_NARRATIVE, "zq1", "zq2", "EDIT-W1", "EDIT-W2"):
        assert secret not in every
    rec = store.testimony(tid, SYSTEM)
    assert rec["witness_code"] == "EDIT-W2" and rec["narrative"] == NEW_NARRATIVE
    assert rec["violations"] == ["forced_labour", "torture"]
    with store.read() as conn:
        assert sorted(conn.execute(select(testimony_violations.c.violation).where(
            testimony_violations.c.testimony_id == tid)).scalars()) == [
            "forced_labour", "torture"]
    # nothing changed: nothing written
    n = len(_audit(store))
    assert update_testimony(store, tid, {"place_text": "Hoeryong city"}, "editor-1") == {
        "changed": [], "relinked": None}
    assert len(_audit(store)) == n


def test_a_move_re_proposes_links_and_keeps_the_spatial_index(edit_app):
    store, _, tid = edit_app
    yodok = store.site_by_key("kwalliso-15-yodok", SYSTEM)
    out = update_testimony(store, tid, {"lat": "39.713", "lon": "126.895", "radius_m": "3000",
                                        "place_text": "Yodok camp", "precision": ""}, "editor-1")
    assert "location" in out["changed"] and out["relinked"] is not None
    d = json.loads(_audit(store)[-1].details)
    assert d["before"]["location"] == [129.75, 42.44] and d["after"]["location"] == [126.895,
                                                                                     39.713]
    assert d["after"]["radius_m"] == 3000
    assert tid in store.ids_intersecting("testimonies", (126.8, 39.6, 127.0, 39.8))
    assert tid not in store.ids_intersecting("testimonies", (129.7, 42.4, 129.8, 42.5))
    rec = store.testimony(tid, SYSTEM, narrative=False)
    assert (rec["lon"], rec["lat"], rec["precision"]) == (126.895, 39.713, "area")
    from geomap.store.testimony_records import links_of

    assert yodok.id in [link["site_id"] for link in links_of(store, tid, SYSTEM)]


@pytest.mark.parametrize("fields,field", [
    ({"lat": "91", "lon": "127"}, "lat"),
    ({"lat": "40", "lon": "east"}, "lon"),
    ({"lat": "40", "lon": ""}, "lon"),
    ({"radius_m": "-5"}, "radius_m"),
    ({"radius_m": "1e9"}, "radius_m"),
    ({"precision": "somewhere"}, "precision"),
    ({"period": "the year of the flood"}, "period"),
    ({"relationship": "cousin"}, "relationship"),
    ({"violations": ["torture", "nonsense"]}, "violations"),
    ({"interview_date": "2016-02-30"}, "interview_date"),
    ({"interview_date": "2999-01-01"}, "interview_date"),
    ({"tier": "secret"}, "tier"),
    ({"tier": ""}, "tier"),
    ({"witness_code": "   "}, "witness_code"),
    ({"place_text": "x" * 501}, "place_text"),
])
def test_validation_names_the_field_and_stores_nothing(edit_app, fields, field):
    store, _, tid = edit_app
    before, n = store.testimony(tid, SYSTEM, narrative=False), len(_audit(store))
    with pytest.raises(InvalidInput) as e:
        update_testimony(store, tid, {"place_text": "changed too", **fields}, "editor-1")
    assert e.value.field == field
    assert store.testimony(tid, SYSTEM, narrative=False) == before and len(_audit(store)) == n


def _client(app, store, role="researcher"):
    user, secret, _ = make_user(store, role)
    return sign_in(https_client(app), user.username, secret)


def _form(c, tid) -> dict:
    html = c.get(f"/testimonies/{tid}/edit").data.decode()
    vals = dict(re.findall(r'<input name="(\w+)" (?:inputmode="decimal" )?value="([^"]*)"', html))
    vals["narrative"] = re.search(r'<textarea name="narrative"[^>]*>(.*?)</textarea>', html, re.S)[1]
    vals["tier"] = "internal"
    vals["csrf_token"] = csrf_from(html)
    return vals


def test_the_form_answers_400_at_the_field_and_stores_nothing(edit_app):
    store, app, tid = edit_app
    c = _client(app, store)
    form = _form(c, tid)
    assert form["witness_code"] == "EDIT-W1" and form["lat"] == "42.440000"
    n = len(_audit(store))
    r = c.post(f"/testimonies/{tid}/edit", data={**form, "lat": "123", "place_text": "moved"})
    html = r.data.decode()
    assert r.status_code == 400
    assert re.search(r'name="lat"[^>]*aria-invalid="true"', html)
    assert 'id="gm-err-lat"' in html and "between -90 and 90" in html
    assert 'value="moved"' in html  # the form as sent
    assert len(_audit(store)) == n
    assert store.testimony(tid, SYSTEM, narrative=False)["place_text"] == "Hoeryong"
    r = c.post(f"/testimonies/{tid}/edit?lang=ko", data={**form, "interview_date": "2999-01-01"})
    assert r.status_code == 400 and "미래" in r.data.decode()


def test_a_hostile_place_text_is_stored_and_shown_as_text(edit_app):
    store, app, tid = edit_app
    c = _client(app, store)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = c.post(f"/testimonies/{tid}/edit", data={**_form(c, tid), "place_text": hostile})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/testimonies/{tid}?saved=1")
    html = c.get(f"/testimonies/{tid}").data.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    assert store.testimony(tid, SYSTEM, narrative=False)["place_text"] == hostile


def test_the_edit_form_reads_the_narrative_audited_and_the_post_keeps_it(edit_app):
    store, app, tid = edit_app
    c = _client(app, store)
    form = _form(c, tid)
    assert form["narrative"] == OLD_NARRATIVE
    assert _audit(store)[-1].action == "narrative.view"
    r = c.post(f"/testimonies/{tid}/edit", data={**form, "period": "1998-2001"})
    assert r.status_code == 303
    d = json.loads(_audit(store)[-1].details)
    assert d["changed"] == ["period"] and d["after"] == {"period": "1998-2001"}
    assert store.testimony(tid, SYSTEM)["narrative"] == OLD_NARRATIVE


def test_only_editors_may_edit(edit_app):
    store, app, tid = edit_app
    for role in ("viewer", "analyst"):
        c = _client(app, store, role)
        assert c.get(f"/testimonies/{tid}/edit").status_code == 404
        token = csrf_from(c.get("/search").data.decode())
        assert c.post(f"/testimonies/{tid}/edit", data={"csrf_token": token,
                                                        "place_text": "x"}).status_code == 404


def test_an_edit_computed_from_a_row_changed_meanwhile_is_a_409_not_a_lost_update(edit_app):
    """Two editors at once (two server processes): the second's change was computed from the
    row before the first's, so it is refused; nothing of it is stored or audited."""
    from geomap.errors import Conflict
    from geomap.store import testimony_records as records

    store, _, tid = edit_app
    stale = records.editable(store, tid, SYSTEM)
    update_testimony(store, tid, {"place_text": "Hoeryong (first editor)"}, "editor-1")
    n = len(_audit(store))
    with pytest.raises(Conflict) as e:
        records.write_update(store, tid, stale["key"], {"place_text": "second editor"},
                             "editor-2", {"changed": ["place_text"]}, version=stale["version"])
    assert e.value.status == 409
    assert len(_audit(store)) == n
    assert store.testimony(tid, SYSTEM)["place_text"] == "Hoeryong (first editor)"
    fresh = records.editable(store, tid, SYSTEM)  # from the current row: accepted
    records.write_update(store, tid, fresh["key"], {"place_text": "second editor"},
                         "editor-2", {"changed": ["place_text"]}, version=fresh["version"])
    assert store.testimony(tid, SYSTEM)["place_text"] == "second editor"
