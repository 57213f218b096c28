"""`geomap geocode` and `geomap link`: place names located, testimony-site links proposed."""

from __future__ import annotations

import time

import click

from . import _actor, _store, main


def _run_geocode(store, keys=None, echo: bool = True) -> dict:
    from ..geocode import locate_and_link

    r, links = locate_and_link(store, _actor(), keys=keys)
    if echo:
        click.echo(f"geocoded {r.geocoded} place names, {r.admin_only} to a province only, "
                   f"{r.review} left for review (`geomap geocode --review`)")
        click.echo(f"linking: {links['proposed']:,} candidate links, {links['ambiguous']:,} "
                   "testimonies between two sites (review them at /review)")
    return {"geocode": {"geocoded": r.geocoded, "admin_only": r.admin_only,
                        "review": r.review},
            "linking": {k: v for k, v in links.items() if isinstance(v, int | float | str)}}


@main.command()
@click.option("--review", is_flag=True, help="List the names left for a person to decide.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def geocode(ctx, review, as_json):
    """Locate testimonies that give a place name but no coordinates."""
    import json

    from ..geocode import review_items

    store = _store(ctx)
    if not review:
        result = _run_geocode(store, echo=not as_json)
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    items = review_items(store)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=1))
        return
    for it in items:
        cands = "; ".join(f"{c['name']} ({c['kind']}, {c['score']:.0f})"
                          for c in it["candidates"][:3])
        click.echo(f"testimony {it['testimony_id']}: {it['place_text']!r}: {it['reason']}"
                   f" -> {cands}")


@main.command()
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Lowest probability proposed as a candidate link (default 0.7).")
@click.option("--evaluate", is_flag=True,
              help="Print precision/recall against the synthetic generator's ground truth.")
@click.option("--propose-sites", is_flag=True,
              help="Also list groups of testimonies no listed site explains that may be an "
                   "unknown site (geomap.proposals).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document (linking counts and, with --evaluate, the evaluation; "
                   "with --propose-sites, the proposed sites).")
@click.pass_context
def link(ctx, threshold, evaluate, propose_sites, as_json):
    """Propose testimony-site links (decisions people made are kept)."""
    import json

    from .. import corroboration as corr
    from ..gazetteer import Gazetteer
    from ..policy import SYSTEM

    store = _store(ctx)
    t0 = time.perf_counter()
    r = corr.run_linking(store, Gazetteer.from_store(store, SYSTEM),
                         threshold if threshold is not None else corr.THRESHOLD)
    store.audit(_actor(), "links.propose", None, r)
    if as_json:
        from ..evaluation import evaluate_links, json_safe

        doc = {"linking": r, **({"evaluation": evaluate_links(store)} if evaluate else {})}
        if propose_sites:
            from ..proposals import proposals_for

            doc["proposed_sites"] = [p.as_dict() for p in proposals_for(store, SYSTEM)]
        click.echo(json.dumps(json_safe(doc), ensure_ascii=False, indent=1, allow_nan=False))
        return
    click.echo(f"{r['testimonies']:,} located testimonies, {r['sites']} sites: "
               f"{r['proposed']:,} candidate links, {r['ambiguous']:,} testimonies between two "
               f"sites left for review ({time.perf_counter() - t0:.1f} s)")
    if evaluate:
        from ..evaluation import evaluate_links, report_lines

        e = corr.evaluate(store)
        click.echo(f"against synthetic ground truth: precision {e['precision']:.3f}, "
                   f"recall {e['recall']:.3f} ({e['true_positives']}/{e['predicted']} "
                   f"proposed correct, {e['relevant']} drawn from a site)")
        for line in report_lines(evaluate_links(store), "this instance"):
            click.echo(line)
    if propose_sites:
        from ..proposals import cluster, unexplained

        inputs = unexplained(store, SYSTEM)
        proposals = cluster(inputs)
        click.echo(f"{len(proposals)} possible unknown sites from "
                   f"{len(inputs['id']):,} testimonies no listed site explains:")
        for p in proposals[:30]:
            click.echo(f"  {p.lat:.5f}, {p.lon:.5f}  ±{p.radius_m:,.0f} m  "
                       f"{len(p.testimony_ids)} testimonies, {p.witnesses} witnesses  "
                       f"{'; '.join(p.place_names[:3])}")
