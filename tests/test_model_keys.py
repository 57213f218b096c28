"""A testimony's content key must not change between versions: the store finds a re-imported
row by the keyed HMAC of `content_payload`, so a payload that changed by one byte would import
every testimony of an old file a second time. These texts are what the first versions wrote."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from geomap.model import Relationship, Testimony, Violation
from geomap.periods import parse_period


def test_the_content_payload_of_a_point_testimony_is_the_one_earlier_versions_keyed():
    t = Testimony(
        witness_code="SYN-W-0001", place_text="요덕 15호", geometry=Point(126.8951234, 39.7131234),
        radius_m=500.0, precision=None, period=parse_period("1998-2001"),
        violations=[Violation("torture"), Violation("forced_labour")],
        relationship=Relationship("detained"), interview_date=date(2012, 3, 4),
        narrative='[SYNTHETIC] "quoted" 한국어 line\nnext')
    assert t.content_payload() == (
        '{"d": "2012-03-04", "g": [126.895123, 39.713123], "n": "[SYNTHETIC] \\"quoted\\" '
        '한국어 line\\nnext", "p": "요덕 15호", "r": 500.0, "rel": "detained", '
        '"t": "1998-2001", "v": ["forced_labour", "torture"], "w": "SYN-W-0001"}')


def test_the_content_payload_of_an_area_or_empty_testimony_is_the_one_earlier_versions_keyed():
    t = Testimony(witness_code="SYN-W-0002", place_text=None,
                  geometry=Polygon([(126, 39), (127, 39), (127, 40)]), radius_m=None,
                  precision=None, period=None)
    assert t.content_payload() == (
        '{"d": null, "g": "POLYGON ((126 39, 127 39, 127 40, 126 39))", "n": null, "p": null, '
        '"r": null, "rel": null, "t": null, "v": [], "w": "SYN-W-0002"}')


_text = st.one_of(st.none(), st.text(max_size=30))
_coord = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def _testimonies(draw):
    kind = draw(st.sampled_from(["point", "polygon", "none"]))
    if kind == "point":
        geom = Point(draw(_coord), draw(_coord))
    elif kind == "polygon":
        geom = Polygon([(126, 39), (127, 39), (draw(st.floats(126, 127)), 40)])
    else:
        geom = None
    return Testimony(
        witness_code=draw(st.text(max_size=20)), place_text=draw(_text), geometry=geom,
        radius_m=draw(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                                st.integers(-10**20, 10**20), st.booleans())),
        precision=None,
        period=draw(st.one_of(st.none(), st.sampled_from(["1997", "1998-2001", "c. 1995"])
                              .map(parse_period))),
        violations=draw(st.lists(st.sampled_from(list(Violation)), max_size=4)),
        relationship=draw(st.one_of(st.none(), st.sampled_from(list(Relationship)))),
        interview_date=draw(st.one_of(st.none(), st.dates())),
        narrative=draw(_text))


@settings(max_examples=400, deadline=None)
@given(t=_testimonies())
def test_the_content_payload_is_always_the_canonical_json_of_its_fields(t):
    """The payload written out field by field equals json.dumps of the fields, whatever they
    hold (quotes, control characters, non-BMP text, NaN, huge integers, flags, no values)."""
    assert t.content_payload() == json.dumps(t.payload_fields(), sort_keys=True,
                                             ensure_ascii=False)
