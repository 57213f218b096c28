"""Benchmark the linking engine: 100,000 testimonies against 1,000 sites.

    python bench/linking.py [--testimonies 100000] [--sites 1000] [--backends sqlite,postgis]

Ours: geomap.corroboration.propose (STRtree over sites in metres, then scoring only the pairs
within reach). Baseline in the same run: naive all-pairs scoring (every testimony against every
site, numpy, in chunks), the same posterior over the sites and "not on the list". Both must choose the same site for every testimony.
Time (untraced) and peak traced memory (a second, tracemalloc run) for each; names are left out of both (distance,
period and type only) so the comparison is about the search.

Then the same testimonies and sites stored in a database, once per backend (SQLite in a
temporary instance; PostgreSQL + PostGIS on a throw-away cluster from tests/pg.py), and
`geomap.corroboration.run_linking` timed end to end as `geomap link` runs it: read the located
testimonies and the sites from the store, propose, write the candidate links. Wall and CPU
seconds of this process (PostgreSQL's own CPU is in its server processes, not counted).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geomap import corroboration as corr  # noqa: E402
from geomap.model import FacilityType  # noqa: E402


def make(n_t: int, n_s: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    # sites spread over the peninsula's box (projected metres), radii by precision class
    lon = rng.uniform(124.5, 130.5, n_s)
    lat = rng.uniform(38.0, 42.8, n_s)
    radius = rng.choice([100.0, 1_000.0, 10_000.0], n_s, p=[0.5, 0.3, 0.2])
    x, y = corr.METRIC.transform(lon, lat)
    sites = [corr.SiteRef(i + 1, f"s{i}", f"site {i}", float(x[i]), float(y[i]), float(lon[i]),
                          float(lat[i]), float(radius[i]), FacilityType.KWALLISO, None, None,
                          sigma_m=float(radius[i]) * 0.5)
             for i in range(n_s)]
    pick = rng.integers(0, n_s, n_t)
    r = 10 ** rng.uniform(1, 4, n_t)
    ang = rng.uniform(0, 2 * np.pi, n_t)
    dist = r * np.sqrt(rng.uniform(0, 1, n_t))
    tx, ty = x[pick] + dist * np.cos(ang), y[pick] + dist * np.sin(ang)
    stray = rng.uniform(0, 1, n_t) < 0.15  # from no known site
    tx[stray] = rng.uniform(x.min(), x.max(), stray.sum())
    ty[stray] = rng.uniform(y.min(), y.max(), stray.sum())
    tlon, tlat = corr.METRIC.transform(tx, ty, direction="INVERSE")
    inputs = {"id": np.arange(1, n_t + 1), "lon": np.asarray(tlon), "lat": np.asarray(tlat),
              "radius": r, "place": [None] * n_t, "start": [None] * n_t, "end": [None] * n_t,
              "violations": [""] * n_t}
    return inputs, sites


def naive(inputs, sites, threshold=corr.THRESHOLD, chunk=2_000):
    """Every testimony against every site: the same posterior (geomap.link_model), no search."""
    from geomap import link_model as lm

    sxy = np.array([[s.x, s.y] for s in sites])
    ssig = np.array([s.sigma_m for s in sites])
    tx, ty = corr.METRIC.transform(inputs["lon"], inputs["lat"])
    tx, ty, tr = np.asarray(tx), np.asarray(ty), inputs["radius"]
    tround2 = lm.rounding_sigma_m(np.asarray(inputs["lon"]), np.asarray(inputs["lat"])) ** 2
    best: dict[int, int] = {}
    for i in range(0, len(tx), chunk):
        d = np.hypot(tx[i:i + chunk, None] - sxy[None, :, 0], ty[i:i + chunk, None] - sxy[None, :, 1])
        scale2 = (tr[i:i + chunk, None] ** 2 + tround2[i:i + chunk, None] + ssig[None, :] ** 2)
        log_l = lm.log_distance_density(d, scale2)
        log_l[d > corr.REACH_SCALES * np.sqrt(scale2)] = -np.inf  # not a candidate (the model)
        log_none = np.log(lm.BACKGROUND_PER_M2)
        top = np.maximum(log_l.max(axis=1), log_none)
        total = np.exp(log_l - top[:, None]).sum(axis=1) + np.exp(log_none - top)
        j = log_l.argmax(axis=1)
        p = np.exp(log_l[np.arange(len(j)), j] - top) / total
        for k in np.nonzero(p >= threshold)[0]:
            best[int(inputs["id"][i + k])] = sites[j[k]].id
    return best


def timed(fn, *args):
    """Time a run without tracing (tracemalloc slows small-object code many times over), then
    run again under tracemalloc for the peak memory."""
    t0 = time.perf_counter()
    out = fn(*args)
    dt = time.perf_counter() - t0
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak


def _records(inputs, sites):
    """The generated testimonies and sites as model records for the store."""
    from shapely.geometry import Point

    from geomap.model import Precision, Site, Testimony

    site_rows = [Site(key=f"bench-site-{s.id}", name=f"synthetic site {s.id}",
                      facility_type=FacilityType.KWALLISO, geometry=Point(s.lon, s.lat),
                      precision=Precision.VICINITY) for s in sites]
    items = [Testimony(witness_code=f"SYN-L{i:06d}", place_text=None,
                       geometry=Point(round(float(x), 6), round(float(y), 6)),
                       radius_m=float(r), precision=Precision.VICINITY, period=None,
                       synthetic=True)
             for i, (x, y, r) in enumerate(zip(inputs["lon"], inputs["lat"], inputs["radius"],
                                               strict=True))]
    return site_rows, items


def link_in_store(backend: str, inputs, sites, cluster=None) -> dict:
    """Store the records on `backend`, then time run_linking as `geomap link` runs it."""
    import tempfile
    from dataclasses import replace

    from geomap.config import load_settings
    from geomap.store import Store

    site_rows, items = _records(inputs, sites)
    db_name = url = None
    if backend == "postgis":
        db_name, url = cluster.new_database()
    try:
        with tempfile.TemporaryDirectory(prefix="geomap-bench-link-") as tmp:
            settings = load_settings(Path(tmp) / "instance")
            if url:
                settings = replace(settings, database_url=url)
            store = Store.for_instance(settings)
            try:
                t0 = time.perf_counter()
                store.upsert_sites(site_rows)
                for i in range(0, len(items), 5_000):
                    store.add_testimonies(items[i:i + 5_000])
                load_s = time.perf_counter() - t0
                t0, c0 = time.perf_counter(), time.process_time()
                out = corr.run_linking(store, None)
                return {"backend": backend, "load_s": load_s,
                        "link_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                        **out}
            finally:
                store.close()
    finally:
        if db_name:
            cluster.drop(db_name)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--testimonies", type=int, default=100_000)
    ap.add_argument("--sites", type=int, default=1_000)
    ap.add_argument("--backends", default="sqlite,postgis",
                    help="stored linking on: sqlite, postgis, both (default) or none")
    a = ap.parse_args()
    backends = [b.strip() for b in a.backends.split(",") if b.strip() and b.strip() != "none"]
    if set(backends) - {"sqlite", "postgis"}:
        ap.error("--backends: sqlite, postgis, both or none")
    inputs, sites = make(a.testimonies, a.sites)
    print(f"linking {a.testimonies:,} testimonies against {a.sites:,} sites ...", file=sys.stderr)
    names = corr.NameEvidence(None, sites)
    ours, t_ours, m_ours = timed(corr.propose, inputs, sites, names)
    print("naive all-pairs baseline ...", file=sys.stderr)
    base, t_base, m_base = timed(naive, inputs, sites)
    ours_best = {}
    for p in ours:  # with ties both sites are listed: either is the argmax
        ours_best.setdefault(p["testimony_id"], set()).add(p["site_id"])
    agree = sum(1 for t, s in base.items() if s in ours_best.get(t, ()))
    print(f"\n=== linking: {a.testimonies:,} testimonies x {a.sites:,} sites ===")
    print(f"ours (STRtree, pairs within reach)  {t_ours:7.2f} s  peak {m_ours / 2**20:7.1f} MB"
          f"  {len(ours_best):,} testimonies linked or in review")
    print(f"baseline: naive all-pairs (numpy)   {t_base:7.2f} s  peak {m_base / 2**20:7.1f} MB"
          f"  {len(base):,} testimonies linked")
    print(f"ratio: ours / naive = {t_ours / t_base:.2f}x time, {m_ours / m_base:.2f}x memory; "
          f"same best site for {agree:,} of {len(base):,} baseline links")
    stored = []
    cluster = None
    try:
        for backend in backends:
            if backend == "postgis" and cluster is None:
                sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
                from tests import pg

                print("starting a throw-away PostgreSQL + PostGIS cluster ...", file=sys.stderr)
                cluster = pg.start()
            print(f"storing and linking on {backend} ...", file=sys.stderr)
            stored.append(link_in_store(backend, inputs, sites, cluster))
    finally:
        if cluster is not None:
            pg.stop(cluster)
    if stored:
        print(f"\n=== linking in the store (corroboration.run_linking, as `geomap link`): "
              f"{a.testimonies:,} x {a.sites:,} ===")
    for r in stored:
        print(f"{r['backend']:<8} link {r['link_s']:7.2f} s wall, {r['cpu_s']:7.2f} s CPU "
              f"(read, propose, write {r['stored']:,} candidate links; {r['proposed']:,} "
              f"proposed, {r['ambiguous']:,} ambiguous); loading the records took "
              f"{r['load_s']:.1f} s")
    return 0 if agree == len(base) else 1


if __name__ == "__main__":
    raise SystemExit(main())
