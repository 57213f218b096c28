"""Requests per second and latency of 1 against 3 `geomap serve` processes on one PostGIS
database, with the workload of tests/test_multi_serve.py (map API and dossier reads, edits of
the same sites and testimonies from several processes, link decisions, small CSV imports).

    .venv/bin/python bench/multi_serve.py [--seconds 20] [--clients 8] [--processes 1,3]

Starts a throw-away PostgreSQL cluster (tests/pg.py) unless --database-url names one (an empty
database with PostGIS). Prints, per process count: requests/s, p50/p95 of all requests, of
reads and of writes, the status counts, and the CPU seconds the servers used (steadier than
wall time on a shared machine). The clients run in this one Python process: on a small
machine they compete with the servers for the same cores, so compare the two rows, not the
absolute numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import pg  # noqa: E402
from tests.conftest import make_user  # noqa: E402
from tests.test_multi_serve import Client, Farm, build_instance, percentile, run_load  # noqa: E402

READS = {"read", "dossier"}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--processes", default="1,3")
    ap.add_argument("--testimonies", type=int, default=2000)
    ap.add_argument("--database-url", help="an empty PostGIS database (default: a throw-away "
                                           "cluster)")
    args = ap.parse_args()

    from geomap.config import load_settings
    from geomap.store import Store

    cluster = None
    if args.database_url:
        url = args.database_url
    else:
        cluster = pg.start()
        _, url = cluster.new_database(migrated=True)
    root = Path(tempfile.mkdtemp(prefix="geomap-bench-"))
    inst = root / "instance"
    store = Store.for_instance(load_settings(inst, database_url=url))
    try:
        t0 = time.perf_counter()
        world = build_instance(store, args.testimonies)
        print(f"instance: {args.testimonies} synthetic testimonies, {len(world.site_keys)} "
              f"sites, built in {time.perf_counter() - t0:.1f} s; {args.clients} clients, "
              f"{args.seconds:.0f} s per run")
        print(f"{'processes':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'read p50/p95':>14} "
              f"{'write p50/p95':>15} {'server CPU s':>12}  statuses")
        for n in (int(x) for x in args.processes.split(",")):
            farm = Farm(inst, url)
            farm.start(n)
            try:
                users = [make_user(store, "researcher") for _ in range(args.clients)]
                clients = [Client(farm.ports).sign_in(u.username, s) for u, s, _ in users]
                cpu0 = sum(cpu_seconds(p.pid) for p in farm.procs)
                out = run_load(clients, store, world, args.seconds)
                cpu = sum(cpu_seconds(p.pid) for p in farm.procs) - cpu0
            finally:
                farm.stop()
            ms = [o.seconds * 1000 for o in out]
            rd = [o.seconds * 1000 for o in out if o.kind in READS]
            wr = [o.seconds * 1000 for o in out if o.kind not in READS]
            statuses = Counter(o.status for o in out)
            print(f"{n:>9} {len(out) / args.seconds:>7.1f} {percentile(ms, .5):>7.0f} "
                  f"{percentile(ms, .95):>7.0f} "
                  f"{percentile(rd, .5):>6.0f}/{percentile(rd, .95):<7.0f} "
                  f"{percentile(wr, .5):>7.0f}/{percentile(wr, .95):<7.0f} {cpu:>12.1f}  "
                  f"{dict(sorted(statuses.items()))}")
            if any(s >= 500 for s in statuses):
                print("  5xx responses: " + "; ".join(
                    o.error[:200] for o in out if o.status >= 500)[:1000])
    finally:
        store.close()
        if cluster is not None:
            pg.stop(cluster)


if __name__ == "__main__":
    main()
