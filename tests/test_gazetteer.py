import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from geomap.gazetteer import Gazetteer, parse_facility_ref
from geomap.policy import SYSTEM
from geomap.romanize import hangul_to_rr, skeleton

from .conftest import FIGURES

LABELS = Path(__file__).parent / "data" / "gazetteer_labels.csv"


@pytest.fixture(scope="module")
def gazetteer(tmp_path_factory):
    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    store = Store.for_instance(load_settings(tmp_path_factory.mktemp("gaz") / "instance"))
    load_reference_data(store)
    yield Gazetteer.from_store(store, SYSTEM)
    store.close()


@pytest.mark.parametrize("a, b", [
    ("Yodŏk", "Yodeok"), ("Yodok", "요덕"), ("Hoeryŏng", "Hoeryeong"), ("회령시", "Hoeryŏng-si"),
    ("Kaech’ŏn", "Gaecheon"), ("Ch'ŏngjin", "청진"), ("Sinŭiju", "Shinuiju"),
    ("P'yŏngyang", "평양직할시"), ("Hamhŭng", "Ham-heung"), ("Musan-ŭp", "무산"),
    ("Sariwŏn-si", "Sariwon City"), ("Kangdong County", "강동군"),
])
def test_spellings_of_one_name_share_a_key(a, b):
    assert skeleton(a) == skeleton(b)


def test_hangul_is_spelled_in_revised_romanization():
    assert hangul_to_rr("요덕") == "yodeok"
    assert hangul_to_rr("회령") == "hoeryeong"
    assert hangul_to_rr("청진") == "cheongjin"


@pytest.mark.parametrize("text, kind, number", [
    ("Camp 15", None, 15), ("Kwalliso No. 15", "kwalliso", 15), ("15호 관리소", "kwalliso", 15),
    ("제12호 교화소", "kyohwaso", 12), ("Kyo-hwa-so No. 12", "kyohwaso", 12),
    ("Yodok camp", None, None), ("Onsong holding centre", "jipkyulso", None),
])
def test_facility_references_are_recognised(text, kind, number):
    ref = parse_facility_ref(text)
    assert (ref.kind, ref.number) == (kind, number)


def test_plain_names_are_not_facility_references():
    assert parse_facility_ref("Hoeryŏng") is None


def test_a_town_name_means_the_town_and_a_camp_word_means_the_camp(gazetteer):
    [town, *_] = gazetteer.lookup("Hoeryong")
    assert (town.kind, town.name) == ("populated_place", "Hoeryŏng")
    assert town.admin1 == "Hamgyŏng-bukto" and town.lat == pytest.approx(42.44, abs=0.05)
    [camp, *_] = gazetteer.lookup("Camp 22")
    assert camp.ref == "kwalliso-22-hoeryong" and camp.kind == "site"


def test_labelled_variants_top1_and_top3(gazetteer):
    rows = list(csv.DictReader(LABELS.open(encoding="utf-8")))
    assert len(rows) >= 150
    top1 = top3 = 0
    misses = []
    by_variant: dict[str, list[int]] = {}
    for r in rows:
        got = [(c.kind, c.ref) for c in gazetteer.lookup(r["query"], limit=3)]
        want = (r["expected_kind"], r["expected_ref"])
        hit1 = bool(got) and got[0] == want
        top1 += hit1
        top3 += want in got
        by_variant.setdefault(r["variant"], []).append(hit1)
        if not hit1:
            misses.append(f"{r['query']!r} -> {got[:1]} (want {want})")
    n = len(rows)
    FIGURES.append(f"gazetteer: {n} labelled variants, top-1 {top1 / n:.1%}, top-3 {top3 / n:.1%}")
    FIGURES.append("gazetteer top-1 by variant: " + ", ".join(
        f"{k} {sum(v) / len(v):.0%} ({len(v)})" for k, v in sorted(by_variant.items())))
    assert top1 / n >= 0.95, "\n".join(misses[:40])


def test_lookup_cli_prints_ranked_candidates_as_json(tmp_path):
    from geomap.cli import main

    runner = CliRunner()
    inst = str(tmp_path / "inst")
    assert runner.invoke(main, ["--instance", inst, "demo", "--testimonies", "0",
                                "--no-serve"]).exit_code == 0
    r = runner.invoke(main, ["--instance", inst, "gazetteer", "lookup", "요덕", "--json"])
    assert r.exit_code == 0, r.output
    cands = json.loads(r.output)
    assert cands[0]["ref"] == "kwalliso-15-yodok"
    assert {"name", "kind", "score", "lon", "lat", "admin1"} <= set(cands[0])
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
