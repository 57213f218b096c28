"""Readers turn a file into (row number, {column: text}) pairs.

Every reader is total: whatever bytes a file holds, reading it either yields rows or raises
InvalidInput naming the file (and the line, row or feature where known); no other exception
escapes. Text is decoded strictly (UTF-8 with or without BOM, UTF-16/32 by BOM, then CP949 /
EUC-KR, the encodings Korean Excel and office software write), never with replacement
characters. Untrusted XML is parsed with defusedxml; KMZ and XLSX archives are capped in
entries and unpacked size before anything is unpacked.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from defusedxml import ElementTree as DET

from ..errors import InvalidInput
from ..messages import N_, Message
from ..paths import check_local_path

Row = dict[str, str]
KMZ_MAX_ENTRIES = 100
KMZ_MAX_BYTES = 50 * 1024 * 1024
XLSX_MAX_ENTRIES = 1_000
XLSX_MAX_BYTES = 256 * 1024 * 1024  # unpacked; a 100,000-row sheet is ~50 MB of XML
KML_NS = "{http://www.opengis.net/kml/2.2}"
# charset-normalizer's names for the Korean encodings; CP949 (Windows "ANSI" in Korea) is a
# superset of EUC-KR (it adds the 8,822 syllables EUC-KR lacks, such as 똠 and 햏)
KOREAN = {"cp949", "euc_kr", "johab", "iso2022_kr"}
SUPPORTED = "UTF-8, UTF-16 or CP949/EUC-KR"
_MAX_MESSAGE = 200
MAX_COLUMN_NAME = 200


class Rows:
    """The rows of one file: iterable (more than once), with the text encoding it was read in
    (None for XLSX). Iterating raises only InvalidInput."""

    def __init__(self, name: str, make: Callable[[], Iterator[tuple[int, Row]]],
                 encoding: str | None = None,
                 scan: Callable[[], Iterator[tuple[int, Row]]] | None = None):
        self.name, self._make, self.encoding = name, make, encoding
        # `scan`: the same rows with their values left out (one dict of the column names
        # for all), for a pass that only proves the file readable
        self._scan = scan
        # the row a spreadsheet's header was found on, once iterated (None: the first row)
        self.header_row: int | None = None
        self.sheet: str | None = None  # the workbook sheet read, when not the first

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return self._rows(self._make)

    def scan(self) -> int:
        """Read the whole file once, raising what iterating would raise (InvalidInput naming
        the row), and return how many rows it holds: an import refuses a damaged file before
        it stores anything. Cheaper than iterating where the reader can skip the values."""
        n = 0
        for n, _ in self._rows(self._scan or self._make):  # noqa: B007 - the last row number
            pass
        return n

    def _rows(self, make: Callable[[], Iterator[tuple[int, Row]]]
              ) -> Iterator[tuple[int, Row]]:
        last = 0
        named: set = set()  # column names checked already (a table's rows repeat them)
        try:
            for n, row in make():
                last = n
                if not row.keys() <= named:
                    for k in row:  # a column name is a label, not data (later steps match it)
                        if len(k) > MAX_COLUMN_NAME:
                            raise InvalidInput(Message(N_(
                                "%(name)s: row %(row)s: a column name is %(length)s characters "
                                "long (at most %(max)s); is the header row damaged?"),
                                name=self.name, row=n, length=f"{len(k):,}",
                                max=MAX_COLUMN_NAME))
                    named.update(row)
                yield n, row
        except InvalidInput:
            raise
        except Exception as e:  # whatever a parser raises on hostile bytes
            if last:
                raise InvalidInput(Message(N_("%(name)s: unreadable after row %(row)s (%(error)s)"),
                                           name=self.name, row=last, error=_brief(e))) from None
            raise InvalidInput(Message(N_("%(name)s: unreadable at the start (%(error)s)"),
                                       name=self.name, error=_brief(e))) from None


def _brief(e: BaseException) -> str:
    # one line: some parsers' messages span lines (lxml's, when openpyxl finds it installed)
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def read_rows(path: str | Path, name: str | None = None) -> Rows:
    """Rows of a local file; `name` is what messages call it (the user's own file name when the
    file was saved under a name the server chose)."""
    p = check_local_path(path)
    ext = p.suffix.lower()
    readers = {".csv": _csv, ".tsv": _csv, ".txt": _csv, ".xlsx": _xlsx, ".geojson": _geojson,
               ".json": _geojson, ".kml": _kml, ".kmz": _kmz, ".gpkg": _gpkg}
    if ext not in readers:
        raise InvalidInput(Message(N_("%(name)s: unsupported file type %(ext)r; use CSV, XLSX, "
                                      "GeoJSON, KML, KMZ or GeoPackage"), name=name or p.name,
                                   ext=ext))
    try:
        return readers[ext](p, name or p.name)
    except InvalidInput:
        raise
    except OSError as e:
        raise InvalidInput(Message(N_("%(name)s: cannot be read (%(error)s)"),
                                   name=name or p.name, error=e.strerror or _brief(e))) from None
    except Exception as e:  # a parser's own error on hostile bytes
        raise InvalidInput(Message(N_("%(name)s: unreadable (%(error)s)"), name=name or p.name,
                                   error=_brief(e))) from None


# -- text --------------------------------------------------------------------------------------
def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """(text, encoding name) of a text file, decoded strictly; InvalidInput naming the line
    otherwise. Detectors misjudge short files, so the order is: BOMs, strict UTF-8, then
    charset-normalizer with CP949 preferred among Korean candidates. Text with NUL characters
    (in whatever encoding) is binary data, not a table."""
    text, label = _decode(data, name)
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise InvalidInput(Message(N_("%(name)s: line %(line)s contains a NUL byte; this is not "
                                      "a text file"), name=name, line=line))
    return text, label


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for bom, codec, label in ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"),
                              (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
                              (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
                              (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
                              (codecs.BOM_UTF16_BE, "utf-16", "UTF-16")):
        if data.startswith(bom):
            return _strict(data, codec, label, name), label
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        first = e
    else:
        if "\x00" not in text:
            return text, "UTF-8"
        # NULs in ASCII text: UTF-16 without a BOM, or binary data
        evens, odds = data[0::2].count(0), data[1::2].count(0)
        if len(data) % 2 == 0 and max(evens, odds) >= len(data) // 4 and min(evens, odds) == 0:
            codec = "utf-16-le" if odds > evens else "utf-16-be"
            return _strict(data, codec, "UTF-16", name), "UTF-16"
        return text, "UTF-8"
    # bytes that are valid UTF-8 sequences around a few broken ones: a damaged UTF-8 file
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    if sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd") >= 10 * broken:
        raise _undecodable(name, data, first, "UTF-8")
    from charset_normalizer import from_bytes

    guesses = [m.encoding for m in from_bytes(data[:1_000_000])]
    if any(g in KOREAN for g in guesses) or _looks_cp949(data):
        return _strict(data, "cp949", "CP949", name), "CP949"
    utf = next((g for g in guesses if g.startswith(("utf_16", "utf_32"))), None)
    if utf:
        return _strict(data, utf, utf.upper().replace("_", "-"), name), utf.upper()
    raise InvalidInput(Message(N_(
        "%(name)s: the text is not %(supported)s%(looks)s; line %(line)s has bytes that are not "
        "UTF-8. Save it as UTF-8 (Excel: \"CSV UTF-8\") and import it again"), name=name,
        supported=SUPPORTED, looks={"en": f" (it looks like {guesses[0]})",
                                    "ko": f" ({guesses[0]}(으)로 보입니다)"} if guesses else "",
        line=_line(data, first.start, "utf-8")))


def _looks_cp949(data: bytes) -> bool:
    """Korean text in CP949, perhaps with a few damaged bytes (short files defeat statistical
    detectors): nearly all non-ASCII characters are Hangul, and broken sequences are rare."""
    text = data.decode("cp949", "replace")
    broken = text.count("\ufffd")
    wide = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e")
    return hangul > 0 and hangul >= 0.8 * wide and hangul >= 10 * broken


def _strict(data: bytes, codec: str, label: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise _undecodable(name, data, e, label) from None


def _line(data: bytes, pos: int, codec: str) -> int:
    return data[:pos].decode(codec, "replace").count("\n") + 1


def _undecodable(name: str, data: bytes, e: UnicodeDecodeError, label: str) -> InvalidInput:
    codec = "utf-16" if label.startswith("UTF-16") else "utf-32" if label.startswith(
        "UTF-32") else "latin-1"
    return InvalidInput(Message(N_(
        "%(name)s: line %(line)s is not valid %(encoding)s text (byte %(byte)s); the file is "
        "damaged or mixes encodings: save it again as UTF-8 and re-import"), name=name,
        line=_line(data, e.start, codec), encoding=label,
        byte=e.object[e.start:e.start + 1].hex() or "—"))


# -- CSV / TSV / TXT ---------------------------------------------------------------------------
STREAM_CHUNK = 1 << 20


def _csv(p: Path, name: str) -> Rows:
    streamed = _streamable_utf8(p)
    if streamed is None:  # any other encoding, or a problem: the whole-file rules decide
        text, encoding = decode_text(p.read_bytes(), name)
        rows = Rows(name, lambda: _csv_rows(text, _lines(text), p, name, rows), encoding,
                    scan=lambda: _csv_rows(text, _lines(text), p, name, rows, values=False))
    else:  # the common case, read from the file as it is iterated (memory: one row)
        codec, encoding = streamed
        rows = Rows(name, lambda: _csv_file_rows(p, codec, name, rows), encoding,
                    scan=lambda: _csv_file_rows(p, codec, name, rows, values=False))
    return rows


def _streamable_utf8(p: Path) -> tuple[str, str] | None:
    """(codec, label) of a file that is strict UTF-8 (with or without a BOM) and holds no NUL,
    checked in chunks without keeping the text; None for anything else, which decode_text
    decides (with its messages). Its answer for such a file is the same, from the whole text."""
    with p.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            codec, label = "utf-8-sig", "UTF-8 (BOM)"
        elif head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE,
                              codecs.BOM_UTF16_BE)):
            return None
        else:
            codec, label = "utf-8", "UTF-8"
        fh.seek(0)
        dec = codecs.getincrementaldecoder(codec)("strict")
        try:
            while chunk := fh.read(STREAM_CHUNK):
                if "\x00" in dec.decode(chunk):
                    return None
            if "\x00" in dec.decode(b"", final=True):
                return None
        except UnicodeDecodeError:
            return None
    return codec, label


def _csv_file_rows(p: Path, codec: str, name: str, rows: Rows, values: bool = True
                   ) -> Iterator[tuple[int, Row]]:
    with p.open(encoding=codec, newline="") as fh:  # the text up to the 20th line break
        head, breaks = [], 0
        for line in fh:
            head.append(line)
            breaks += line.count("\n")
            if breaks >= HEADER_SEARCH_ROWS:
                break
    with p.open(encoding=codec, newline="") as fh:
        yield from _csv_rows("".join(head), fh, p, name, rows, values)


HEADER_SEARCH_ROWS = 20  # how far down a title block may push the header row


def _header_score(cells: list[str]) -> int:
    from .mapping import resolve_columns

    return len(resolve_columns([c for c in cells if c], None))


def _split_header(lines: Iterator[tuple[int, list[str]]], rows: Rows, name: str
                  ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header row and the rows after it. Spreadsheets as offices save them often open with
    a title, a date or a blank line above the header: the header is the first of the first
    non-blank rows in which the most column names are recognised (at least two); when no row
    is recognised, the first non-blank row (the mapping step names its columns)."""
    seen: list[tuple[int, list[str]]] = []  # every row read so far, blank ones included
    cands: list[int] = []  # indexes into `seen` of the non-blank rows
    for n, cells in lines:
        seen.append((n, [c.strip() for c in cells]))
        if any(seen[-1][1]):
            cands.append(len(seen) - 1)
            if len(cands) >= HEADER_SEARCH_ROWS or _header_score(seen[-1][1]) >= 3:
                break
    if not cands:
        raise InvalidInput(Message(N_("%(name)s: no header row"), name=name))
    scores = {i: _header_score(seen[i][1]) for i in cands}
    best = max(cands, key=lambda i: (scores[i], -i))
    pick = best if scores[best] >= 2 else cands[0]
    if pick != 0:
        rows.header_row = seen[pick][0]

    def rest() -> Iterator[tuple[int, list[str]]]:
        yield from seen[pick + 1:]
        yield from lines

    return seen[pick][1], rest()


def _delimiter(header_line: str, ext: str) -> str:
    """The separator is the candidate the header line uses most (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        return "\t" if ext == ".tsv" else ","
    return best


def _consistent_delimiter(lines: list[str]) -> str | None:
    """The separator every line with separators uses the same number of times (outside
    quotes), the most used if several; None when none is consistent (title rows, ragged rows,
    quoted line breaks: `_delimiter` decides). Values joined by "|" in a comma-separated file
    (Uwazi's multi-values, "39.1|127.2") outnumber the commas on some rows, not on all."""
    counts = []
    for ln in lines:
        unquoted = re.sub(r'"[^"]*"', "", ln)
        c = {d: unquoted.count(d) for d in (",", ";", "\t", "|")}
        if any(c.values()):
            counts.append(c)
    if len(counts) < 2:
        return None
    steady = [d for d in (",", ";", "\t", "|")
              if counts[0][d] > 0 and all(c[d] == counts[0][d] for c in counts)]
    return max(steady, key=lambda d: counts[0][d]) if steady else None


_NEWLINE = re.compile(r"\r\n?|\n")


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` with their endings, one at a time, as io.StringIO(text, newline="")
    gives them (\r\n, \r or \n): a StringIO would copy the whole text once more, at four
    bytes a character."""
    pos = 0
    for m in _NEWLINE.finditer(text):
        yield text[pos:m.end()]
        pos = m.end()
    if pos < len(text):
        yield text[pos:]


def _csv_rows(head: str, lines: Iterable[str], p: Path, name: str, rows: Rows,
              values: bool = True) -> Iterator[tuple[int, Row]]:
    """Rows of the text whose `lines` are given; `head` is its start, up to at least the
    HEADER_SEARCH_ROWS-th line break (or all of it). Without `values`, every row is parsed
    as it would be but given as one shared {column: ""} (Rows.scan)."""
    # the separator from the first line that is not a title: the one with the most separators
    first_lines = head.split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS]
    reader = csv.reader(lines, delimiter=_consistent_delimiter(first_lines)
                        or _delimiter(max(first_lines, key=lambda ln: max(
                            ln.count(d) for d in (",", ";", "\t", "|"))), p.suffix.lower()))
    try:
        # row numbers as a spreadsheet shows them: the first line is row 1, blank lines count
        names, body = _split_header(enumerate(reader, start=1), rows, name)
        if not values:
            columns = {n: "" for n in names if n}
            for i, _ in body:
                yield i, columns
            return
        for i, cells in body:
            yield i, {n: v.strip() for n, v in zip(names, cells, strict=False) if n}
    except csv.Error as e:
        if "field limit" in str(e):
            raise InvalidInput(Message(N_(
                "%(name)s: line %(line)s: a field is longer than %(max)s characters (an "
                "unclosed quote?)"), name=name, line=reader.line_num,
                max=f"{csv.field_size_limit():,}")) from None
        raise InvalidInput(Message(N_("%(name)s: line %(line)s: %(error)s"), name=name,
                                   line=reader.line_num, error=str(e))) from None


def _xlsx(p: Path, name: str) -> Rows:
    from openpyxl import load_workbook

    _check_zip(p, name, XLSX_MAX_ENTRIES, XLSX_MAX_BYTES, "XLSX workbook")
    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as e:  # zipfile / openpyxl / XML errors
        raise InvalidInput(Message(N_("%(name)s: not a readable XLSX workbook (%(error)s)"),
                                   name=name, error=_brief(e))) from None

    def rows() -> Iterator[tuple[int, Row]]:
        if not wb.worksheets:
            raise InvalidInput(Message(N_("%(name)s: the workbook has no sheet"), name=name))
        ws = _data_sheet(wb)
        if ws is not wb.worksheets[0]:
            out.sheet = ws.title
        it = ws.iter_rows(values_only=True)
        cells = ((i, [_cell(v) for v in (values or ())]) for i, values in enumerate(it, start=1))
        try:
            names, body = _split_header(cells, out, name)
        except InvalidInput:
            raise InvalidInput(Message(N_("%(name)s: the sheet %(sheet)r has no header row"),
                                       name=name, sheet=ws.title)) from None
        for i, values in body:
            yield i, {n: v for n, v in zip(names, values, strict=False) if n}

    out = Rows(name, rows)
    return out


XLSX_MAX_SHEETS_SEARCHED = 10


def _data_sheet(wb):
    """The sheet that holds the testimonies: workbooks often open with a cover or instructions
    sheet. The first sheet whose first rows hold the most recognised column names (at least
    two); the first sheet when none does."""
    best, best_score = wb.worksheets[0], 1
    for ws in wb.worksheets[:XLSX_MAX_SHEETS_SEARCHED]:
        rows = ws.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True)
        score = max((_header_score([_cell(v) for v in (r or ())]) for r in rows), default=0)
        if score > best_score:
            best, best_score = ws, score
    return best


def _check_zip(p: Path, name: str, max_entries: int, max_bytes: int,
               what: str) -> list[zipfile.ZipInfo]:
    """Entries and declared unpacked size, checked before anything is unpacked (zipfile never
    returns more than an entry's declared size, so this caps the work)."""
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except Exception as e:  # BadZipFile, and whatever a damaged central directory raises
        raise InvalidInput(Message(N_("%(name)s: not a readable %(what)s (zip archive: "
                                      "%(error)s)"), name=name, what=what, error=_brief(e))) \
            from None
    if len(infos) > max_entries:
        raise InvalidInput(Message(N_("%(name)s: %(n)s entries; at most %(max)s"), name=name,
                                   n=len(infos), max=max_entries))
    if sum(i.file_size for i in infos) > max_bytes:
        raise InvalidInput(Message(N_("%(name)s: unpacks to more than %(mb)s MB"), name=name,
                                   mb=max_bytes // 2**20))
    return infos


def _cell(v) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10]
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def load_json(text: str, name: str):
    """A JSON document, or a refusal naming the file (and no 500 on deep nesting)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput(Message(N_("%(name)s: not valid JSON (nested too deeply)"),
                                   name=name)) from None
    except ValueError as e:
        raise InvalidInput(Message(N_("%(name)s: not valid JSON (%(error)s)"), name=name,
                                   error=_brief(e))) from None


def _geojson(p: Path, name: str) -> Rows:
    text, encoding = decode_text(p.read_bytes(), name)
    doc = load_json(text, name)
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" \
            or not isinstance(feats, list):
        raise InvalidInput(Message(N_(
            "%(name)s: expected a GeoJSON FeatureCollection (an object with \"type\": "
            "\"FeatureCollection\" and a list of \"features\")"), name=name))
    # the structure is checked before any row is handed out
    for i, f in enumerate(feats, start=1):
        if not isinstance(f, dict):
            raise InvalidInput(Message(N_("%(name)s: feature %(i)s is not an object"),
                                       name=name, i=i))
        for member in ("properties", "geometry"):
            if not isinstance(f.get(member), dict | None):
                raise InvalidInput(Message(N_(
                    "%(name)s: feature %(i)s: \"%(member)s\" is not an object"), name=name,
                    i=i, member=member))

    def rows() -> Iterator[tuple[int, Row]]:
        for i, f in enumerate(feats, start=1):
            row = {str(k): _prop(v) for k, v in (f.get("properties") or {}).items()}
            if f.get("geometry"):
                row["geometry"] = json.dumps(f["geometry"])
            yield i, row

    return Rows(name, rows, encoding)


def _prop(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):  # ["torture", "forced_labour"] -> "torture; forced_labour"
        return "; ".join(_prop(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"'][^>]*\?>")


def _kml_text(data: bytes, name: str) -> tuple[str, str]:
    """KML as text: the encoding its XML declaration names, else the text rules above."""
    m = _XML_DECL.match(data)
    if m and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        label = m.group(1).decode("ascii")
        try:
            codec = codecs.lookup(label).name
        except LookupError:
            raise InvalidInput(Message(N_(
                "%(name)s: unknown encoding %(encoding)r in the XML declaration"), name=name,
                encoding=label)) from None
        if codec in ("euc_kr", "euc-kr"):
            codec = "cp949"  # what "EUC-KR" files hold in practice
        text = _strict(data, codec, label.upper(), name)
    else:
        text, label = decode_text(data, name)
    # the text is decoded: the declaration must not make the parser decode it again
    return re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", "", text, count=1), label


def _kml_rows(data: bytes, name: str) -> Rows:
    text, encoding = _kml_text(data, name)
    try:
        root = DET.fromstring(text)
    except Exception as e:  # defusedxml raises on entities, DTDs and bad XML alike
        raise InvalidInput(Message(N_("%(name)s: not safe, well-formed KML (%(error)s)"),
                                   name=name, error=_brief(e))) from None

    def rows() -> Iterator[tuple[int, Row]]:
        ns = KML_NS if root.tag.startswith(KML_NS) else ""
        for i, pm in enumerate(root.iter(f"{ns}Placemark"), start=1):
            row: Row = {}
            for tag in ("name", "description"):
                el = pm.find(f"{ns}{tag}")
                if el is not None and el.text:
                    row[tag] = el.text.strip()
            for data_el in pm.iter(f"{ns}Data"):
                v = data_el.find(f"{ns}value")
                if data_el.get("name"):
                    row[data_el.get("name")] = (v.text or "").strip() if v is not None else ""
            for sd in pm.iter(f"{ns}SimpleData"):
                if sd.get("name"):
                    row[sd.get("name")] = (sd.text or "").strip()
            coords = pm.find(f".//{ns}Point/{ns}coordinates")
            if coords is not None and coords.text and coords.text.strip():
                row["geometry"] = _kml_point(coords.text, name, i)
            yield i, row

    return Rows(name, rows, encoding)


def _kml_point(text: str, name: str, i: int) -> str:
    first = text.strip().split()[0]
    parts = first.split(",")
    try:
        lon, lat = float(parts[0]), float(parts[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError
    except (ValueError, IndexError):
        raise InvalidInput(Message(N_(
            "%(name)s: placemark %(i)s: coordinates %(text)r are not "
            "\"longitude,latitude[,altitude]\""), name=name, i=i, text=first[:60])) from None
    return f"POINT ({lon!r} {lat!r})"


def _kml(p: Path, name: str) -> Rows:
    return _kml_rows(p.read_bytes(), name)


def _kmz(p: Path, name: str) -> Rows:
    infos = _check_zip(p, name, KMZ_MAX_ENTRIES, KMZ_MAX_BYTES, "KMZ")
    kmls = [i for i in infos if i.filename.lower().endswith(".kml")]
    if not kmls:
        raise InvalidInput(Message(N_("%(name)s: no .kml inside"), name=name))
    main = next((i for i in kmls if i.filename.lower() == "doc.kml"), kmls[0])
    try:
        with zipfile.ZipFile(p) as z, z.open(main) as fh:  # a cap: the declared size may lie
            data = fh.read(KMZ_MAX_BYTES + 1)
    except Exception as e:  # bad CRC, damaged deflate data, unknown compression, encryption
        raise InvalidInput(Message(N_("%(name)s: %(entry)s cannot be unpacked (%(error)s)"),
                                   name=name, entry=main.filename[:80], error=_brief(e))) \
            from None
    if len(data) > KMZ_MAX_BYTES:
        raise InvalidInput(Message(N_("%(name)s: %(entry)s is larger than declared"), name=name,
                                   entry=main.filename[:80]))
    return _kml_rows(data, f"{name}:{main.filename[:80]}")


def _gpkg(p: Path, name: str) -> Rows:
    """A GeoPackage's first layer through GDAL (pyogrio): attributes as text, the geometry as
    WKT. Read whole: a GeoPackage is a database, not a stream."""
    import warnings

    import pyogrio

    with p.open("rb") as fh:
        head = fh.read(16)
    if not head.startswith(b"SQLite format 3"):
        raise InvalidInput(Message(N_("%(name)s: not a GeoPackage (no SQLite header)"),
                                   name=name))
    with warnings.catch_warnings():  # GDAL's notes on odd files; a failure still raises
        warnings.simplefilter("ignore", RuntimeWarning)
        df = pyogrio.read_dataframe(p, read_geometry=True)

    def rows() -> Iterator[tuple[int, Row]]:
        geoms = df.geometry if "geometry" in df else None
        cols = [c for c in df.columns if c != "geometry"]
        for i, rec in enumerate(df[cols].itertuples(index=False, name=None), start=1):
            row = {c: "" if _missing(v) else _cell(v) for c, v in zip(cols, rec, strict=True)}
            g = geoms.iloc[i - 1] if geoms is not None else None
            if g is not None and not g.is_empty:
                row["geometry"] = g.wkt
            yield i, row

    return Rows(name, rows, "UTF-8")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def rows_from_bytes(data: bytes, filename: str) -> Iterator[tuple[int, Row]]:
    """For uploads: the same readers on bytes (written to a private temporary file)."""
    import tempfile

    suffix = Path(filename).suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp:
        tmp.write(data)
    try:
        yield from read_rows(tmp.name, name=Path(filename).name)
    finally:
        Path(tmp.name).unlink(missing_ok=True)


__all__ = ["read_rows", "rows_from_bytes", "decode_text", "Row", "Rows"]
