"""Interview dates as NGO spreadsheets hold them (Korean office forms, Excel serials)."""

from datetime import date

import pytest

from geomap.dates import parse_day
from geomap.errors import InvalidInput


@pytest.mark.parametrize("text", [
    "2016-04-05", "2016-04-05T10:30:00", "2016-04-05 10:30", "20160405", "2016.4.5",
    "2016. 4. 5.", "2016/04/05", "2016 4 5", "2016년 4월 5일", "2016년4월5일", "5 April 2016",
    "April 5, 2016", "05-Apr-2016", "5th Apr 2016", "42465",
])
def test_interview_dates_in_korean_office_and_excel_forms_are_read(text):
    assert parse_day(text) == date(2016, 4, 5)


def test_day_first_and_month_first_numbers_are_read_only_when_certain():
    assert parse_day("25/04/2016") == date(2016, 4, 25)
    assert parse_day("04/25/2016") == date(2016, 4, 25)
    with pytest.raises(InvalidInput, match="ambiguous"):
        parse_day("05/04/2016")


@pytest.mark.parametrize("text", ["2016-02-30", "last spring", "12345", "2016-13-01", "", "99"])
def test_a_date_that_is_not_a_day_is_an_error_naming_the_text(text):
    with pytest.raises(InvalidInput) as e:
        parse_day(text)
    assert repr(text) in str(e.value)


def test_an_import_with_dotted_korean_interview_dates_stores_them(ref_store, tmp_path):
    from geomap.intake.run import import_testimonies

    f = tmp_path / "dates.csv"
    f.write_text("witness_code,lat,lon,interview_date\n"
                 "SYN-D1,41.9,129.5,2016.4.5\nSYN-D2,41.9,129.6,2099-01-01\n", encoding="utf-8")
    report = import_testimonies(ref_store, f, actor="test")
    assert report.inserted == 1
    assert report.reasons == {"out_of_range": 1}
    assert "in the future" in report.problems[0]["problems"][0]["message"]
