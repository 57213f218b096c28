"""Build the demo instance: shipped boundaries and public sites plus synthetic testimonies."""

from __future__ import annotations

from collections.abc import Callable

import shapely

from .boundaries import AdminTagger, import_boundaries
from .config import DATA_DIR
from .gazetteer import read_places
from .policy import SYSTEM
from .sites import LEGACY_KEYS, read_facilities
from .store import Store
from .store.intake import ANALYZE_ROWS, refresh_statistics
from .synthetic import generate

BOUNDARY_FILES = {
    0: DATA_DIR / "boundaries" / "prk_admin0_natural_earth.geojson",
    1: DATA_DIR / "boundaries" / "prk_admin1_natural_earth.geojson",
}
FACILITIES_CSV = DATA_DIR / "sites" / "facilities.csv"  # + facility_sources.csv beside it
BATCH = 5_000

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def load_reference_data(store: Store) -> list[str]:
    """Boundaries (admin-0, admin-1) and the public facility list; idempotent."""
    lines: list[str] = []
    for level, path in BOUNDARY_FILES.items():
        lines += import_boundaries(store, path, level).lines()
    sites = read_facilities(FACILITIES_CSV)
    tags = AdminTagger(store.boundary_units(1)).tag([s.geometry for s in sites])
    for s, t in zip(sites, tags, strict=True):
        s.admin1 = t
    r = store.upsert_sites(sites, former_keys=LEGACY_KEYS)
    lines.append(f"{FACILITIES_CSV.name}: {r.inserted} sites inserted, {r.updated} updated "
                 f"({sum(1 for s in sites if s.geometry is None)} without published coordinates)")
    return lines


def load_synthetic_testimonies(
    store: Store, n: int, seed: int = 1, progress: Progress | None = None
) -> int:
    """Generate `n` synthetic testimonies, tag their provinces and store them in batches."""
    sites = store.sites(SYSTEM)
    country = shapely.union_all([u.geometry for u in store.boundary_units(0)])
    made = 0

    def gen_progress(k: int) -> None:
        nonlocal made
        made += k
        if progress:
            progress("generate", made, n)

    items, truth = generate(n, sites, read_places(), country, seed=seed, progress=gen_progress)
    tagger = AdminTagger(store.boundary_units(1))
    inserted = 0
    for i in range(0, len(items), BATCH):
        chunk, tchunk = items[i : i + BATCH], truth[i : i + BATCH]
        for t, tag in zip(chunk, tagger.tag([t.geometry for t in chunk]), strict=True):
            t.admin1 = tag
        with store.write() as conn:
            r = store.add_testimonies(chunk, [(x.site_id, x.kind) for x in tchunk], conn=conn)
            store.record_batch(conn, "synthetic", f"synthetic seed={seed} n={n}", r)
        inserted += r.inserted
        if progress:
            progress("store", min(i + BATCH, len(items)), len(items))
    if inserted >= ANALYZE_ROWS:
        refresh_statistics(store)
    return inserted
