"""Readers turn a file into (row number, {column: text}) pairs, streaming where the format
allows. Untrusted XML is parsed with defusedxml; KMZ archives are capped in entries and size."""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from defusedxml import ElementTree as DET

from ..errors import InvalidInput
from ..paths import check_local_path

Row = dict[str, str]
KMZ_MAX_ENTRIES = 100
KMZ_MAX_BYTES = 50 * 1024 * 1024
KML_NS = "{http://www.opengis.net/kml/2.2}"


def read_rows(path: str | Path) -> Iterator[tuple[int, Row]]:
    p = check_local_path(path)
    ext = p.suffix.lower()
    readers = {".csv": _csv, ".tsv": _csv, ".txt": _csv, ".xlsx": _xlsx, ".geojson": _geojson,
               ".json": _geojson, ".kml": _kml, ".kmz": _kmz}
    if ext not in readers:
        raise InvalidInput(f"{p.name}: unsupported file type {ext!r}; use CSV, XLSX, GeoJSON, "
                           "KML or KMZ")
    return readers[ext](p)


def _csv(p: Path) -> Iterator[tuple[int, Row]]:
    with p.open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(64 * 1024)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        if not reader.fieldnames:
            raise InvalidInput(f"{p.name}: no header row")
        for i, row in enumerate(reader, start=2):
            yield i, {(k or "").strip(): (v or "").strip() for k, v in row.items()
                      if k is not None}


def _xlsx(p: Path) -> Iterator[tuple[int, Row]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as e:  # zipfile / openpyxl errors
        raise InvalidInput(f"{p.name}: not a readable XLSX workbook ({e})") from None
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise InvalidInput(f"{p.name}: the first sheet has no header row")
    names = [str(h).strip() if h is not None else "" for h in header]
    for i, values in enumerate(rows, start=2):
        if values is None or all(v is None for v in values):
            continue
        yield i, {n: _cell(v) for n, v in zip(names, values, strict=False) if n}
    wb.close()


def _cell(v) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10]
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _geojson(p: Path) -> Iterator[tuple[int, Row]]:
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{p.name}: not valid JSON ({e})") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if doc.get("type") != "FeatureCollection" or not isinstance(feats, list):
        raise InvalidInput(f"{p.name}: expected a GeoJSON FeatureCollection")
    for i, f in enumerate(feats, start=1):
        props = (f or {}).get("properties") or {}
        row = {str(k): _prop(v) for k, v in props.items()}
        if (f or {}).get("geometry"):
            row["geometry"] = json.dumps(f["geometry"])
        yield i, row


def _prop(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):  # ["torture", "forced_labour"] -> "torture; forced_labour"
        return "; ".join(_prop(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _kml_rows(data: bytes, name: str) -> Iterator[tuple[int, Row]]:
    try:
        root = DET.fromstring(data)
    except Exception as e:  # defusedxml raises on entities, DTDs and bad XML alike
        raise InvalidInput(f"{name}: not safe, well-formed KML ({type(e).__name__}: {e})") from None
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
        if coords is not None and coords.text:
            lon, lat, *_ = (coords.text.strip().split()[0]).split(",")
            row["geometry"] = f"POINT ({lon} {lat})"
        yield i, row


def _kml(p: Path) -> Iterator[tuple[int, Row]]:
    return _kml_rows(p.read_bytes(), p.name)


def _kmz(p: Path) -> Iterator[tuple[int, Row]]:
    try:
        z = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        raise InvalidInput(f"{p.name}: not a KMZ (zip) archive") from None
    with z:
        infos = z.infolist()
        if len(infos) > KMZ_MAX_ENTRIES:
            raise InvalidInput(f"{p.name}: {len(infos)} entries; at most {KMZ_MAX_ENTRIES}")
        if sum(i.file_size for i in infos) > KMZ_MAX_BYTES:
            raise InvalidInput(f"{p.name}: unpacks to more than {KMZ_MAX_BYTES // 2**20} MB")
        kmls = [i for i in infos if i.filename.lower().endswith(".kml")]
        if not kmls:
            raise InvalidInput(f"{p.name}: no .kml inside")
        main = next((i for i in kmls if i.filename.lower() == "doc.kml"), kmls[0])
        with z.open(main) as fh:  # read with a cap: the declared size may lie
            data = fh.read(KMZ_MAX_BYTES + 1)
        if len(data) > KMZ_MAX_BYTES:
            raise InvalidInput(f"{p.name}: {main.filename} is larger than declared")
    return _kml_rows(data, f"{p.name}:{main.filename}")


def rows_from_bytes(data: bytes, filename: str) -> Iterator[tuple[int, Row]]:
    """For uploads: the same readers on bytes (written to a private temporary file)."""
    import tempfile

    suffix = Path(filename).suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp:
        tmp.write(data)
    try:
        yield from read_rows(tmp.name)
    finally:
        Path(tmp.name).unlink(missing_ok=True)


__all__ = ["read_rows", "rows_from_bytes", "Row"]
