"""New-site proposals (geomap.proposals): density in metres without chaining, only testimonies
no listed site explains, the page, and promotion to a site (audited)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import text

from geomap.errors import InvalidInput
from geomap.model import Testimony
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.proposals import (
    ProposalGone,
    cluster,
    promote,
    proposal_id,
    proposals_for,
    unexplained,
)
from geomap.store.links import LinkStore

from .conftest import csrf_from, make_user, sign_in

GEOD = Geod(ellps="WGS84")
# an open field far (38+ km) from every listed facility of the reference data
FIELD = (126.5, 38.8)


def _inputs(points, radius, witnesses, periods=None, places=None) -> dict:
    periods = periods or [parse_period("1999")] * len(points)
    return {
        "id": np.arange(1, len(points) + 1), "lon": np.array([p[0] for p in points]),
        "lat": np.array([p[1] for p in points]),
        "radius": np.array(radius if isinstance(radius, list) else [radius] * len(points),
                           dtype=float),
        "place": places or ["a valley"] * len(points),
        "start": [p.earliest if p else None for p in periods],
        "end": [p.latest if p else None for p in periods],
        "witness": witnesses,
    }


def _group(centre=FIELD, n=4, spacing=300.0):
    """n points on a circle of diameter `spacing` around `centre` (about `spacing` apart)."""
    return [GEOD.fwd(centre[0], centre[1], 360 * i / n, spacing / 2)[:2] for i in range(n)]


def test_a_chain_of_overlapping_circles_does_not_become_one_proposal():
    # 12 testimonies 800 m apart with 500 m radii: each circle overlaps the next, 9 km in all
    line = [GEOD.fwd(FIELD[0], FIELD[1], 90, 800 * i)[:2] for i in range(12)]
    props = cluster(_inputs(line, 500.0, [f"w{i}" for i in range(12)]))
    assert all(len(p.testimony_ids) < 12 for p in props)
    for p in props:  # no group spans more than its members' circles allow
        pts = [line[i - 1] for i in p.testimony_ids]
        span = max(GEOD.inv(*a, *b)[2] for a in pts for b in pts)
        assert span <= 2 * 500 + 2 * 500 + 1, span
        assert len(p.testimony_ids) <= 3


def test_two_groups_joined_by_a_line_of_overlapping_circles_stay_two_at_their_own_places():
    east = GEOD.fwd(*FIELD, 90, 6000)[:2]
    a, b = _group(FIELD, n=5), _group(east, n=5)
    bridge = [GEOD.fwd(*FIELD, 90, 700 * i)[:2] for i in range(1, 9)]  # 500 m circles overlap
    pts = a + b + bridge
    props = cluster(_inputs(pts, [200.0] * 10 + [500.0] * 8,
                            [f"w{i % 4}" for i in range(10)] + [f"b{i}" for i in range(8)]))
    ids_a, ids_b = set(range(1, 6)), set(range(6, 11))
    [pa] = [p for p in props if ids_a <= set(p.testimony_ids)]
    [pb] = [p for p in props if ids_b <= set(p.testimony_ids)]
    assert pa is not pb
    assert GEOD.inv(*FIELD, pa.lon, pa.lat)[2] < 150 and GEOD.inv(*east, pb.lon, pb.lat)[2] < 150
    assert pa.radius_m < 400 and pb.radius_m < 400


def test_a_tight_group_from_three_witnesses_is_one_proposal_at_its_centre():
    pts = _group()
    far = [GEOD.fwd(*FIELD, 0, 30_000 + 900 * i)[:2] for i in range(2)]
    inputs = _inputs(pts + far, 200.0, ["w1", "w1", "w2", "w3", "w4", "w5"],
                     places=["Kaech'on valley", "Kaech'on valley", "the valley", "Kaech'on valley",
                             "x", "y"])
    [p] = cluster(inputs)
    assert p.testimony_ids == [1, 2, 3, 4] and p.witnesses == 3
    assert GEOD.inv(*FIELD, p.lon, p.lat)[2] < 30
    assert 100 <= p.radius_m <= 300
    assert p.place_names[0] == "Kaech'on valley"
    assert (p.period_start, p.period_end) == ("1999-01-01", "1999-12-31")
    assert p.id == proposal_id([4, 3, 2, 1])  # stable whatever the order


def test_disjoint_periods_do_not_group():
    pts = _group()
    periods = [parse_period("1985"), parse_period("1986"), parse_period("2010"),
               parse_period("2011")]
    assert cluster(_inputs(pts, 200.0, ["w1", "w2", "w3", "w4"], periods)) == []
    # an unknown period can share any day
    assert len(cluster(_inputs(pts, 200.0, ["w1", "w2", "w3", "w4"],
                               [parse_period("1985")] * 3 + [None]))) == 1


def test_one_witness_alone_does_not_make_a_proposal():
    assert cluster(_inputs(_group(n=6), 200.0, ["w1"] * 6)) == []


# -- what no listed site explains ---------------------------------------------------------------
def _add(store, points, radius=200.0, period="1999", codes=None) -> list[int]:
    ts = [Testimony(witness_code=(codes or [f"SYN-P{i}" for i in range(len(points))])[i],
                    place_text="a valley", geometry=Point(*p), radius_m=radius,
                    precision=None, period=parse_period(period), synthetic=True)
          for i, p in enumerate(points)]
    store.add_testimonies(ts)
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT id FROM testimonies ORDER BY id").all()
    return [r[0] for r in rows][-len(points):]


def test_testimonies_within_a_listed_sites_reach_are_left_out(ref_store):
    site = next(s for s in ref_store.sites(SYSTEM) if s.geometry is not None
                and s.precision == "vicinity" and not s.extent_km2)
    near = _group((site.geometry.x, site.geometry.y), spacing=300.0)
    far = _group(FIELD)
    ids = _add(ref_store, near + far)
    left = set(unexplained(ref_store, SYSTEM)["id"].tolist())
    assert left == set(ids[4:])
    [p] = proposals_for(ref_store, SYSTEM)
    assert p.testimony_ids == ids[4:]


def test_linked_testimonies_are_left_out_but_a_rejected_link_does_not_hide_one(ref_store):
    ids = _add(ref_store, _group(FIELD, n=6))
    site = ref_store.sites(SYSTEM)[0]
    links = LinkStore(ref_store)
    links.replace_candidates_for([ids[0]], [{"testimony_id": ids[0], "site_id": site.id,
                                              "score": 0.9, "evidence": {}}], "test")
    links.decide(ids[1], site.id, "confirmed", "tester")
    links.decide(ids[2], site.id, "rejected", "tester")
    left = unexplained(ref_store, SYSTEM)["id"].tolist()
    assert left == ids[2:]


# -- promotion ---------------------------------------------------------------------------------
def _audit_after(store, before):
    with store.read() as conn:
        return conn.execute(text(
            "SELECT actor, action, target, details FROM audit_log WHERE id > :b ORDER BY id"),
            {"b": before}).all()


def _audit_max(store):
    with store.read() as conn:
        return conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM audit_log").scalar()


def test_promote_makes_a_site_with_candidate_links_in_one_audited_action(ref_store):
    ids = _add(ref_store, _group(FIELD), codes=["SYN-A", "SYN-A", "SYN-B", "SYN-C"])
    [p] = proposals_for(ref_store, SYSTEM)
    before = _audit_max(ref_store)
    site = promote(ref_store, p.id, {"name": "Valley holding centre", "name_ko": "골짜기 집결소",
                                     "facility_type": "jipkyulso"}, "tester", SYSTEM)
    assert site.key == f"proposed-{p.id[:10]}"
    stored = ref_store.site_by_key(site.key, SYSTEM)
    assert stored.name_ko == "골짜기 집결소" and stored.tier == "internal"
    assert stored.precision == "locality" and stored.location_status == "reported"
    assert GEOD.inv(*FIELD, stored.geometry.x, stored.geometry.y)[2] < 30
    cands = [x for x in LinkStore(ref_store).all("candidate") if x["site_id"] == site.id]
    assert sorted(x["testimony_id"] for x in cands) == ids
    ev = cands[0]["evidence"]
    assert ev["note"] == "promoted from proposal" and ev["promoted_from_proposal"] == p.id
    assert 100 < ev["distance_m"] < 200 and ev["site_radius_m"] == p.radius_m  # what review shows
    [(actor, action, target, details)] = _audit_after(ref_store, before)
    assert (actor, action, target) == ("tester", "site.promote", site.key)
    d = json.loads(details)
    assert d["proposal"] == p.id and d["testimonies"] == 4
    assert d["site"]["name"] == "Valley holding centre" and d["site"]["facility_type"] == "jipkyulso"
    # its testimonies are now explained: the proposal is gone, and promoting it again fails
    assert proposals_for(ref_store, SYSTEM) == []
    with pytest.raises(ProposalGone):
        promote(ref_store, p.id, {"name": "Again", "facility_type": "other"}, "tester", SYSTEM)


def test_a_promotion_racing_a_link_to_its_testimonies_writes_nothing(ref_store, monkeypatch):
    import geomap.proposals as proposals

    ids = _add(ref_store, _group(FIELD), codes=["SYN-A", "SYN-B", "SYN-C", "SYN-D"])
    stale = proposals_for(ref_store, SYSTEM)
    site = ref_store.sites(SYSTEM)[0]
    LinkStore(ref_store).decide(ids[0], site.id, "confirmed", "tester")  # lands meanwhile
    monkeypatch.setattr(proposals, "proposals_for", lambda *a, **k: stale)
    before = _audit_max(ref_store)
    with pytest.raises(ProposalGone):
        promote(ref_store, stale[0].id, {"name": "X", "facility_type": "other"}, "t", SYSTEM)
    assert _audit_after(ref_store, before) == []
    assert ref_store.site_by_key(f"proposed-{stale[0].id[:10]}", SYSTEM) is None


@pytest.mark.parametrize("fields,field", [
    ({"name": " ", "facility_type": "other"}, "name"),
    ({"name": "X", "facility_type": "spaceport"}, "facility_type"),
    ({"name": "X", "facility_type": "other", "tier": "secret"}, "tier"),
])
def test_promote_bad_input_names_the_field_and_writes_nothing(ref_store, fields, field):
    _add(ref_store, _group(FIELD), codes=["SYN-A", "SYN-B", "SYN-C", "SYN-D"])
    [p] = proposals_for(ref_store, SYSTEM)
    before = _audit_max(ref_store)
    with pytest.raises(InvalidInput) as e:
        promote(ref_store, p.id, fields, "tester", SYSTEM)
    assert e.value.field == field
    assert _audit_after(ref_store, before) == []


# -- the page ----------------------------------------------------------------------------------
@pytest.fixture
def prop_app(ref_store, settings):
    from geomap.web import create_app

    _add(ref_store, _group(FIELD), codes=["SYN-A", "SYN-A", "SYN-B", "SYN-C"])
    app = create_app(settings, ref_store)
    return app, ref_store


def _client(app, store, role):
    user, secret, _ = make_user(store, role)
    c = app.test_client()
    sign_in(c, user.username, secret)
    return c


def test_the_proposals_page_lists_a_proposal_and_promotes_it(prop_app):
    app, store = prop_app
    c = _client(app, store, "researcher")
    [p] = proposals_for(store, SYSTEM)
    page = c.get("/proposals")
    assert page.status_code == 200
    html = page.data.decode()
    assert f'id="gm-prop-{p.id}"' in html and "SYN-B" in html  # codes for roles that read them
    token = csrf_from(html)
    url = f"/proposals/{p.id}/promote"
    bad = c.post(url, data={"csrf_token": token, "name": "", "facility_type": "other"})
    assert bad.status_code == 400 and "English name" in bad.data.decode()
    bad = c.post(url, data={"csrf_token": token, "name": "X", "facility_type": "nope"})
    assert bad.status_code == 400 and "facility type" in bad.data.decode()
    gone = c.post("/proposals/0123456789abcdef/promote",
                  data={"csrf_token": token, "name": "X", "facility_type": "other"})
    assert gone.status_code == 409
    ok = c.post(url, data={"csrf_token": token, "name": "Field camp", "name_ko": "들판 수용소",
                           "facility_type": "kyohwaso", "tier": "internal"})
    assert ok.status_code == 303
    assert ok.headers["Location"].endswith(f"/sites/proposed-{p.id[:10]}")
    dossier = c.get(ok.headers["Location"]).data.decode()
    assert "들판 수용소" in dossier
    assert c.get("/proposals").status_code == 200


def test_the_proposals_page_is_for_researchers_only(prop_app):
    app, store = prop_app
    assert _client(app, store, "viewer").get("/proposals").status_code == 404
    analyst = _client(app, store, "analyst")
    assert analyst.get("/proposals").status_code == 404


def test_link_propose_sites_json_is_pure_json(ref_store, settings):
    from click.testing import CliRunner

    from geomap.cli import main

    _add(ref_store, _group(FIELD), codes=["SYN-A", "SYN-B", "SYN-C", "SYN-D"])
    r = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "link",
                                  "--propose-sites", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    [p] = doc["proposed_sites"]
    assert len(p["testimony_ids"]) == 4 and p["witnesses"] == 4
    assert date.fromisoformat(p["period_start"]).year == 1999
    text = CliRunner().invoke(main, ["--instance", str(settings.instance_path), "link",
                                     "--propose-sites"])
    assert text.exit_code == 0 and "1 possible unknown sites from" in text.output
