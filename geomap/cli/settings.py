"""`geomap settings`: every setting, its value and its source."""

from __future__ import annotations

import click

from . import _settings, main


@main.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON only).")
@click.option("--markdown", is_flag=True, help="The table of every setting for the docs.")
@click.pass_context
def settings_cmd(ctx, as_json, markdown):
    """Every setting, its value and where it came from (default, file, environment); secrets
    masked. The file is settings.toml in the instance folder."""
    import json

    from ..config import settings_markdown, settings_report

    if markdown:
        click.echo(settings_markdown(), nl=False)
        return
    settings = _settings(ctx)
    report = settings_report(settings)
    path = settings.settings_file
    if as_json:
        click.echo(json.dumps({"settings_file": str(path), "settings_file_exists": path.is_file(),
                               "settings": report}, ensure_ascii=False, indent=1))
        return
    click.echo(f"settings file: {path}" + ("" if path.is_file() else " (none)"))
    width = max(len(r["env"]) for r in report)
    for r in report:
        value = r["value"]
        shown = "(none)" if value in ("", None) else str(value)
        click.echo(f"{r['env']:<{width}}  {r['source']:<11}  {shown}")
