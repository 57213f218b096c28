"""The fast import path keeps the slow one's answers: UTF-8 CSV read from the file as it is
iterated gives the rows the whole-text reader gives, memoised parsing gives the same verdicts,
and batch WKB gives the per-geometry values."""

from __future__ import annotations

import io
import random

import pytest
import shapely
from shapely.geometry import Point, Polygon

from geomap.intake.readers import Rows, _csv_rows, _lines, decode_text, read_rows
from geomap.intake.validate import Validator, resolve_columns
from geomap.store import geom_columns, geoms_columns


def test_lines_split_like_a_stringio_with_newline_empty():
    rng = random.Random(7)
    texts = ["", "a", "a\n", "a\r\nb\rc\n\nd", "\r\r\n\n", "x\u2028y\x0cz\r"]
    texts += ["".join(rng.choice('ab\r\n",\u2028') for _ in range(rng.randint(0, 40)))
              for _ in range(500)]
    for t in texts:
        assert list(_lines(t)) == list(io.StringIO(t, newline="")), repr(t)


def _whole_text_rows(p):
    text, encoding = decode_text(p.read_bytes(), p.name)
    rows = Rows(p.name, lambda: _csv_rows(text, _lines(text), p, p.name, rows), encoding)
    return list(rows), rows.encoding, rows.header_row


BODY = ("Witness code,Place,Lat,Lon,Period\r\nSYN-1,\"Yodok\nnorth gate\",39.7,126.9,1997\r\n"
        "SYN-2,회령,42.5,129.9,spring 2004\r\n,,,,\r\nSYN-3,Camp 15,39.71,126.89,c. 1995\r\n")


@pytest.mark.parametrize("data", [
    BODY.encode(),                                   # CRLF, quoted line break, a blank row
    b"\xef\xbb\xbf" + BODY.encode(),                 # UTF-8 with BOM
    BODY.replace("\r\n", "\r").encode(),             # old Mac line ends
    ("Testimony list\n\nexported 2024-01-01\n" + BODY.replace("\r\n", "\n")).encode(),
    BODY.replace(",", ";").encode(),                 # another separator
    BODY.encode("cp949"),                            # not UTF-8: the whole-text rules
    BODY.encode("utf-16"),
], ids=["crlf", "bom", "cr", "title-rows", "semicolon", "cp949", "utf16"])
def test_streamed_csv_rows_equal_the_whole_text_rows(tmp_path, data):
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    rows = read_rows(p)
    got = list(rows)
    assert (got, rows.encoding, rows.header_row) == _whole_text_rows(p)
    assert list(rows) == got  # iterable more than once
    assert any("회령" in r.values() for _, r in got)


def test_memoised_parsing_gives_each_row_its_own_identical_verdict():
    raw = {"witness_code": "SYN-1", "place_text": "Yodok", "period": "sometime",
           "radius_m": "far", "violations": "torture; nonsense"}
    v = Validator(None, resolve_columns(list(raw), None))
    first, second = v.check(2, dict(raw)), v.check(3, dict(raw))
    assert [p.as_dict() for p in first.problems] == [p.as_dict() for p in second.problems]
    assert {p.code for p in first.problems} == {"unparseable", "unknown_value"}
    assert first.problems is not second.problems
    ok = v.check(4, {**raw, "period": "1997", "radius_m": "2 km", "violations": "torture"})
    assert ok.testimony is not None and ok.testimony.radius_m == 2000.0
    assert str(ok.testimony.period.earliest) == "1997-01-01"


def test_batch_geometry_columns_equal_the_single_ones():
    gs = [Point(126.1234567, 39.7654321), None, shapely.from_wkt("POINT EMPTY"),
          Polygon([(0, 0), (1, 0), (1, 1)]), Point(1, 2)]
    assert geoms_columns(gs) == [geom_columns(g) for g in gs]
    assert geoms_columns([]) == []
