"""A seeded mutation fuzz of testimony intake (issue 9).

Good CSV, TSV, GeoJSON, KML, KMZ and XLSX files are mutated (flipped bytes, truncation,
splices, other encodings, giant fields, duplicated lines, damaged archive members, compression
methods zipfile does not know) and imported into a real store. Every case must end in an
ImportReport or an InvalidInput; a refusal stores nothing; no batch is left "running".

Run more cases by hand: `python -m tests.test_intake_fuzz 2000`.
"""

from __future__ import annotations

import csv
import io
import json
import random
import struct
import sys
import traceback
import zipfile

from geomap.errors import InvalidInput, UnmappedColumns
from geomap.intake.run import import_testimonies

CASES = 500
SEED = 20261124

HEADER = ["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
          "relationship", "interview_date", "narrative"]


def _rows(rng: random.Random, n: int = 6) -> list[list[str]]:
    places = ["Yodok", "요덕", "회령 북동쪽 5km", "Camp 15", "Hoeryŏng", "청진", ""]
    return [[f"SYN-FZ{rng.randrange(10**6)}", rng.choice(places),
             f"{39 + rng.random() * 3:.5f}", f"{125 + rng.random() * 4:.5f}",
             rng.choice(["500", "", "2 km", "abc"]), rng.choice(["1997", "2004년 봄", "1998-2001"]),
             rng.choice(["torture", "forced labour; torture", ""]),
             rng.choice(["detained", "saw directly", ""]), "2019-05-01",
             "[SYNTHETIC] 증언 narrative"] for _ in range(n)]


def seed_csv(rng, delimiter=",") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerows(_rows(rng))
    return buf.getvalue().encode("utf-8")


def seed_geojson(rng) -> bytes:
    feats = [{"type": "Feature",
              "geometry": {"type": "Point", "coordinates": [float(r[3]), float(r[2])]},
              "properties": dict(zip(HEADER, r, strict=True))} for r in _rows(rng)]
    return json.dumps({"type": "FeatureCollection", "features": feats},
                      ensure_ascii=False).encode("utf-8")


def seed_kml(rng) -> bytes:
    pms = "".join(
        f"<Placemark><name>{r[1]}</name><ExtendedData>"
        + "".join(f'<Data name="{h}"><value>{v}</value></Data>' for h, v in zip(HEADER, r,
                                                                               strict=True))
        + f"</ExtendedData><Point><coordinates>{r[3]},{r[2]},0</coordinates></Point>"
        "</Placemark>" for r in _rows(rng))
    return ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
            f"<Document>{pms}</Document></kml>").encode()


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def seed_kmz(rng) -> bytes:
    return _zip({"doc.kml": seed_kml(rng)})


def seed_xlsx(rng) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in _rows(rng):
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


SEEDS = {".csv": seed_csv, ".tsv": lambda rng: seed_csv(rng, "\t"), ".txt": seed_csv,
         ".geojson": seed_geojson, ".kml": seed_kml, ".kmz": seed_kmz, ".xlsx": seed_xlsx}


# -- mutations --------------------------------------------------------------------------------------
def flip(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 2, 5, 20])):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def truncate(rng, data: bytes) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def splice(rng, data: bytes) -> bytes:
    other = SEEDS[rng.choice(list(SEEDS))](rng)
    i, j = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
    return data[:i] + other[j:j + rng.randrange(1, 400)] + data[i:]


def reencode(rng, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace")
    enc = rng.choice(["cp949", "euc-kr", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                      "latin-1", "shift_jis", "utf-8-sig", "cp1252", "gb18030"])
    return text.encode(enc, "replace")


def giant_field(rng, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    filler = rng.choice([b"A", b'"', b",", b"\x00", "똠".encode(), b"<", b"\n", b"["])
    return data[:i] + filler * rng.choice([1_000, 140_000, 300_000]) + data[i:]


def duplicate_lines(rng, data: bytes) -> bytes:
    lines = data.split(b"\n")
    out = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.4:
            out.extend([line] * rng.randrange(1, 4))
    if rng.random() < 0.5:
        out.extend([b",,,,,,,,,\r"] * rng.randrange(1, 5))
    return b"\n".join(out)


def nul_bytes(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        b.insert(rng.randrange(len(b) + 1), 0)
    return bytes(b)


TEXT_MUTATIONS = [flip, truncate, splice, reencode, giant_field, duplicate_lines, nul_bytes]


def zip_member(rng, data: bytes) -> bytes:
    """Damage what is inside an archive (valid ZIP, broken KML or sheet XML)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
    except Exception:  # an earlier mutation broke the archive itself
        return flip(rng, data)
    name = rng.choice(sorted(members))
    members[name] = rng.choice(TEXT_MUTATIONS)(rng, members[name])
    return _zip(members)


def zip_method(rng, data: bytes) -> bytes:
    """A compression method zipfile does not know (or a different one) in the headers."""
    b = bytearray(data)
    method = rng.choice([1, 6, 9, 12, 14, 93, 98, 99])
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = b.find(sig)
        while i != -1:
            if rng.random() < 0.7:
                struct.pack_into("<H", b, i + off, method)
            i = b.find(sig, i + 4)
    return bytes(b)


def zip_bomb_header(rng, data: bytes) -> bytes:
    """Declared sizes that lie (huge or tiny) in the central directory."""
    b = bytearray(data)
    i = b.find(b"PK\x01\x02")
    while i != -1:
        struct.pack_into("<I", b, i + 24, rng.choice([0, 1, 2**31, 2**32 - 1]))
        i = b.find(b"PK\x01\x02", i + 4)
    return bytes(b)


ZIP_MUTATIONS = [flip, truncate, splice, zip_member, zip_member, zip_method, zip_bomb_header]


def make_case(rng: random.Random) -> tuple[str, bytes, str]:
    ext = rng.choice(list(SEEDS))
    data = SEEDS[ext](rng)
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        m = rng.choice(ZIP_MUTATIONS if ext in (".kmz", ".xlsx") else TEXT_MUTATIONS)
        data = m(rng, data)
        names.append(m.__name__)
    return ext, data, "+".join(names)


# -- the run ----------------------------------------------------------------------------------------
def run_fuzz(store, tmp_path, cases: int, seed: int = SEED) -> dict:
    rng = random.Random(seed)
    out = {"cases": cases, "reports": 0, "refusals": 0, "crashes": [], "broken_promises": []}
    for k in range(cases):
        ext, data, how = make_case(rng)
        f = tmp_path / f"case{k}{ext}"
        f.write_bytes(data)
        before = _counts(store)
        try:
            report = import_testimonies(store, f, actor="fuzz", batch_rows=rng.choice([2, 500]))
        except InvalidInput as e:
            out["refusals"] += 1
            msg = str(e)
            if _counts(store) != before:
                out["broken_promises"].append((k, how, "a refusal stored something"))
            named = f.name in msg or isinstance(e, UnmappedColumns)  # that names the columns
            if "\n" in msg or not named:
                out["broken_promises"].append((k, how, f"unclear message: {msg[:200]!r}"))
        except Exception:  # a crash: the thing this fuzz exists to find
            out["crashes"].append((k, ext, how, traceback.format_exc(limit=3)[-600:]))
        else:
            out["reports"] += 1
            if report.rows != (report.inserted + report.already_present + report.quarantined
                               + report.blank_rows):
                out["broken_promises"].append((k, how, "a row without a verdict"))
        f.unlink()
    with store.read() as conn:
        out["running"] = conn.exec_driver_sql(
            "SELECT count(*) FROM import_batches WHERE status != 'done'").scalar()
    return out


def _counts(store) -> tuple[int, int]:
    with store.read() as conn:
        return (conn.exec_driver_sql("SELECT count(*) FROM testimonies").scalar(),
                conn.exec_driver_sql("SELECT count(*) FROM quarantine").scalar())


def test_a_mutation_fuzz_of_intake_never_crashes_and_a_refusal_stores_nothing(ref_store,
                                                                               tmp_path):
    result = run_fuzz(ref_store, tmp_path, CASES)
    assert result["crashes"] == [], result["crashes"][:3]
    assert result["broken_promises"] == [], result["broken_promises"][:5]
    assert result["running"] == 0
    # the fuzz exercises both outcomes, not only refusals
    assert result["reports"] > CASES // 10 and result["refusals"] > CASES // 10


if __name__ == "__main__":  # a larger run by hand
    import tempfile
    import time
    from pathlib import Path

    from geomap.config import load_settings
    from geomap.demo import load_reference_data
    from geomap.store import Store

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.for_instance(load_settings(Path(tmp) / "instance"))
        load_reference_data(store)
        t0 = time.perf_counter()
        r = run_fuzz(store, Path(tmp), n, seed)
        store.close()
    print(f"{n} cases (seed {seed}) in {time.perf_counter() - t0:.0f} s: {r['reports']} reports, "
          f"{r['refusals']} refusals, {len(r['crashes'])} crashes, "
          f"{len(r['broken_promises'])} broken promises, {r['running']} batches not done")
    for c in r["crashes"][:10]:
        print(c)
    for c in r["broken_promises"][:10]:
        print(c)
