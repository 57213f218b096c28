import calendar
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geomap.errors import PeriodParseError
from geomap.periods import Period, parse_period

D = date


@pytest.mark.parametrize(
    "text, earliest, latest",
    [
        ("1997", D(1997, 1, 1), D(1997, 12, 31)),
        ("1998-2001", D(1998, 1, 1), D(2001, 12, 31)),
        ("1998 – 2001", D(1998, 1, 1), D(2001, 12, 31)),
        ("from 1998 until 2001", D(1998, 1, 1), D(2001, 12, 31)),
        ("spring 2004", D(2004, 3, 1), D(2004, 5, 31)),
        ("winter 2003", D(2003, 12, 1), D(2004, 2, 29)),
        ("c. 1995", D(1993, 1, 1), D(1997, 12, 31)),
        ("circa 1995", D(1993, 1, 1), D(1997, 12, 31)),
        ("before 2010", None, D(2009, 12, 31)),
        ("after 2012", D(2013, 1, 1), None),
        # "2003-05": the wider reading (2003 to 2005) also contains May 2003
        ("2003-05", D(2003, 1, 1), D(2005, 12, 31)),
        ("1998-01", D(1998, 1, 1), D(2001, 12, 31)),
        ("May 2004", D(2004, 5, 1), D(2004, 5, 31)),
        ("Sept. 2004", D(2004, 9, 1), D(2004, 9, 30)),
        ("1990s", D(1990, 1, 1), D(1999, 12, 31)),
        ("early 1990s", D(1990, 1, 1), D(1993, 12, 31)),
        ("late 1980s", D(1986, 1, 1), D(1989, 12, 31)),
        ("2004-05-17", D(2004, 5, 17), D(2004, 5, 17)),
        ("May 2004 - Jan 2005", D(2004, 5, 1), D(2005, 1, 31)),
        ("2004년", D(2004, 1, 1), D(2004, 12, 31)),
        ("2004년 봄", D(2004, 3, 1), D(2004, 5, 31)),
        ("2004년 5월", D(2004, 5, 1), D(2004, 5, 31)),
        ("1990년대", D(1990, 1, 1), D(1999, 12, 31)),
        ("2010년 이전", None, D(2009, 12, 31)),
        ("2012년 이후", D(2013, 1, 1), None),
        ("1995년경", D(1993, 1, 1), D(1997, 12, 31)),
    ],
)
def test_parses_vague_dates_into_bounds_and_keeps_the_text(text, earliest, latest):
    p = parse_period(text)
    assert (p.earliest, p.latest) == (earliest, latest)
    assert p.text == text


@pytest.mark.parametrize(
    "text, reason",
    [
        ("yesterday", "not in a form"),
        ("sometime in the nineties", "not in a form"),
        ("2001-1998", "before it starts"),
        ("1850", "outside"),
        ("2004-02-30", "day is out of range"),
        ("2004년 13월", "month 13"),
    ],
)
def test_unparseable_text_is_an_error_naming_the_text(text, reason):
    with pytest.raises(PeriodParseError) as e:
        parse_period(text)
    assert repr(text) in str(e.value)
    assert reason in str(e.value)


def test_empty_text_is_no_period():
    assert parse_period("") is None
    assert parse_period("   ") is None
    assert parse_period(None) is None


@pytest.mark.parametrize(
    "a, b, overlap",
    [
        ("1997", "1997", True),
        ("1997", "1998", False),
        ("1998-2001", "2001", True),
        ("before 2010", "2009", True),
        ("before 2010", "2010", False),
        ("after 2012", "2013", True),
        ("after 2012", "2012", False),
        ("before 2010", "after 2012", False),
        ("winter 2003", "Feb 2004", True),
    ],
)
def test_overlap_uses_bounds_with_open_ends(a, b, overlap):
    assert parse_period(a).overlaps_period(parse_period(b)) is overlap
    assert parse_period(b).overlaps_period(parse_period(a)) is overlap


def test_open_period_overlaps_everything():
    assert Period("unknown", None, None).overlaps(D(1950, 1, 1), D(1950, 1, 2))


# -- issue 9, item 5: range separators only at token boundaries; named periods ------------------
@pytest.mark.parametrize("text", ["October 2003 to June 2004", "October 2003 - June 2004",
                                  "Oct. 2003 – Jun 2004", "october 2003 through june 2004",
                                  "from October 2003 until June 2004",
                                  "2003년 10월부터 2004년 6월까지", "2003년 10월에서 2004년 6월까지",
                                  "2003년 10월 ~ 2004년 6월"])
def test_october_2003_to_june_2004_is_a_range_not_a_split_inside_october(text):
    p = parse_period(text)
    assert (p.earliest, p.latest) == (D(2003, 10, 1), D(2004, 6, 30))


@pytest.mark.parametrize("text, earliest, latest", [
    ("October to December 2003", D(2003, 10, 1), D(2003, 12, 31)),
    ("November to February 2004", D(2003, 11, 1), D(2004, 2, 29)),
    ("2003년 10월~12월", D(2003, 10, 1), D(2003, 12, 31)),
    ("2004-05-17 - 2004-06-01", D(2004, 5, 17), D(2004, 6, 1)),
    ("mid-1990s to 2001", D(1993, 1, 1), D(2001, 12, 31)),
    ("1998부터 2001까지", D(1998, 1, 1), D(2001, 12, 31)),
])
def test_a_month_without_a_year_and_dashes_inside_dates_do_not_break_ranges(text, earliest,
                                                                           latest):
    p = parse_period(text)
    assert (p.earliest, p.latest) == (earliest, latest)


@pytest.mark.parametrize("text", ["Arduous March", "the Arduous March", "during the arduous march",
                                  "고난의 행군", "고난의행군", "고난의 행군 시기"])
def test_named_period_arduous_march_reads_as_1994_to_1998(text):
    p = parse_period(text)
    assert (p.earliest, p.latest) == (D(1994, 1, 1), D(1998, 12, 31))
    assert p.text == text


def test_named_periods_are_documented():
    from pathlib import Path

    import geomap.periods as periods

    doc = (Path(__file__).resolve().parents[1] / "docs" / "periods.md").read_text("utf-8")
    for y1, y2 in set(periods.NAMED_PERIODS.values()):
        assert f"{y1}-{y2}" in doc and f"{y1}-{y2}" in periods.__doc__
    assert "Arduous March" in doc and "고난의 행군" in doc


def test_a_word_containing_a_separator_is_not_a_range():
    # "to" inside "tomorrow"/"October" must not split; the error names the text
    with pytest.raises(PeriodParseError, match="'tomorrow 2004'"):
        parse_period("tomorrow 2004")


_MONTH_STYLES = [
    lambda y, m: f"{calendar.month_name[m]} {y}",
    lambda y, m: f"{calendar.month_abbr[m]} {y}",
    lambda y, m: f"{calendar.month_abbr[m]}. {y}",
    lambda y, m: f"{y}년 {m}월",
]


@given(y1=st.integers(1950, 2030), m1=st.integers(1, 12), dy=st.integers(0, 15),
       m2=st.integers(1, 12), style1=st.sampled_from(_MONTH_STYLES),
       style2=st.sampled_from(_MONTH_STYLES),
       sep=st.sampled_from([" - ", "-", " – ", "—", " ~ ", "~", " to ", " until ", " till ",
                            " through ", "부터 "]))
@settings(max_examples=300, deadline=None)
def test_any_month_range_with_any_separator_reads_as_its_bounds(y1, m1, dy, m2, style1, style2,
                                                                 sep):
    y2 = y1 + dy
    assume((y2, m2) >= (y1, m1))
    text = style1(y1, m1) + sep + style2(y2, m2) + ("까지" if sep == "부터 " else "")
    p = parse_period(text)
    assert p.earliest == D(y1, m1, 1)
    assert p.latest == D(y2, m2, calendar.monthrange(y2, m2)[1])
