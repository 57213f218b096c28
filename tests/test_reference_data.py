from geomap.demo import FACILITIES_CSV
from geomap.model import FacilityType, Precision, Tier
from geomap.policy import SYSTEM
from geomap.sites import read_facilities


def test_public_facilities_keep_missing_coordinates_missing():
    sites = read_facilities(FACILITIES_CSV)
    assert len(sites) == 30
    unlocated = [s for s in sites if s.geometry is None]
    assert {s.key for s in unlocated} == {"kwan-li-so-no-11-kyongsong",
                                          "kwan-li-so-no-13-chongsong-changpyong"}
    assert all(s.precision == Precision.ADMIN_UNIT for s in unlocated)
    assert all(s.tier == Tier.PUBLIC and s.sources for s in sites)


def test_facility_types_map_onto_the_vocabulary_and_keep_the_source_wording():
    by_key = {s.key: s for s in read_facilities(FACILITIES_CSV)}
    assert by_key["kwan-li-so-no-15-yodok-camp-15"].facility_type == FacilityType.KWALLISO
    assert by_key["kyo-hwa-so-no-9-hamhung"].facility_type == FacilityType.KYOHWASO
    ons = by_key["onsong-county-mss-detention-centre"]
    assert ons.facility_type == FacilityType.KURYUJANG
    assert "not a jipkyulso" in ons.facility_type_note
    assert by_key["ryanggang-provincial-mss-holding-centre-hyesan"].facility_type == \
        FacilityType.JIPKYULSO
    assert by_key["kwan-li-so-no-15-yodok-camp-15"].name_ko == "요덕 제15호 관리소"


def test_reference_data_load_is_idempotent(ref_store):
    from geomap.demo import load_reference_data

    load_reference_data(ref_store)
    stats = ref_store.stats(SYSTEM)
    assert (stats["sites"], stats["boundary_units"]) == (30, 13)
