"""The linking model against each failure the independent data showed (issue 11), one test per
category, on the shipped public list of facilities: the probability a testimony speaks of each
listed site or of a facility not on the list."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geomap import corroboration as corr
from geomap.gazetteer import Gazetteer, parse_facility_ref
from geomap.geocode import decide
from geomap.link_model import TextEvidence, log_distance_density, rounding_sigma_m, site_refs
from geomap.periods import parse_period
from geomap.policy import SYSTEM

GEOD = Geod(ellps="WGS84")
SITES = {  # (lon, lat) of the public list's points
    "onsong-mss": (129.9877, 42.9596), "musan-mss": (129.2139, 42.2310), "kaechon-kyohwaso": (125.923061, 39.708375),
    "camp14": (126.055466, 39.571086), "camp18": (126.0859, 39.5596),
    "yodok": (126.895, 39.713), "hamhung": (127.5631, 39.9576),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    store = Store.for_instance(load_settings(tmp_path_factory.mktemp("lm") / "i"))
    load_reference_data(store)
    gaz = Gazetteer.from_store(store, SYSTEM)
    refs = site_refs(store.sites(SYSTEM))
    yield gaz, refs, {r.id: r.key for r in refs}
    store.close()


def _link(world, lon, lat, radius, place=None, period=None):
    """{site key: probability} and the status of each proposal, for one testimony."""
    gaz, refs, keys = world
    p = parse_period(period) if period else None
    inputs = {"id": np.array([1]), "lon": np.array([lon]), "lat": np.array([lat]),
              "radius": np.array([float(radius)]), "place": [place],
              "start": [p.earliest if p else None], "end": [p.latest if p else None],
              "violations": [""]}
    # every site's probability (the best one is proposed at threshold 0), then what the
    # engine proposes at its own threshold
    everything = {}
    for o in corr.propose(inputs, refs, TextEvidence(gaz, refs), threshold=0.0):
        everything[keys[o["site_id"]]] = o["score"]
        if (r := o["evidence"]["runner_up"]) is not None:
            everything.setdefault(keys[r["site_id"]], r["score"])
    decided = corr.propose(inputs, refs, TextEvidence(gaz, refs))
    return everything, {keys[o["site_id"]]: o["status"] for o in decided}


def _at(key, bearing, metres):
    lon, lat, _ = GEOD.fwd(*SITES[key], bearing, metres)
    return lon, lat


def test_a_witness_at_their_own_stated_radius_links_on_distance_alone(world):
    # Kyohwaso No. 9 (Hamhŭng, a 1 km locality point), nothing else listed near it
    for factor in (1.0, 2.0, 3.0):  # witnesses understate their uncertainty 1-3x
        lon, lat = _at("hamhung", 40, 2_000 * factor)
        _, decided = _link(world, lon, lat, 2_000)
        assert decided == {"kyohwaso-9-hamhung": "candidate"}, factor
    # far beyond any plausible understatement it is a facility not on the list
    lon, lat = _at("hamhung", 40, 2_000 * 12)
    assert _link(world, lon, lat, 2_000)[1] == {}


def test_the_distance_model_has_a_heavier_tail_than_a_gaussian():
    s2 = np.array([1_000.0 ** 2])
    near, far = (log_distance_density(np.array([d]), s2)[0] for d in (0.0, 3_000.0))
    assert far - near > -0.5 * 9  # a Gaussian falls by exp(-4.5) at three sigmas
    assert far - near < -2        # still much less likely than at the point


def test_twin_centres_are_separated_by_authority_words(world):
    # Onsŏng's MSS and MPS detention centres are 60 m apart: a 1 km circle covers both
    lon, lat = _at("onsong-mss", 200, 300)
    for words, key in (("Onsong bowibu", "kuryujang-onsong-mss"),
                       ("온성 보위부", "kuryujang-onsong-mss"),
                       ("Onsŏng anjeonbu jail", "kuryujang-onsong-mps"),
                       ("온성 보안서 구류장", "kuryujang-onsong-mps"),
                       ("Onsong police", "kuryujang-onsong-mps")):
        assert _link(world, lon, lat, 1_000, words)[1] == {key: "candidate"}, words


def test_twins_the_evidence_cannot_separate_go_to_a_person_by_a_rule_of_the_radii(world):
    lon, lat = _at("onsong-mss", 200, 300)
    probs, decided = _link(world, lon, lat, 1_000, "Onsong detention centre")
    assert set(decided) == {"kuryujang-onsong-mss", "kuryujang-onsong-mps"}
    assert set(decided.values()) == {"ambiguous"}
    # Musan's centres are 460 m apart: a 1 km circle between them is left to a person, a
    # 50 m circle on one of them is not
    lon, lat = _at("musan-mss", 90, 230)
    assert set(_link(world, lon, lat, 1_000, "Musan jail")[1].values()) == {"ambiguous"}
    assert _link(world, *SITES["musan-mss"], 50, "Musan jail")[1] == \
        {"kuryujang-musan-mss": "candidate"}


def test_kaechon_kyohwaso_is_the_prison_not_camp_14_of_the_same_town(world):
    gaz, refs, _ = world
    d, reason, _ = decide(gaz, "Kaechon kyohwaso", {})
    assert d is not None and d.candidate.ref == "kyohwaso-1-kaechon", reason
    for text in ("Kaechon kyohwaso", "개천 교화소", "Kaech'ŏn kyo-hwa-so"):
        d, _, _ = decide(gaz, text, {})
        probs, decided = _link(world, d.point.x, d.point.y, d.radius_m, text)
        assert decided == {"kyohwaso-1-kaechon": "candidate"}, text
        assert probs.get("kwalliso-14-kaechon", 0) < 0.05
    # and a camp word the other way
    lon, lat = _at("camp14", 0, 1_000)
    assert _link(world, lon, lat, 3_000, "Camp 14")[1] == {"kwalliso-14-kaechon": "candidate"}
    assert _link(world, *SITES["camp18"], 3_000, "18호 관리소")[1] == \
        {"kwalliso-18-pukchang": "candidate"}


def test_a_bare_town_name_is_not_an_exact_site_name(world):
    gaz, refs, _ = world
    te = TextEvidence(gaz, refs)
    pos = {r.key: i for i, r in enumerate(refs)}
    town = np.exp(te.for_text("Hoeryong").log_site)
    named = np.exp(te.for_text("Hoeryong bowibu").log_site)
    mss = pos["kuryujang-hoeryong-mss"]
    # the town lifts every facility near it a little, none to a name match
    assert town[mss] == pytest.approx(town[pos["kuryujang-hoeryong-mps"]])
    assert town[mss] < 4 < named[mss]


def test_years_outside_a_facility_s_operating_years_count_against_it(world):
    # between Camps 14 (1959-) and 18 (1958-2006), in 2012: Camp 18 had closed
    lon, lat = _at("camp18", 300, 1_500)
    probs_then, _ = _link(world, lon, lat, 3_000, "Kaechon camp", period="1995")
    probs_now, _ = _link(world, lon, lat, 3_000, "Kaechon camp", period="2012-2014")
    # nearer Camp 18, which was open in 1995; in 2012 Camp 14, which still was
    assert probs_then["kwalliso-18-pukchang"] > probs_then["kwalliso-14-kaechon"]
    assert probs_now["kwalliso-14-kaechon"] > probs_now["kwalliso-18-pukchang"]
    assert probs_now["kwalliso-14-kaechon"] > probs_then["kwalliso-14-kaechon"]


def test_a_point_inside_a_large_camp_links_to_it(world):
    # 8 km from the published point of Yodŏk (378 km2), with an ordinary 1 km radius
    lon, lat = _at("yodok", 250, 8_000)
    assert _link(world, lon, lat, 1_000)[1] == {"kwalliso-15-yodok": "candidate"}
    # the same offset from a building-sized centre is something else
    lon, lat = _at("hamhung", 250, 8_000)
    assert _link(world, lon, lat, 1_000)[1] == {}


def test_each_camp_keeps_the_precision_the_list_gives_it(world):
    _, refs, _ = world
    by_key = {r.key: r for r in refs}
    assert by_key["kwalliso-25-chongjin"].sigma_m < 1_500   # locality, ~1 km2
    assert by_key["kwalliso-15-yodok"].extent_m > 10_000     # 378 km2
    assert by_key["kyohwaso-8-yongdam"].sigma_m == 5_000     # an "area" point, no extent


def test_relative_descriptions_in_english_and_korean_link_through_their_town(world):
    gaz, refs, _ = world
    for text in ("about 18 km north-east of Hoeryong", "회령에서 북동쪽으로 18킬로미터쯤"):
        d, reason, _ = decide(gaz, text, {r.key: r.radius_m for r in refs})
        assert d is not None and d.note.startswith("18 km at 45°"), (text, reason)
        probs, decided = _link(world, d.point.x, d.point.y, d.radius_m, text)
        assert max(probs, key=probs.get) == "kwalliso-22-hoeryong", probs


def test_a_facility_not_on_the_list_is_not_forced_onto_a_listed_one(world):
    # a labour training camp 5 km from Kyohwaso No. 9 with a 300 m radius
    lon, lat = _at("hamhung", 100, 5_000)
    assert _link(world, lon, lat, 300, "Hamhung rodong danryondae")[1] == {}


def test_rounded_coordinates_widen_the_scale():
    sig = rounding_sigma_m(np.array([129.98, 129.987, 129.98765, 130.0]),
                           np.array([42.96, 42.959, 42.95965, 43.0]))
    assert sig[0] > 300 and 20 < sig[1] < 40 and sig[2] == 0 and sig[3] > 500


def test_facility_numbers_are_not_distances_or_village_numbers():
    assert parse_facility_ref("Pokchŏng-ni Kyo-hwa-so, about 7 km east of Sŭngho 1-tong").number \
        is None
    assert parse_facility_ref("6km east of Sungho 1-tong (Kyo hwa so No. 8)").number == 8
    assert parse_facility_ref("Kaechon 14호").number == 14


def test_a_site_named_town_last_is_found_by_its_town_and_words(world):
    # "Ryanggang Provincial MSS Holding Centre, Hyesan" has no "Hyesan ..." alias
    gaz, _, _ = world
    for text in ("Hyesan MSS holding centre", "혜산 보위부 집결소"):
        d, reason, _ = decide(gaz, text, {})
        assert d is not None and d.candidate.ref == "jipkyulso-hyesan-mss", (text, reason)
    d, reason, _ = decide(gaz, "Kaechon women's prison", {})
    assert d is not None and d.candidate.ref == "kyohwaso-1-kaechon", reason
