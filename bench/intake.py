"""Benchmark testimony intake and gazetteer lookups.

    python bench/intake.py [--rows 100000] [--lookups 5000] [--memory]

Writes a synthetic CSV (N rows, 2 % of them with problems), then times
`geomap import testimonies` as a real process: the import itself (reading, validation,
encryption, storage: the command reports its wall and CPU seconds), the enrichment that follows
it (geocoding place names, then proposing links for the new testimonies), and the whole command
(start-up included), each in rows/s against the same run's baseline, reading and parsing the
CSV with the standard library alone (the floor any importer pays). Then a re-run of the same
file (the idempotent path), and gazetteer lookups per second. Peak memory is the child's max
RSS; --memory also imports twice as many rows into a fresh instance, to show the import is
streamed (its peak does not grow with the file).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
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


# runs a command and reports its own peak RSS and CPU time: RUSAGE_CHILDREN of this process
# would give the largest of all its children, not this one's
_LAUNCH = """import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(f"\\nrusage: {r.ru_maxrss} {r.ru_utime + r.ru_stime}\\n")
sys.exit(code)"""


def child_run(args: list[str], env: dict) -> tuple[float, int, str, float, dict]:
    """(wall seconds, peak RSS in KiB, stdout, CPU seconds, the command's own step times):
    CPU time is the steadier figure on a machine other work shares."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _LAUNCH, *args], env=env, capture_output=True,
                       text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"{' '.join(args)} failed")
    rss, cpu = p.stderr.rpartition("rusage: ")[2].split()
    # "time: import 4.10 s (cpu 5.02 s); geocode_and_link 1.20 s (cpu 1.19 s)" on stderr
    steps = {m[0]: (float(m[1]), float(m[2])) for m in re.findall(
        r"(\w+) ([\d.]+) s \(cpu ([\d.]+) s\)", p.stderr.rpartition("time: ")[2])}
    return dt, int(rss), p.stdout, float(cpu), steps


def fresh_instance(tmp: Path, name: str) -> dict:
    env = {**os.environ, "GEOMAP_INSTANCE": str(tmp / name)}
    env.pop("DATABASE_URL", None)
    subprocess.run([*GEOMAP, "demo", "--testimonies", "0", "--no-serve"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


GEOMAP = [sys.executable, "-m", "geomap.cli"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=5_000)
    ap.add_argument("--memory", action="store_true",
                    help="also import 2 x rows into a fresh instance and compare peak RSS")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geomap-bench-intake-") as tmp:
        tmp = Path(tmp)
        env = fresh_instance(tmp, "instance")
        f = tmp / "testimonies.csv"
        bad = write_csv(f, a.rows)
        size = f.stat().st_size

        t0 = time.perf_counter()
        with f.open(encoding="utf-8", newline="") as fh:
            n_base = sum(1 for _ in csv.DictReader(fh))
        base = time.perf_counter() - t0

        print(f"importing {a.rows:,} rows ({size / 2**20:.1f} MB, {bad} with problems)",
              file=sys.stderr)
        dt, peak_kb, out, cpu, steps = child_run([*GEOMAP, "import", "testimonies", str(f)], env)
        dt2, _, out2, cpu2, _ = child_run([*GEOMAP, "import", "testimonies", str(f)], env)
        big = None
        if a.memory:
            env2 = fresh_instance(tmp, "instance2")
            f2 = tmp / "testimonies2.csv"
            write_csv(f2, 2 * a.rows, seed=4)
            big = child_run([*GEOMAP, "import", "testimonies", str(f2)], env2)

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

    n = a.rows
    rate = n_base / base

    def line(label: str, wall: float, cpu_s: float) -> str:
        return (f"{label:<34}{wall:7.2f} s {n / wall:10,.0f} rows/s  {rate * wall / n:6.1f}x the "
                f"parse  | cpu {cpu_s:6.2f} s {n / cpu_s:10,.0f} rows/cpu-s")

    print(f"\n=== intake: {n:,} CSV rows ({size / 2**20:.1f} MB) ===")
    print(out.strip().splitlines()[0])
    print(f"baseline: csv.DictReader alone     {base:7.2f} s {rate:10,.0f} rows/s")
    imp, enrich = steps.get("import"), steps.get("geocode_and_link")
    if imp:
        print(line("import (validate, encrypt, store)", *imp))
    if enrich:
        print(line("enrichment (geocode, link new)", *enrich))
    print(line("whole command (with start-up)", dt, cpu))
    print(f"peak RSS {peak_kb / 1024:,.0f} MB; stored {stored:,} (expected {n - bad:,})")
    print(line("re-run (nothing new)", dt2, cpu2)
          + f"  ({out2.strip().splitlines()[0].split(';', 1)[1].strip()})")
    if big is not None:
        print(f"memory: peak RSS {peak_kb / 1024:,.0f} MB at {n:,} rows, {big[1] / 1024:,.0f} MB "
              f"at {2 * n:,} rows (import of the larger file "
              f"{2 * n / big[4]['import'][0]:,.0f} rows/s)")
    print(f"gazetteer: build {build * 1000:.0f} ms, {lookups:,.0f} lookups/s "
          f"({len(labels)} labelled queries, cycled)")
    return 0 if stored == n - bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
