"""Benchmark testimony intake and gazetteer lookups.

    python bench/intake.py [--rows 100000] [--lookups 5000]

Writes a synthetic CSV (N rows, 2 % of them with problems), then times
`geomap import testimonies` as a real process (rows/s, peak memory from the child's
max RSS, progress printed by the command itself), a re-run of the same file (the idempotent
path), and gazetteer lookups per second on the labelled variants. Baseline in the same run:
reading and parsing the same CSV with the standard library alone (the floor any importer
pays), so the ratio says what validation, encryption and storage cost on top.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SITES = [(39.713, 126.895), (42.538, 129.936), (41.834, 129.725), (39.571, 126.055),
         (40.062, 124.410), (42.231, 129.214), (39.009, 126.153), (41.387, 128.158)]


def dms(value: float, hemi: str) -> str:
    tenths = round(value * 36000)  # whole tenths of a second: never "60.0" seconds
    d, rest = divmod(tenths, 36000)
    m, s = divmod(rest, 600)
    return f"{d}°{m:02d}′{s / 10:04.1f}″{hemi}"


def write_csv(path: Path, n: int, seed: int = 3) -> int:
    """N rows around known sites (half of the latitudes as DMS text); about 2 % of rows carry
    an unparseable period. Returns how many rows should be quarantined."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["witness_code", "place", "lat", "lon", "radius_m", "period", "violations",
                    "relationship", "narrative"])
        for i in range(n):
            slat, slon = rng.choice(SITES)
            lat, lon = slat + rng.uniform(-0.05, 0.05), slon + rng.uniform(-0.05, 0.05)
            lat_s = dms(lat, "N") if i % 2 else f"{lat:.5f}"
            period = rng.choice(["1997", "spring 2004", "c. 1995", "1998-2001", "2004년 봄"])
            if rng.random() < 0.02:
                period, bad = "sometime", bad + 1
            w.writerow([f"SYN-BENCH-{i // 3:06d}", rng.choice(["Yodok", "회령", "Camp 15"]),
                        lat_s, f"{lon:.5f}", rng.choice([50, 500, 2000]), period,
                        rng.choice(["torture", "forced labour; starvation", "execution"]),
                        rng.choice(["detained", "saw directly", "hearsay"]),
                        f"[SYNTHETIC] benchmark record {i}"])
    return bad


def child_run(args: list[str], env: dict) -> tuple[float, int, str, float]:
    """(wall seconds, peak RSS in KiB, stdout, CPU seconds): CPU time is the steadier figure
    on a machine other work shares."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return dt, max(after.ru_maxrss, before.ru_maxrss), p.stdout, cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=5_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geomap-bench-intake-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "GEOMAP_INSTANCE": str(tmp / "instance")}
        env.pop("DATABASE_URL", None)
        geomap = [sys.executable, "-m", "geomap.cli"]
        subprocess.run([*geomap, "demo", "--testimonies", "0", "--no-serve"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        f = tmp / "testimonies.csv"
        bad = write_csv(f, a.rows)
        size = f.stat().st_size

        t0 = time.perf_counter()
        with f.open(encoding="utf-8", newline="") as fh:
            n_base = sum(1 for _ in csv.DictReader(fh))
        base = time.perf_counter() - t0

        print(f"importing {a.rows:,} rows ({size / 2**20:.1f} MB, {bad} with problems)",
              file=sys.stderr)
        dt, peak_kb, out, cpu = child_run([*geomap, "import", "testimonies", str(f)], env)
        dt2, _, out2, cpu2 = child_run([*geomap, "import", "testimonies", str(f)], env)

        from geomap.config import load_settings
        from geomap.gazetteer import Gazetteer
        from geomap.policy import SYSTEM
        from geomap.store import Store

        store = Store.for_instance(load_settings(tmp / "instance"))
        t0 = time.perf_counter()
        gaz = Gazetteer.from_store(store, SYSTEM)
        build = time.perf_counter() - t0
        labels = [r["query"] for r in csv.DictReader(
            (ROOT / "tests" / "data" / "gazetteer_labels.csv").open(encoding="utf-8"))]
        t0 = time.perf_counter()
        for i in range(a.lookups):
            gaz.lookup(labels[i % len(labels)])
        lookups = a.lookups / (time.perf_counter() - t0)
        stored = store.count_testimonies()
        store.close()

    print(f"\n=== intake: {a.rows:,} CSV rows ({size / 2**20:.1f} MB) ===")
    print(out.strip().splitlines()[0])
    print(f"import          {dt:8.1f} s   {a.rows / dt:10,.0f} rows/s   peak RSS "
          f"{peak_kb / 1024:,.0f} MB   stored {stored:,} (expected {a.rows - bad:,})")
    print(f"                cpu {cpu:4.1f} s   {a.rows / cpu:10,.0f} rows per CPU second "
          "(the command includes geocoding and linking after the import)")
    print(f"re-run          {dt2:8.1f} s   {a.rows / dt2:10,.0f} rows/s   "
          f"({out2.strip().splitlines()[0].split(';', 1)[1].strip()})")
    print(f"                cpu {cpu2:4.1f} s   {a.rows / cpu2:10,.0f} rows per CPU second")
    print(f"baseline: csv.DictReader alone   {base:6.2f} s   {n_base / base:10,.0f} rows/s")
    print(f"ratio: import / bare CSV parse = {dt / base:.1f}x slower")
    print(f"gazetteer: build {build * 1000:.0f} ms, {lookups:,.0f} lookups/s "
          f"({len(labels)} labelled queries, cycled)")
    return 0 if stored == a.rows - bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
