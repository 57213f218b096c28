"""`geomap import ...` and `geomap quarantine ...`: records from files, rows refused."""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from ..intake import BATCH_ROWS
from . import _actor, _store, main
from .link import _run_geocode


@main.group("import")
def import_() -> None:
    """Import records from files."""


def _parse_mapping(pairs: tuple[str, ...], mapping_file: Path | None) -> dict[str, str]:
    import json

    mapping: dict[str, str] = {}
    if mapping_file is not None:
        try:
            loaded = json.loads(mapping_file.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError('expected a JSON object {"field": "column", ...}')
            mapping.update(loaded)
        except (OSError, ValueError) as e:
            raise click.BadParameter(f"{mapping_file}: {e}", param_hint="--mapping") from None
    for pair in pairs:
        fld, sep, col = pair.partition("=")
        if not sep or not fld.strip() or not col.strip():
            raise click.BadParameter(f"{pair!r}: expected FIELD=COLUMN", param_hint="--map")
        mapping[fld.strip()] = col.strip()
    return mapping


# while a batch is stored on the import's second thread, that thread needs the interpreter lock
# back after each SQLite statement; at the default 5 ms the validating thread kept it for
# most of that slice each time (a 100,000-row import: ~0.4 s of waits on the storing side)
BULK_SWITCH_INTERVAL_S = 0.001


@contextlib.contextmanager
def _bulk_job() -> Iterator[None]:
    """This process as a bulk import wants it, for the duration of the import."""
    # what start-up loaded lives as long as this command: the collector need not walk it again
    # each time a batch's rows are freed (a sixth of a 100,000-row import's CPU time)
    gc.freeze()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, BULK_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()


@import_.command("testimonies")
@click.argument("file")
@click.option("--map", "pairs", multiple=True, metavar="FIELD=COLUMN",
              help="Which column holds a field (repeatable), e.g. --map witness_code=Code.")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
              help='A JSON file {"field": "column", ...}.')
@click.option("--mapping-name", metavar="NAME",
              help="Use the column mapping saved under NAME (on the upload page or with "
                   "--save-mapping); --map and --mapping override its entries.")
@click.option("--save-mapping", metavar="NAME",
              help="Save the mapping given by --map/--mapping under NAME for later imports.")
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--batch-rows", type=click.IntRange(1, 100_000), default=BATCH_ROWS,
              show_default=True, help="Rows a transaction (a killed import leaves whole "
                                      "batches only).")
@click.option("--border-km", type=click.FloatRange(0, 1000), default=50.0, show_default=True,
              help="How far outside North Korea a point may lie.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_testimonies_cmd(ctx, file, pairs, mapping_file, mapping_name, save_mapping, dry_run,
                           batch_rows, border_km, as_json):
    """Import testimonies from CSV, XLSX, GeoJSON, KML or KMZ. Good rows land, bad rows are
    quarantined with their reasons; re-running the same file imports nothing new."""
    import json

    from ..intake.run import import_testimonies

    store = _store(ctx)
    done = {"n": 0}

    def progress(k: int) -> None:
        done["n"] += k
        click.echo(f"\r{done['n']:,} rows", nl=False, err=True)

    from ..errors import UnmappedColumns
    from ..store.mappings import MappingStore

    mapping = MappingStore(store).get(mapping_name) if mapping_name else {}
    mapping.update(_parse_mapping(pairs, mapping_file))
    clock = _Clock()
    try:
        with _bulk_job():
            report = import_testimonies(store, file, actor=_actor(), mapping=mapping,
                                        dry_run=dry_run, batch_rows=batch_rows,
                                        border_km=border_km, progress=progress)
    except UnmappedColumns as e:  # nothing imported: say what to map, and how
        _unmapped_exit(ctx, e, as_json)
    timings = {"import": clock.lap()}
    if save_mapping:
        MappingStore(store).save(save_mapping, mapping, actor=_actor())
    click.echo("", err=True)
    out = report.as_dict()
    if not as_json:
        for line in report.lines():
            click.echo(line)
    if not dry_run and report.inserted:
        # this file's testimonies only: the counts are about this import
        out.update(_run_geocode(store, keys=report.keys, echo=not as_json))
        timings["geocode_and_link"] = clock.lap()
    # on stderr with the progress: seconds of each step, wall clock and CPU
    click.echo("time: " + "; ".join(f"{k} {w:.2f} s (cpu {c:.2f} s)"
                                    for k, (w, c) in timings.items()), err=True)
    if as_json:  # machine output is one JSON document and nothing else on stdout
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))


class _Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        """(wall, CPU) seconds since the last lap."""
        w, c = time.perf_counter(), time.process_time()
        out = (w - self.wall, c - self.cpu)
        self.wall, self.cpu = w, c
        return out


def _unmapped_exit(ctx, e, as_json: bool):
    """Exit 2 with the unmapped fields, the file's headers and the --map arguments to use."""
    import json

    from ..intake.mapping import map_arguments

    suggested = {f: c for f, c in e.suggested.items() if c}
    if as_json:
        click.echo(json.dumps({**e.as_dict(), "map_arguments": map_arguments(suggested)},
                              ensure_ascii=False, indent=1))
    else:
        click.echo(f"Error: no column recognised for required field(s): "
                   f"{', '.join(e.unmapped)}; nothing was imported.", err=True)
        click.echo(f"  the file's columns: {', '.join(e.header) or '(none)'}", err=True)
        if e.recognised:
            click.echo("  recognised: " + ", ".join(f"{f}={c}" for f, c in e.recognised.items()),
                       err=True)
        if suggested:
            click.echo("  suggested mapping, re-run with: " + " ".join(map_arguments(suggested)),
                       err=True)
        else:
            click.echo("  map them with --map FIELD=COLUMN, e.g. --map witness_code=<column> "
                       "--map place_text=<column>", err=True)
    ctx.exit(2)


@main.group("quarantine")
def quarantine_() -> None:
    """Rows imports could not take, with their reasons."""


@quarantine_.command("export")
@click.option("--source", help="Only rows from this file name.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def quarantine_export(ctx, source, output):
    """CSV of quarantined rows with their problems: correct it and import it again."""
    from ..intake.run import export_quarantine

    text = export_quarantine(_store(ctx), _actor(), source)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)
