"""Linking accuracy on two independent synthetic generators, against a naive baseline.

    python bench/linking_accuracy.py [--testimonies 3000] [--seed 1]

For each generator (the demo's `geomap.synthetic`, and the independent field model
`geomap.synthetic_field`), a fresh temporary instance gets the shipped reference data and the
synthetic testimonies; then geocoding and linking run as the app runs them after an import.
Printed: precision and recall overall and per category for the engine and, in the same run, for
the naive baseline "nearest site within the stated radius"; and the calibration of the
engine's scores (fraction of correct links per score decile). Targets (issue 11): precision
>= 0.95 and recall >= 0.90 on each category, on both generators.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geomap import corroboration as corr  # noqa: E402
from geomap.config import load_settings  # noqa: E402
from geomap.demo import load_reference_data, load_synthetic_testimonies  # noqa: E402
from geomap.evaluation import evaluate_links, json_safe, report_lines  # noqa: E402
from geomap.gazetteer import Gazetteer  # noqa: E402
from geomap.geocode import geocode_pending  # noqa: E402
from geomap.policy import SYSTEM  # noqa: E402
from geomap.store import Store  # noqa: E402
from geomap.synthetic_field import load_field_testimonies  # noqa: E402

GENERATORS = {
    "demo generator (geomap.synthetic)": load_synthetic_testimonies,
    "independent field generator (geomap.synthetic_field)": load_field_testimonies,
}


def measure(load, n: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        store = Store.for_instance(load_settings(Path(d) / "instance"))
        try:
            load_reference_data(store)
            load(store, n, seed=seed)
            gaz = Gazetteer.from_store(store, SYSTEM)
            geocode_pending(store, gaz, actor="bench")
            corr.run_linking(store, gaz)
            return evaluate_links(store)
        finally:
            store.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--testimonies", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON document, nothing else")
    a = ap.parse_args()
    results = {}
    for label, load in GENERATORS.items():
        t0 = time.perf_counter()
        print(f"{label}: {a.testimonies:,} testimonies, seed {a.seed} ...", file=sys.stderr)
        results[label] = measure(load, a.testimonies, a.seed)
        print(f"  {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if a.json:
        print(json.dumps(json_safe(results), indent=1, allow_nan=False))
        return 0
    for label, ev in results.items():
        print()
        print("\n".join(report_lines(ev, label)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
