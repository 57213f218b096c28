"""A seeded mutation fuzz of imagery ingest (issue 9): small valid GeoTIFFs of several profiles,
mutated (bit flips, truncation, splices, directory-entry corruption, huge declared sizes). Each
case is ingested or refused with InvalidInput; a refusal stores nothing and leaves nothing on
disk. GEOMAP_FUZZ_CASES=2000 runs a bigger one by hand."""

from __future__ import annotations

import os
import shutil
import struct
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from rasterio.transform import from_bounds

from geomap.errors import InvalidInput
from geomap.imagery import Limits, ingest

from .conftest import FIGURES

CASES = int(os.environ.get("GEOMAP_FUZZ_CASES", "200"))
UTM = (325_000.0, 4_395_000.0, 325_640.0, 4_395_640.0)
LL = (126.88, 39.70, 126.886, 39.706)
PROFILES = {  # name: (crs, bounds, dtype, bands, layout)
    "utm-u8-rgb-tiled-deflate": ("EPSG:32652", UTM, "uint8", 3,
                                 {"tiled": True, "compress": "deflate"}),
    "wgs84-u16-striped-lzw-nodata": ("EPSG:4326", LL, "uint16", 1,
                                     {"compress": "lzw", "nodata": 0}),
    "utm-u16-4band-tiled-lzw-predictor": ("EPSG:32652", UTM, "uint16", 4,
                                          {"tiled": True, "compress": "lzw", "predictor": 2}),
    "wgs84-u8-grey-striped-raw": ("EPSG:4326", LL, "uint8", 1, {}),
    "utm-u8-rgb-tiled-jpeg": ("EPSG:32652", UTM, "uint8", 3,
                              {"tiled": True, "compress": "jpeg", "photometric": "ycbcr"}),
    "utm-i16-striped-deflate-nodata": ("EPSG:32652", UTM, "int16", 1,
                                       {"compress": "deflate", "nodata": -9999}),
}
SIZE = 64


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("fuzz-seeds")
    rng = np.random.default_rng(9)
    out = {}
    for name, (crs, bounds, dtype, bands, layout) in PROFILES.items():
        data = (rng.integers(0, 200, (bands, SIZE, SIZE))).astype(dtype)
        data[:, SIZE * 3 // 4:, :] = layout.get("nodata", 0) or 0
        profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": bands,
                   "dtype": dtype, "crs": crs, "transform": from_bounds(*bounds, SIZE, SIZE),
                   **layout}
        if layout.get("tiled"):
            profile.update(blockxsize=32, blockysize=32)
        else:
            profile.update(blockysize=8)
        with rasterio.open(d / f"{name}.tif", "w", **profile) as dst:
            dst.write(data)
        out[name] = (d / f"{name}.tif").read_bytes()
    return out


def _entries(raw: bytes) -> list[int]:
    """Offsets of the first directory's 12-byte entries (little-endian classic TIFF)."""
    try:
        (ifd,) = struct.unpack_from("<I", raw, 4)
        (n,) = struct.unpack_from("<H", raw, ifd)
    except struct.error:
        return []
    return [ifd + 2 + 12 * i for i in range(min(n, 64)) if ifd + 14 + 12 * i <= len(raw)]


def mutate(raw: bytes, ops: list[tuple]) -> bytes:
    b = bytearray(raw)
    for kind, a, c, v in ops:
        if not b:
            break
        if kind == "flip":
            b[a % len(b)] ^= 1 << (v % 8)
        elif kind == "byte":
            b[a % len(b)] = v % 256
        elif kind == "truncate":
            del b[max(8, a % len(b)):]
        elif kind == "splice":  # a chunk of the file copied over another place
            n = 1 + c % 512
            src = a % len(b)
            dst = v % len(b)
            b[dst:dst + n] = b[src:src + n]
        elif kind == "insert":
            b[a % len(b):a % len(b)] = bytes([v % 256]) * (1 + c % 64)
        elif kind in ("ifd-type", "ifd-count", "ifd-value"):
            entries = _entries(bytes(b))
            if entries:
                at = entries[a % len(entries)]
                field, fmt = {"ifd-type": (2, "<H"), "ifd-count": (4, "<I"),
                              "ifd-value": (8, "<I")}[kind]
                struct.pack_into(fmt, b, at + field, v % (1 << (16 if fmt == "<H" else 32)))
        elif kind == "huge":  # width / height / samples per pixel / bits declared huge
            tags = {0: 256, 1: 257, 2: 277, 3: 258}
            want = tags[a % 4]
            for at in _entries(bytes(b)):
                tag, typ = struct.unpack_from("<HH", b, at)
                if tag == want:
                    value = [30_000, 65_535, 1 << 20, 2_000_000_000, 24_065][v % 5]
                    if typ == 3:  # SHORT
                        struct.pack_into("<H", b, at + 8, min(value, 65_535))
                    else:
                        struct.pack_into("<I", b, at + 8, value)
    return bytes(b)


OPS = st.lists(st.tuples(
    st.sampled_from(["flip", "byte", "truncate", "splice", "insert", "ifd-type", "ifd-count",
                     "ifd-value", "huge", "flip", "ifd-value", "huge"]),
    st.integers(0, 1 << 20), st.integers(0, 1 << 16), st.integers(0, (1 << 32) - 1)),
    min_size=1, max_size=4)


def test_mutated_geotiffs_are_ingested_or_refused_cleanly(seeds, tmp_path):
    root = tmp_path / "imagery"
    tally = {"ingested": 0, "refused": 0, "timed out": 0}
    limits = Limits(convert_s=10)
    work = tmp_path / "in"
    work.mkdir()

    @seed(20260909)
    @settings(max_examples=CASES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(profile=st.sampled_from(sorted(PROFILES)), ops=OPS)
    def case(profile, ops):
        f = work / "case.tif"
        f.write_bytes(mutate(seeds[profile], ops))
        try:
            scene = ingest(f, root, date(2014, 1, 1), actor="fuzz", original_name="case.tif",
                           limits=limits)
        except InvalidInput as e:
            msg = str(e)
            assert msg.startswith("case.tif: ") and str(work) not in msg and str(root) not in msg
            tally["timed out" if "longer than the limit" in msg else "refused"] += 1
            assert not root.exists() or list(root.iterdir()) == [], "a refusal left files"
            return
        tally["ingested"] += 1
        assert sorted(p.name for p in (root / scene.id).iterdir()) == ["cog.tif",
                                                                       "original.tif"]
        assert scene.footprint.is_valid and not scene.footprint.is_empty
        (root / scene.id / "original.tif").chmod(0o644)
        shutil.rmtree(root / scene.id)

    case()
    total = sum(tally.values())
    FIGURES.append(f"imagery fuzz: {total} mutated GeoTIFFs, " +
                   ", ".join(f"{n} {k}" for k, n in tally.items()) + ", 0 crashes")
    assert total >= CASES * 0.9 and tally["refused"] > 0 and tally["ingested"] > 0
    assert not list(Path(root).glob("*")) if root.exists() else True


def test_mutated_uploads_store_nothing_when_refused(seeds, ref_store, settings, tmp_path):
    """Through the upload page: every case is a 200 or a 400 (never a 500), and only accepted
    files leave a scene row and a folder."""
    import random

    from geomap.store.scenes import SceneStore
    from geomap.web import create_app

    from .conftest import csrf_from, https_client, make_user, sign_in

    app = create_app(settings, ref_store)
    user, secret, _ = make_user(ref_store, "analyst")
    c = sign_in(https_client(app), user.username, secret)
    token = csrf_from(c.get("/imagery/").data.decode())
    rnd = random.Random(9)
    accepted = set()
    root = settings.instance_path / "imagery"
    for i in range(30):
        profile = rnd.choice(sorted(PROFILES))
        ops = [(rnd.choice(["flip", "truncate", "ifd-value", "huge", "splice"]),
                rnd.randrange(1 << 20), rnd.randrange(1 << 16), rnd.randrange(1 << 32))
               for _ in range(rnd.randint(1, 3))]
        f = tmp_path / "u.tif"
        f.write_bytes(mutate(seeds[profile], ops))
        with f.open("rb") as fh:
            r = c.post("/imagery/", data={"csrf_token": token, "file": (fh, f"case-{i}.tif"),
                                          "date": "2011-07-08"},
                       content_type="multipart/form-data")
        assert r.status_code in (200, 400), (i, r.status_code)
        if r.status_code == 200:
            accepted.add(i)
    from geomap.policy import SYSTEM

    rows = SceneStore(ref_store).list(SYSTEM)
    assert len(rows) == len(accepted) and {s.original_name for s in rows} == {
        f"case-{i}.tif" for i in accepted}
    assert sorted(p.name for p in root.iterdir()) == sorted(s.id for s in rows) if \
        root.exists() else not rows
