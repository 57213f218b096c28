from datetime import date

import pytest

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
