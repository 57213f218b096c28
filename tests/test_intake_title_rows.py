"""Spreadsheets as offices save them: a title, a date or blank lines above the header row."""

from datetime import datetime

import pytest
from openpyxl import Workbook

from geomap.errors import InvalidInput
from geomap.intake.readers import read_rows
from geomap.intake.run import import_testimonies

TITLE_CSV = ("북한 구금시설 증언 목록 (합성 자료),,,\n"
             "작성: 2019-05-01,,,\n"
             ",,,\n"
             "Witness ID,Lat (N),Long (E),Period\n"
             "SYN-T001,42.44,129.75,October 2003 - June 2004\n"
             ",,,\n"
             "SYN-T002,41.9,129.6,1999\n")


def test_a_title_block_above_the_header_does_not_become_the_header(ref_store, tmp_path):
    f = tmp_path / "title.csv"
    f.write_text(TITLE_CSV, encoding="utf-8")
    rows = read_rows(f)
    got = list(rows)
    assert rows.header_row == 4
    assert [n for n, _ in got] == [5, 6, 7]  # row numbers as the spreadsheet shows them
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined, report.blank_rows) == (2, 0, 1)
    assert any("row 4" in note for note in report.notes)


def test_an_xlsx_with_a_title_row_imports_from_the_real_header(ref_store, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Testimonies 2019 (synthetic)"])
    ws.append([])
    ws.append(["Witness ID", "Lat (N)", "Long (E)", "Interview date"])
    ws.append(["SYN-X1", 42.44, 129.75, datetime(2019, 5, 1)])
    ws.append(["SYN-X2", "42°26'N", "129°45'E", "2019. 5. 2."])
    f = tmp_path / "title.xlsx"
    wb.save(f)
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (2, 0)


def test_a_first_row_header_is_kept_even_when_nothing_in_it_is_recognised(ref_store, tmp_path):
    f = tmp_path / "odd.csv"
    f.write_text("Wtness ref,Lattitude,Longitud\nW-1,39.7,126.9\n", encoding="utf-8")
    rows = read_rows(f)
    assert list(rows)[0][1] == {"Wtness ref": "W-1", "Lattitude": "39.7", "Longitud": "126.9"}
    assert rows.header_row is None
    with pytest.raises(InvalidInput, match="witness_code"):
        import_testimonies(ref_store, f, actor="test")


def test_a_workbook_that_opens_with_an_instructions_sheet_reads_the_data_sheet(ref_store,
                                                                               tmp_path):
    wb = Workbook()
    cover = wb.active
    cover.title = "안내"
    cover.append(["이 파일은 합성 자료입니다 (synthetic)."])
    cover.append(["Fill in one row per testimony."])
    data = wb.create_sheet("증언")
    data.append(["증언자 번호", "위도", "경도", "시기"])
    data.append(["SYN-S1", 42.44, 129.75, "1999"])
    data.append(["SYN-S2", 41.9, 129.6, "2001"])
    f = tmp_path / "cover.xlsx"
    wb.save(f)
    rows = read_rows(f)
    assert len(list(rows)) == 2 and rows.sheet == "증언"
    report = import_testimonies(ref_store, f, actor="test")
    assert (report.inserted, report.quarantined) == (2, 0)
    assert any("증언" in note for note in report.notes)
