import re
from collections import Counter

from geomap.demo import load_synthetic_testimonies
from geomap.gazetteer import read_places
from geomap.policy import SYSTEM
from geomap.store import TestimonyFilter
from geomap.synthetic import SYNTHETIC_NOTE, WITNESS_PREFIX, generate

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _generate(ref_store, n=800, seed=3):
    import shapely

    country = shapely.union_all([u.geometry for u in ref_store.boundary_units(0)])
    return generate(n, ref_store.sites(SYSTEM), read_places(), country, seed=seed)


def test_generation_is_deterministic(ref_store):
    a, ta = _generate(ref_store, 300)
    b, tb = _generate(ref_store, 300)
    assert [t.content_payload() for t in a] == [t.content_payload() for t in b] and ta == tb
    c, _ = _generate(ref_store, 300, seed=4)
    assert [t.content_payload() for t in a] != [t.content_payload() for t in c]


def test_synthetic_testimonies_look_like_the_real_problem(ref_store):
    items, truth = _generate(ref_store)
    assert len(items) == 800
    assert all(t.synthetic and t.witness_code.startswith(WITNESS_PREFIX) for t in items)
    assert all(t.narrative.startswith(SYNTHETIC_NOTE) for t in items)
    radii = [t.radius_m for t in items if t.radius_m is not None]
    assert min(radii) >= 10 and max(radii) <= 10_000 and max(radii) > 3_000 and min(radii) < 30
    kinds = Counter(x.kind for x in truth)
    assert kinds["site"] > 600 and kinds["name_only"] > 20 and kinds["no_site"] > 20
    name_only = [t for t, x in zip(items, truth, strict=True) if x.kind == "name_only"]
    assert all(t.geometry is None and t.place_text for t in name_only)
    assert sum(1 for t in items if HANGUL.search(t.place_text)) > 50
    assert sum(1 for t in items if "Camp " in t.place_text or "No. " in t.place_text) > 10
    per_witness = Counter(t.witness_code for t in items)
    assert max(per_witness.values()) > 1 and len(per_witness) < len(items)
    assert len({v for t in items for v in t.violations}) >= 5
    assert len({t.relationship for t in items}) == 4
    assert len({t.period.text for t in items}) > 100  # vague forms, all parseable


def test_most_site_draws_lie_within_their_stated_radius(ref_store):
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    sites = {s.id: s for s in ref_store.sites(SYSTEM)}
    items, truth = _generate(ref_store)
    inside = total = 0
    for t, x in zip(items, truth, strict=True):
        if x.kind != "site":
            continue
        s = sites[x.site_id].geometry
        d = geod.inv(s.x, s.y, t.geometry.x, t.geometry.y)[2]
        total += 1
        inside += d <= t.radius_m
    assert 0.88 < inside / total < 0.98  # mostly right, some misremembered


def test_ground_truth_is_stored_apart_and_never_in_map_rows(ref_store):
    n = load_synthetic_testimonies(ref_store, 200, seed=5)
    assert n == 200 and ref_store.count_testimonies() == 200
    truth = ref_store.synthetic_truth()
    assert len(truth) == 200
    rows, _ = ref_store.testimony_rows(TestimonyFilter(), SYSTEM)
    assert not any("site" in k for r in rows for k in r)
    # every located testimony got a province
    assert all(r["admin1_id"] is not None for r in rows)
