"""Measuring linking against synthetic ground truth: overall, per category, against a naive
baseline, and how well scores are calibrated.

Ground truth comes from the store's synthetic-truth table (written only by the synthetic
generators, read only here): per testimony, the site it was drawn from (or none: the right
answer is then "no link") and a category (the demo generator's kind, or the field generator's
error category). Definitions, per group of testimonies:

- linked: testimonies given a candidate link (ambiguous pairs are left to a person: counted
  apart as `review`, not as links);
- correct: linked to their true site;
- precision = correct / linked; recall = correct / testimonies that have a true site (located
  or not: a name nobody could place is a miss);
- for testimonies with no true site, `no_link` is the fraction correctly left unlinked.

The naive baseline is the rule the issue names: the nearest site within the testimony's stated
radius, on the same located testimonies (after geocoding) as the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .store.protocol import StoreLike

Truth = Mapping[int, tuple[int | None, str]]


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


def score_links(truth: Truth, predicted: Mapping[int, int], review: Iterable[int] = (),
                ids: Iterable[int] | None = None) -> dict:
    """Counts and rates for the testimonies `ids` (default: all in `truth`)."""
    review = set(review)
    ids = list(truth) if ids is None else list(ids)
    with_site = [t for t in ids if truth[t][0] is not None]
    no_site = [t for t in ids if truth[t][0] is None]
    linked = [t for t in ids if t in predicted]
    correct = sum(1 for t in linked if predicted[t] == truth[t][0])
    return {
        "n": len(ids), "with_site": len(with_site), "linked": len(linked), "correct": correct,
        "wrong": len(linked) - correct, "review": sum(1 for t in ids if t in review),
        "precision": _ratio(correct, len(linked)), "recall": _ratio(correct, len(with_site)),
        "no_link": _ratio(sum(1 for t in no_site if t not in predicted), len(no_site)),
    }


def by_category(truth: Truth, predicted: Mapping[int, int], review: Iterable[int] = ()) -> dict:
    review = set(review)
    cats: dict[str, list[int]] = {}
    for t, (_, cat) in truth.items():
        cats.setdefault(cat, []).append(t)
    return {c: score_links(truth, predicted, review, ids) for c, ids in sorted(cats.items())}


def calibration(truth: Truth, scored: Mapping[int, tuple[int, float]], bins: int = 10) -> list[dict]:
    """Fraction of correct links per score decile (equal-count bins, lowest scores first)."""
    items = sorted((s, truth.get(t, (None,))[0] == site) for t, (site, s) in scored.items())
    if len(items) < bins:
        return []
    out = []
    for k, chunk in enumerate(np.array_split(np.arange(len(items)), bins), start=1):
        rows = [items[i] for i in chunk]
        out.append({"decile": k, "n": len(rows), "score_min": rows[0][0],
                    "score_max": rows[-1][0],
                    "correct": _ratio(sum(1 for _, ok in rows if ok), len(rows))})
    return out


def naive_links(inputs: dict, sites) -> dict[int, int]:
    """The nearest site within the testimony's stated radius (site points only, no names)."""
    from .corroboration import METRIC

    if not len(inputs["id"]) or not sites:
        return {}
    sxy = np.array([[s.x, s.y] for s in sites])
    tx, ty = (np.asarray(v) for v in METRIC.transform(inputs["lon"], inputs["lat"]))
    out = {}
    for i in range(0, len(tx), 2000):
        d = np.hypot(tx[i:i + 2000, None] - sxy[None, :, 0], ty[i:i + 2000, None] - sxy[None, :, 1])
        j = d.argmin(axis=1)
        ok = d[np.arange(len(j)), j] <= inputs["radius"][i:i + 2000]
        for k in np.nonzero(ok)[0]:
            out[int(inputs["id"][i + k])] = sites[j[k]].id
    return out


def evaluate_links(store: StoreLike) -> dict:
    """The engine's stored candidate links and the naive baseline, against the ground truth."""
    from .corroboration import site_refs
    from .policy import SYSTEM
    from .store.links import LinkStore

    truth = store.synthetic_truth()
    ls = LinkStore(store)
    scored: dict[int, tuple[int, float]] = {}
    review: set[int] = set()
    for row in ls.all():
        if row["testimony_id"] not in truth:
            continue
        if row["status"] == "candidate":
            scored[row["testimony_id"]] = (row["site_id"], float(row["score"]))
        elif row["status"] == "ambiguous":
            review.add(row["testimony_id"])
    engine = {t: s for t, (s, _) in scored.items()}
    inputs = ls.testimony_inputs()
    located = {int(t) for t in inputs["id"]}
    naive = naive_links(inputs, site_refs(store.sites(SYSTEM)))
    naive = {t: s for t, s in naive.items() if t in truth}
    naive_cats = by_category(truth, naive)
    return {
        "testimonies": len(truth), "located": len(located & set(truth)),
        "engine": score_links(truth, engine, review),
        "naive": score_links(truth, naive),
        "categories": {c: {"engine": e, "naive": naive_cats[c]}
                       for c, e in by_category(truth, engine, review).items()},
        "calibration": calibration(truth, scored),
    }


def json_safe(obj):
    """The evaluation as strict JSON values: a rate over nothing (NaN) becomes null."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _f(x: float) -> str:
    return "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def report_lines(ev: dict, label: str) -> list[str]:
    """The evaluation as text lines (CLI, bench and the test run's figures print these)."""
    e, nv = ev["engine"], ev["naive"]
    lines = [f"linking accuracy, {label}: {ev['testimonies']:,} testimonies "
             f"({ev['located']:,} located after geocoding)",
             f"  overall   engine P {_f(e['precision'])} R {_f(e['recall'])}   "
             f"naive (nearest site within stated radius) P {_f(nv['precision'])} "
             f"R {_f(nv['recall'])}   ({e['review']} left between two sites)",
             f"  {'category':<17}{'n':>5} {'eng P':>6} {'eng R':>6} {'naive P':>8} "
             f"{'naive R':>8} {'review':>7} {'no-link ok':>11}"]
    for c, row in ev["categories"].items():
        en, na = row["engine"], row["naive"]
        lines.append(f"  {c:<17}{en['n']:>5} {_f(en['precision']):>6} {_f(en['recall']):>6} "
                     f"{_f(na['precision']):>8} {_f(na['recall']):>8} {en['review']:>7} "
                     f"{_f(en['no_link']) if en['with_site'] < en['n'] else '':>11}")
    if ev["calibration"]:
        lines.append("  calibration (engine candidate links, equal-count score deciles): "
                     + "; ".join(f"{c['score_min']:.2f}-{c['score_max']:.2f}: "
                                 f"{c['correct']:.2f}" for c in ev["calibration"]))
    return lines
