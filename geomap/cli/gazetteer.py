"""`geomap gazetteer ...`: place-name lookup."""

from __future__ import annotations

import click

from . import _store, main


@main.group()
def gazetteer() -> None:
    """Place names: every spelling of a North Korean place."""


@gazetteer.command("lookup")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Ranked candidates as JSON, best first.")
@click.pass_context
def gazetteer_lookup(ctx, text, limit, as_json):
    """Ranked candidates for TEXT (Hangul, McCune-Reischauer, Revised Romanization, camp numbers)."""
    import json

    from ..gazetteer import Gazetteer
    from ..policy import SYSTEM

    cands = Gazetteer.from_store(_store(ctx), SYSTEM).lookup(text, limit)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in cands], ensure_ascii=False, indent=1))
        return
    if not cands:
        click.echo("no candidates")
    for c in cands:
        where = f"{c.lat:.5f}, {c.lon:.5f}" if c.lat is not None else "no coordinates"
        click.echo(f"{c.score:5.1f}  {c.name}  [{c.kind}]  {where}  {c.admin1 or ''}")
