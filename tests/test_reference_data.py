from geomap.demo import FACILITIES_CSV
from geomap.model import FacilityType, Precision, Tier
from geomap.policy import SYSTEM
from geomap.sites import read_facilities


def test_public_facilities_keep_missing_coordinates_missing():
    sites = read_facilities(FACILITIES_CSV)
    assert len(sites) == 30
    unlocated = [s for s in sites if s.geometry is None]
    assert {s.key for s in unlocated} == {"kwalliso-11-kyongsong", "kwalliso-13-chongsong"}
    assert all(s.precision == Precision.ADMIN_UNIT for s in unlocated)
    assert all(s.tier == Tier.PUBLIC and s.citations for s in sites)


def test_facility_types_map_onto_the_vocabulary_and_keep_the_source_wording():
    by_key = {s.key: s for s in read_facilities(FACILITIES_CSV)}
    assert by_key["kwalliso-15-yodok"].facility_type == FacilityType.KWALLISO
    assert by_key["kyohwaso-9-hamhung"].facility_type == FacilityType.KYOHWASO
    ons = by_key["kuryujang-onsong-mss"]
    assert ons.facility_type == FacilityType.KURYUJANG
    assert "not a jipkyulso" in ons.research_note
    assert by_key["jipkyulso-hyesan-mss"].facility_type == FacilityType.JIPKYULSO
    assert by_key["kwalliso-15-yodok"].name_ko == "요덕 제15호 관리소"


def test_reference_data_load_is_idempotent(ref_store):
    from geomap.demo import load_reference_data

    load_reference_data(ref_store)
    stats = ref_store.stats(SYSTEM)
    assert (stats["sites"], stats["boundary_units"]) == (30, 13)
