"""Benchmark testimony intake and gazetteer lookups, on SQLite and on PostgreSQL + PostGIS.

    python bench/intake.py [--rows 100000] [--repeat 3] [--backends sqlite,postgis]
                           [--lookups 5000] [--memory]

Writes a synthetic CSV (N rows, 2 % of them with problems), then times
`geomap import testimonies` as a real process, --repeat times per backend, each into a fresh
instance (a machine shared with other work varies by 10 % from run to run: the median is the
figure, best and worst are printed beside it): the import itself (reading, validation,
encryption, storage: the command reports its wall and CPU seconds), the enrichment that follows
it (geocoding place names, then proposing links for the new testimonies), and the whole command
(start-up included), each in rows/s against the same run's baseline, reading and parsing the
CSV with the standard library alone (the floor any importer pays). Then a re-run of the same
file (the idempotent path), and gazetteer lookups per second. PostgreSQL is a throw-away
cluster (tests/pg.py: a local socket, fsync off like the tests'), each import in a database of
its own. Peak memory is the child's max RSS; --memory also imports twice as many rows into a
fresh SQLite instance, to show the import is streamed (its peak grows only by the file's
content keys, 72 bytes a row).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import statistics
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


def fresh_instance(tmp: Path, name: str, database_url: str | None = None) -> dict:
    env = {**os.environ, "GEOMAP_INSTANCE": str(tmp / name)}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    subprocess.run([*GEOMAP, "demo", "--testimonies", "0", "--no-serve"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


GEOMAP = [sys.executable, "-m", "geomap.cli"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="imports per backend (median)")
    ap.add_argument("--backends", default="sqlite,postgis",
                    help="comma-separated: sqlite, postgis (default both)")
    ap.add_argument("--lookups", type=int, default=5_000)
    ap.add_argument("--memory", action="store_true",
                    help="also import 2 x rows into a fresh instance and compare peak RSS")
    a = ap.parse_args()
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgis"} or a.repeat < 1:
        ap.error("--backends: sqlite, postgis or both; --repeat: at least 1")
    cluster = None
    if "postgis" in backends:
        from tests import pg

        print("starting a throw-away PostgreSQL + PostGIS cluster (tests/pg.py) ...",
              file=sys.stderr)
        cluster = pg.start()
    try:
        return _run(a, backends, cluster)
    finally:
        if cluster is not None:
            pg.stop(cluster)


def _run(a, backends: list[str], cluster) -> int:
    runs: dict[str, list] = {}
    firsts: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory(prefix="geomap-bench-intake-") as tmp:
        tmp = Path(tmp)
        f = tmp / "testimonies.csv"
        bad = write_csv(f, a.rows)
        size = f.stat().st_size

        t0 = time.perf_counter()
        with f.open(encoding="utf-8", newline="") as fh:
            n_base = sum(1 for _ in csv.DictReader(fh))
        base = time.perf_counter() - t0

        print(f"importing {a.rows:,} rows ({size / 2**20:.1f} MB, {bad} with problems), "
              f"{a.repeat} x on {', '.join(backends)}", file=sys.stderr)
        stored: dict[str, int] = {}
        for backend in backends:
            runs[backend] = []
            for k in range(a.repeat):
                url = cluster.new_database()[1] if backend == "postgis" else None
                name = f"{backend}-{k}"
                env = fresh_instance(tmp, name, url)
                first = child_run([*GEOMAP, "import", "testimonies", str(f)], env)
                runs[backend].append(first)
                if k == 0:  # the re-run and the count, on the first instance
                    firsts[backend] = (first, child_run(
                        [*GEOMAP, "import", "testimonies", str(f)], env))
                    stored[backend] = _count(tmp / name, url)
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

        gaz_env = fresh_instance(tmp, "gazetteer")
        store = Store.for_instance(load_settings(Path(gaz_env["GEOMAP_INSTANCE"])))
        t0 = time.perf_counter()
        gaz = Gazetteer.from_store(store, SYSTEM)
        build = time.perf_counter() - t0
        labels = [r["query"] for r in csv.DictReader(
            (ROOT / "tests" / "data" / "gazetteer_labels.csv").open(encoding="utf-8"))]
        t0 = time.perf_counter()
        for i in range(a.lookups):
            gaz.lookup(labels[i % len(labels)])
        lookups = a.lookups / (time.perf_counter() - t0)
        store.close()

    n = a.rows
    rate = n_base / base

    def line(label: str, wall: float, cpu_s: float) -> str:
        return (f"{label:<34}{wall:7.2f} s {n / wall:10,.0f} rows/s  {rate * wall / n:6.1f}x the "
                f"parse  | cpu {cpu_s:6.2f} s {n / cpu_s:10,.0f} rows/cpu-s")

    print(f"\n=== intake: {n:,} CSV rows ({size / 2**20:.1f} MB), {a.repeat} imports per "
          "backend, each into a fresh instance ===")
    print(f"baseline: csv.DictReader alone     {base:7.2f} s {rate:10,.0f} rows/s")
    ok = True
    for backend in backends:
        (dt, peak_kb, out, cpu, steps), (dt2, _, out2, cpu2, _) = firsts[backend]
        print(f"--- {backend}: {out.strip().splitlines()[0]}")
        imports = sorted(r[4]["import"] for r in runs[backend] if "import" in r[4])
        if imports:
            mid = statistics.median(w for w, _ in imports)
            cpu_mid = statistics.median(c for _, c in imports)
            print(line("import (validate, encrypt, store)", mid, cpu_mid)
                  + f"  (median of {len(imports)}; best {n / imports[0][0]:,.0f}, worst "
                    f"{n / imports[-1][0]:,.0f} rows/s)")
        if enrich := steps.get("geocode_and_link"):
            print(line("enrichment (geocode, link new)", *enrich))
        print(line("whole command (with start-up)", dt, cpu))
        print(f"peak RSS {peak_kb / 1024:,.0f} MB; stored {stored[backend]:,} "
              f"(expected {n - bad:,})")
        print(line("re-run (nothing new)", dt2, cpu2)
              + f"  ({out2.strip().splitlines()[0].split(';', 1)[1].strip()})")
        ok = ok and stored[backend] == n - bad
    if big is not None:
        peak_kb = firsts["sqlite"][0][1] if "sqlite" in firsts else runs[backends[0]][0][1]
        print(f"memory (sqlite): peak RSS {peak_kb / 1024:,.0f} MB at {n:,} rows, "
              f"{big[1] / 1024:,.0f} MB at {2 * n:,} rows (import of the larger file "
              f"{2 * n / big[4]['import'][0]:,.0f} rows/s)")
    print(f"gazetteer: build {build * 1000:.0f} ms, {lookups:,.0f} lookups/s "
          f"({len(labels)} labelled queries, cycled)")
    return 0 if ok else 1


def _count(instance: Path, database_url: str | None) -> int:
    from geomap.config import load_settings
    from geomap.store import Store

    saved = os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    try:
        store = Store.for_instance(load_settings(instance))
        try:
            return store.count_testimonies()
        finally:
            store.close()
    finally:
        os.environ.pop("DATABASE_URL", None)
        if saved:
            os.environ["DATABASE_URL"] = saved


if __name__ == "__main__":
    raise SystemExit(main())
