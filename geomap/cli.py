"""`geomap` command line (click, as Flask does)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import sys
import time
from pathlib import Path

import click

from .config import Settings, default_instance_path, load_settings
from .errors import GeomapError


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _store(ctx: click.Context):
    from .store import Store

    if "store" not in ctx.obj:
        ctx.obj["store"] = Store.for_instance(_settings(ctx))
    return ctx.obj["store"]


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (container)
        return "cli"


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GeomapError as e:  # a clear message, not a traceback
            raise click.ClickException(str(e)) from e


@click.group(cls=_Group)
@click.option("--instance", type=click.Path(file_okay=False, path_type=Path),
              help="Instance folder (default: $GEOMAP_INSTANCE or ./instance).")
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """geomap: corroborate testimonies about North Korean detention sites."""
    ctx.ensure_object(dict)
    ctx.obj["instance"] = (instance or default_instance_path()).resolve()
    ctx.obj["settings"] = load_settings(ctx.obj["instance"])


def _progress_printer(label: str):
    state = {"bar": None, "stage": None}

    def update(stage: str, done: int, total: int) -> None:
        if state["stage"] != stage:
            if state["bar"] is not None:
                state["bar"].render_finish()
            state["bar"] = click.progressbar(length=total, label=f"{label}: {stage}",
                                             file=sys.stderr, show_pos=True)
            state["stage"], state["done"] = stage, 0
        state["bar"].update(done - state["done"])
        state["done"] = done
        if done >= total:
            state["bar"].render_finish()
            state["stage"] = None

    return update


# -- db ----------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema (migrations)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx):
    """Create or upgrade the database schema in place (never recreates it)."""
    store = _store(ctx)
    click.echo(f"schema at revision {store.schema_revision()}")


@db.command("status")
@click.pass_context
def db_status(ctx):
    from .store.engine import head_revision

    store = _store(ctx)
    click.echo(f"database: {store.url}")
    click.echo(f"revision: {store.schema_revision()} (head {head_revision()})")
    from .policy import SYSTEM

    for k, v in store.stats(SYSTEM).items():
        click.echo(f"{k}: {v}")


@main.command("init")
@click.pass_context
def init(ctx):
    """Create or upgrade the database and load the shipped reference data: the country and
    province boundaries and the public facility list (idempotent; run it on a new instance)."""
    from .demo import load_reference_data

    store = _store(ctx)
    click.echo(f"schema at revision {store.schema_revision()}")
    for line in load_reference_data(store):
        click.echo(line)
    store.audit(_actor(), "instance.init", str(_settings(ctx).instance_path))


# -- boundaries --------------------------------------------------------------------------------
@main.group()
def boundaries() -> None:
    """Administrative boundaries."""


@boundaries.command("import")
@click.argument("file")
@click.option("--level", type=click.IntRange(0, 2), required=True,
              help="0 country, 1 province, 2 county.")
@click.option("--name-field", help="English/romanised name field (default: first of name_en, name, NAME_1, shapeName...).")
@click.option("--name-ko-field", help="Korean name field (default: first of name_ko, name_local, NL_NAME_1...).")
@click.option("--code-field", help="Unique code field (default: first of hasc, code_hasc, adm1_code, shapeID...).")
@click.pass_context
def boundaries_import(ctx, file, level, name_field, name_ko_field, code_field):
    """Import boundary units from FILE (.gpkg, .shp, .geojson, .json, .fgb or .kml; never
    VRT or URLs). Idempotent."""
    from .boundaries import import_boundaries

    store = _store(ctx)
    report = import_boundaries(store, file, level, name_field=name_field,
                               name_ko_field=name_ko_field, code_field=code_field)
    r = report.result
    store.audit(_actor(), "boundaries.import", Path(file).name,
                {"level": level, "inserted": r.inserted, "updated": r.updated,
                 "skipped": len(report.skipped), "repaired": len(report.repaired)})
    for line in report.lines():
        click.echo(line)


# -- sites -------------------------------------------------------------------------------------
@main.group()
def sites() -> None:
    """Sites (camps, centres)."""


@sites.command("import-public")
@click.argument("file", required=False)
@click.pass_context
def sites_import_public(ctx, file):
    """Import a public facility list in the shipped CSV format (default: the shipped list,
    facilities.csv with facility_sources.csv beside it). Idempotent; sites imported from the
    older raw list keep their ids (and links) under the new keys."""
    from .boundaries import AdminTagger
    from .demo import FACILITIES_CSV
    from .sites import LEGACY_KEYS, read_facilities

    store = _store(ctx)
    items = read_facilities(file or FACILITIES_CSV)
    for s, t in zip(items, AdminTagger(store.boundary_units(1)).tag([s.geometry for s in items]),
                    strict=True):
        s.admin1 = t
    r = store.upsert_sites(items, former_keys=LEGACY_KEYS)
    store.audit(_actor(), "sites.import", Path(file or FACILITIES_CSV).name,
                {"inserted": r.inserted, "updated": r.updated})
    click.echo(f"{r.inserted} sites inserted, {r.updated} updated")


@sites.command("list")
@click.pass_context
def sites_list(ctx):
    from .policy import SYSTEM

    store = _store(ctx)
    units = {u.id: u for u in store.boundary_units(1)}
    for s in store.sites(SYSTEM):
        unit = units.get(s.admin1.unit_id) if s.admin1 else None
        where = unit.name_en if unit else "-"
        if s.admin1 and s.admin1.outside:
            where += f" (outside every province, {s.admin1.distance_m:.0f} m away)"
        click.echo(f"{s.key}\t{s.facility_type}\t{where}")


# -- demo / serve --------------------------------------------------------------------------------
def _check_host(host: str) -> None:
    try:
        addrs = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, None)}
    except (socket.gaierror, ValueError) as e:
        raise click.BadParameter(f"cannot resolve {host!r}: {e}", param_hint="--host") from None
    if not all(a.is_loopback for a in addrs):
        click.echo(f"warning: listening on {host}, reachable from other machines. Serve geomap "
                   "only behind a TLS reverse proxy (docs/deployment.md).", err=True)


def _serve(settings: Settings, store, host: str, port: int, threads: int = 8) -> None:
    from .web import create_app
    from .web.server import create_server

    _check_host(host)
    app = create_app(settings, store)
    server = create_server(app, settings, host, port, threads)
    proxies = (f"; behind {settings.proxy_count} proxy(ies) at "
               f"{', '.join(settings.trusted_proxies)}" if settings.proxy_count else "")
    click.echo(f"geomap serving {settings.instance_path} on http://{host}:{port}/ "
               f"(waitress{proxies}; Ctrl+C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _print_credentials(username: str, password: str, secret: str, codes: list[str]) -> None:
    import segno

    from .accounts import totp_uri

    click.echo("")
    click.echo(f"  demo account: {username}   password: {password}")
    click.echo(f"  authenticator key: {secret}   (or scan the QR code below)")
    click.echo("  recovery codes, each signs in once (instead of an authenticator code):")
    for c in codes:
        click.echo(f"    {c}")
    segno.make(totp_uri(secret, username), error="m").terminal(compact=True)
    click.echo("")


def _instance_holds(settings: Settings, db_path: Path) -> str:
    """What the instance's database holds, in words ("" for nothing worth keeping)."""
    from .store.engine import sqlite_holds

    if not settings.database_url.startswith("sqlite:///"):
        # a server database: never dropped by the demo, so nothing to ask about
        return ""
    return sqlite_holds(db_path)


def create_demo_user(store) -> tuple[str, str, str, list[str]]:
    """An admin account for the demo, enrolled in TOTP, with fresh recovery codes."""
    import secrets

    from . import accounts as acc
    from .policy import Role
    from .store.accounts import AccountStore

    accounts = AccountStore(store)
    password = secrets.token_urlsafe(12)
    user = accounts.add("demo", Role.ADMIN, acc.hash_password(password), actor=_actor())
    secret = acc.new_totp_secret()
    codes = acc.new_recovery_codes()
    accounts.enrol_totp(user.id, secret, 0, [acc.recovery_hash(c) for c in codes], _actor())
    return user.username, password, secret, codes


@main.command()
@click.option("--testimonies", "n", type=click.IntRange(0, 2_000_000), default=2000,
              show_default=True, help="Number of synthetic testimonies.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--keep", is_flag=True,
              help="Serve the instance's existing data as it is (build it if there is none).")
@click.option("--fresh", is_flag=True,
              help="Delete the instance's database and build the demo again from nothing.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo instance and exit.")
@click.pass_context
def demo(ctx, n, seed, keep, fresh, host, port, no_serve):
    """Build a demo instance (open data + synthetic testimonies + a demo account) and serve it.

    An instance that already holds data is never wiped silently: without --keep or --fresh,
    geomap asks (default: keep) on a terminal and refuses otherwise."""
    from .demo import load_reference_data, load_synthetic_testimonies
    from .store import Store

    settings = _settings(ctx)
    if keep and fresh:
        raise click.UsageError("--keep and --fresh contradict each other: choose one")
    _check_host(host)
    db_path = settings.instance_path / "geomap.sqlite3"
    held = _instance_holds(settings, db_path)
    if held and not (keep or fresh):
        what = f"{settings.instance_path} already holds data ({held})"
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise click.ClickException(
                f"{what}: run `geomap demo --keep` to serve it as it is, or `geomap demo "
                "--fresh` to delete it and build the demo again")
        fresh = click.confirm(f"{what}. Delete it all and build the demo again?",
                              default=False)
        if not fresh:
            click.echo("keeping it (--keep does this without asking; --fresh rebuilds)")
    fresh = fresh or not held
    if fresh and settings.database_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        (settings.instance_path / "audit.head").unlink(missing_ok=True)
        shutil.rmtree(settings.basemap_dir, ignore_errors=True)
    store = Store.for_instance(settings)
    ctx.obj["store"] = store
    if fresh:
        t0 = time.perf_counter()
        for line in load_reference_data(store):
            click.echo(line)
        added = load_synthetic_testimonies(store, n, seed, _progress_printer("testimonies"))
        store.audit(_actor(), "demo.build", str(settings.instance_path),
                    {"testimonies": added, "seed": seed})
        click.echo(f"{added} synthetic testimonies added in {time.perf_counter() - t0:.1f} s "
                   f"(seed {seed})")
        # as after an import: place names located and links proposed, so the review queue
        # and the grades are not empty at first sign-in
        _run_geocode(store)
        _print_credentials(*create_demo_user(store))
    else:
        click.echo(f"reusing {db_path} (demo account as printed when it was built; "
                   "`geomap users reset-mfa demo` and `reset-password demo` make new ones)")
    if not no_serve:
        _serve(settings, store, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.pass_context
def serve(ctx, host, port, threads):
    """Serve an existing instance with a production WSGI server (waitress)."""
    _serve(_settings(ctx), _store(ctx), host, port, threads)


# -- users -----------------------------------------------------------------------------------
@main.group()
def users() -> None:
    """Accounts. Every account signs in with a password and a second factor (TOTP)."""


def _accounts(ctx):
    from .store.accounts import AccountStore

    return AccountStore(_store(ctx))


def _user_or_fail(ctx, username: str):
    user = _accounts(ctx).by_name(username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "researcher", "analyst", "viewer"]),
              required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_add(ctx, username, role, password_stdin):
    """Add an account; it sets up its second factor at first sign-in."""
    from . import accounts as acc
    from .policy import Role

    name = acc.check_username(username)
    if _accounts(ctx).exists(name):
        raise click.ClickException(f"a user named {name!r} exists already")
    pw_hash = acc.hash_password(_read_password(password_stdin))
    user = _accounts(ctx).add(name, Role(role), pw_hash, actor=_actor())
    click.echo(f"added {user.username} ({user.role}); the second factor is set up at first sign-in")


@users.command("list")
@click.pass_context
def users_list(ctx):
    for u in _accounts(ctx).all():
        mfa = "mfa" if u.totp_secret else "mfa-pending"
        click.echo(f"{u.username}\t{u.role}\t{'active' if u.active else 'disabled'}\t{mfa}\t"
                   f"{len(u.recovery_hashes)} recovery codes left")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx, username):
    """Disable an account and end its sessions at once."""
    from .errors import InvalidInput

    user = _user_or_fail(ctx, username)
    try:
        _accounts(ctx).set_active(user.id, False, actor=_actor())
    except InvalidInput as e:  # the last enabled admin
        raise click.ClickException(str(e)) from None
    click.echo(f"disabled {username}; its sessions are ended")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx, username):
    user = _user_or_fail(ctx, username)
    _accounts(ctx).set_active(user.id, True, actor=_actor())
    click.echo(f"enabled {username}")


@users.command("reset-mfa")
@click.argument("username")
@click.pass_context
def users_reset_mfa(ctx, username):
    """Clear the second factor (lost phone): the user enrols again at next sign-in."""
    user = _user_or_fail(ctx, username)
    _accounts(ctx).reset_mfa(user.id, actor=_actor())
    click.echo(f"{username}: second factor cleared, sessions ended; they enrol again at sign-in")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_context
def users_reset_password(ctx, username, password_stdin):
    """Set a new password and end the user's sessions. The second factor stays required."""
    from . import accounts as acc

    user = _user_or_fail(ctx, username)
    _accounts(ctx).reset_password(user.id, acc.hash_password(_read_password(password_stdin)),
                                  actor=_actor())
    click.echo(f"{username}: password changed, sessions ended; the second factor is still "
               "required")


@users.command("reset-link")
@click.argument("username")
@click.pass_context
def users_reset_link(ctx, username):
    """Make a one-time link (24 h) for the user to set a new password; prints its path (put
    the server's address in front). The old password stops working and sessions end."""
    from . import accounts as acc

    user = _user_or_fail(ctx, username)
    token = _accounts(ctx).issue_password_link(user.id, actor=_actor())
    click.echo(f"{username}: password cleared, sessions ended. One-time link (valid "
               f"{acc.RESET_TTL_S // 3600} h), give it over a channel you trust:")
    click.echo(acc.reset_link_path(token))


# -- import / quarantine -----------------------------------------------------------------------
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
@click.option("--batch-rows", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--border-km", type=click.FloatRange(0, 1000), default=50.0, show_default=True,
              help="How far outside North Korea a point may lie.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_testimonies_cmd(ctx, file, pairs, mapping_file, mapping_name, save_mapping, dry_run,
                           batch_rows, border_km, as_json):
    """Import testimonies from CSV, XLSX, GeoJSON, KML or KMZ. Good rows land, bad rows are
    quarantined with their reasons; re-running the same file imports nothing new."""
    import json

    from .intake.run import import_testimonies

    store = _store(ctx)
    done = {"n": 0}

    def progress(k: int) -> None:
        done["n"] += k
        click.echo(f"\r{done['n']:,} rows", nl=False, err=True)

    from .errors import UnmappedColumns
    from .store.mappings import MappingStore

    mapping = MappingStore(store).get(mapping_name) if mapping_name else {}
    mapping.update(_parse_mapping(pairs, mapping_file))
    try:
        report = import_testimonies(store, file, actor=_actor(), mapping=mapping,
                                    dry_run=dry_run, batch_rows=batch_rows,
                                    border_km=border_km, progress=progress)
    except UnmappedColumns as e:  # nothing imported: say what to map, and how
        _unmapped_exit(ctx, e, as_json)
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
    if as_json:  # machine output is one JSON document and nothing else on stdout
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))


def _unmapped_exit(ctx, e, as_json: bool):
    """Exit 2 with the unmapped fields, the file's headers and the --map arguments to use."""
    import json

    from .intake.mapping import map_arguments

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

def _run_geocode(store, keys=None, echo: bool = True) -> dict:
    from .corroboration import run_linking
    from .gazetteer import Gazetteer
    from .geocode import geocode_pending
    from .policy import SYSTEM

    gaz = Gazetteer.from_store(store, SYSTEM)
    r = geocode_pending(store, gaz, actor=_actor(), keys=keys)
    links = run_linking(store, gaz)
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

    from .geocode import review_items

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


@main.group("quarantine")
def quarantine_() -> None:
    """Rows imports could not take, with their reasons."""


@quarantine_.command("export")
@click.option("--source", help="Only rows from this file name.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def quarantine_export(ctx, source, output):
    """CSV of quarantined rows with their problems: correct it and import it again."""
    from .intake.run import quarantine_csv

    store = _store(ctx)
    text = quarantine_csv(store, source)
    store.audit(_actor(), "quarantine.export", source or "*")
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


# -- corroboration ------------------------------------------------------------------------------
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

    from . import corroboration as corr
    from .gazetteer import Gazetteer
    from .policy import SYSTEM

    store = _store(ctx)
    t0 = time.perf_counter()
    r = corr.run_linking(store, Gazetteer.from_store(store, SYSTEM),
                         threshold if threshold is not None else corr.THRESHOLD)
    store.audit(_actor(), "links.propose", None, r)
    if as_json:
        from .evaluation import evaluate_links, json_safe

        doc = {"linking": r, **({"evaluation": evaluate_links(store)} if evaluate else {})}
        if propose_sites:
            from .proposals import proposals_for

            doc["proposed_sites"] = [p.as_dict() for p in proposals_for(store, SYSTEM)]
        click.echo(json.dumps(json_safe(doc), ensure_ascii=False, indent=1, allow_nan=False))
        return
    click.echo(f"{r['testimonies']:,} located testimonies, {r['sites']} sites: "
               f"{r['proposed']:,} candidate links, {r['ambiguous']:,} testimonies between two "
               f"sites left for review ({time.perf_counter() - t0:.1f} s)")
    if evaluate:
        from .evaluation import evaluate_links, report_lines

        e = corr.evaluate(store)
        click.echo(f"against synthetic ground truth: precision {e['precision']:.3f}, "
                   f"recall {e['recall']:.3f} ({e['true_positives']}/{e['predicted']} "
                   f"proposed correct, {e['relevant']} drawn from a site)")
        for line in report_lines(evaluate_links(store), "this instance"):
            click.echo(line)
    if propose_sites:
        from .proposals import cluster, unexplained

        inputs = unexplained(store, SYSTEM)
        proposals = cluster(inputs)
        click.echo(f"{len(proposals)} possible unknown sites from "
                   f"{len(inputs['id']):,} testimonies no listed site explains:")
        for p in proposals[:30]:
            click.echo(f"  {p.lat:.5f}, {p.lon:.5f}  ±{p.radius_m:,.0f} m  "
                       f"{len(p.testimony_ids)} testimonies, {p.witnesses} witnesses  "
                       f"{'; '.join(p.place_names[:3])}")


# -- gazetteer ---------------------------------------------------------------------------------
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

    from .gazetteer import Gazetteer
    from .policy import SYSTEM

    cands = Gazetteer.from_store(_store(ctx), SYSTEM).lookup(text, limit)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in cands], ensure_ascii=False, indent=1))
        return
    if not cands:
        click.echo("no candidates")
    for c in cands:
        where = f"{c.lat:.5f}, {c.lon:.5f}" if c.lat is not None else "no coordinates"
        click.echo(f"{c.score:5.1f}  {c.name}  [{c.kind}]  {where}  {c.admin1 or ''}")


# -- imagery -----------------------------------------------------------------------------------
@main.group()
def imagery() -> None:
    """Satellite imagery scenes: ingest, catalogue, verification."""


@imagery.command("add")
@click.argument("file")
@click.option("--date", "acquired", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Acquisition date (YYYY-MM-DD).")
@click.option("--sensor")
@click.option("--provider")
@click.option("--licence")
@click.option("--tier", type=click.Choice(["internal", "partner", "public"]), default="internal",
              show_default=True)
@click.option("--max-expansion", type=click.FloatRange(min=0),
              help="Most declared uncompressed bytes per file byte (0: no limit; default "
                   "GEOMAP_IMAGERY_MAX_EXPANSION or 1000). For a genuine, very sparse file.")
@click.option("--time-limit", type=click.FloatRange(min=1),
              help="Seconds the conversion may take (default GEOMAP_IMAGERY_CONVERT_S or 120).")
@click.pass_context
def imagery_add(ctx, file, acquired, sensor, provider, licence, tier, max_expansion,
                time_limit):
    """Ingest a GeoTIFF: evidentiary copy with SHA-256, COG working copy, footprint."""
    import dataclasses
    import shutil

    from .imagery import Limits, ingest
    from .model import Tier
    from .store.scenes import SceneStore

    store = _store(ctx)
    root = _settings(ctx).instance_path / "imagery"
    click.echo(f"validating and converting {Path(file).name} ...", err=True)
    limits = Limits.from_settings(_settings(ctx), convert_s=time_limit)
    if max_expansion is not None:
        limits = dataclasses.replace(limits, max_expansion=max_expansion or None)
    scene = ingest(file, root, acquired.date(), actor=_actor(), sensor=sensor,
                   provider=provider, licence=licence, tier=Tier(tier), progress_out=sys.stderr,
                   limits=limits)
    scenes = SceneStore(store)
    if (existing := scenes.by_sha(scene.sha256)) is not None:
        shutil.rmtree(root / scene.id, ignore_errors=True)
        raise click.ClickException(f"{Path(file).name} is already scene {existing} "
                                   "(same SHA-256); nothing added")
    scenes.add(scene, actor=_actor())
    click.echo(f"scene {scene.id}: {scene.label()}, {scene.width}x{scene.height}x{scene.bands} "
               f"{scene.dtype}, {scene.res_m:g} m, {scene.crs}, sha256 {scene.sha256}")


@imagery.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--site", help="Only scenes covering this site (key).")
@click.pass_context
def imagery_list(ctx, as_json, site):
    import json

    from .policy import SYSTEM
    from .store.scenes import SceneStore

    store = _store(ctx)
    bbox = None
    if site:
        s = store.site_by_key(site, SYSTEM)
        if s is None or s.geometry is None:
            raise click.ClickException(f"no located site {site!r}")
        bbox = s.geometry.bounds
    found = SceneStore(store).list(SYSTEM, bbox=bbox)
    if as_json:
        click.echo(json.dumps([{
            "id": x.id, "acquired": x.acquired.isoformat(), "sensor": x.sensor,
            "provider": x.provider, "licence": x.licence, "sha256": x.sha256, "crs": x.crs,
            "res_m": x.res_m, "width": x.width, "height": x.height, "bands": x.bands,
            "dtype": x.dtype, "footprint": x.footprint.__geo_interface__} for x in found],
            ensure_ascii=False, indent=1))
        return
    for x in found:
        click.echo(f"{x.id}  {x.label()}  {x.res_m:g} m  {x.width}x{x.height}  {x.original_name}")


@imagery.command("stac")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--tier", type=click.Choice(["public", "partner", "internal"]), default="public",
              show_default=True,
              help="Lowest tier to include: a catalogue is a publication, public unless asked.")
@click.option("--copy-assets", is_flag=True,
              help="Copy the image files into the catalogue (a folder that can be moved); "
                   "otherwise assets point at the instance's imagery folder.")
@click.pass_context
def imagery_stac(ctx, out_dir, tier, copy_assets):
    """Write a static STAC catalogue of the scenes (validated against the STAC schemas)."""
    from collections import Counter

    from .imagery import UnreadableScene, cog_maxzoom
    from .policy import SYSTEM
    from .stac import write_catalogue
    from .store.scenes import SceneStore

    store = _store(ctx)
    order = ["public", "partner", "internal"]
    wanted = set(order[: order.index(tier) + 1])
    every = SceneStore(store).list(SYSTEM)
    root = _settings(ctx).instance_path / "imagery"
    found = [x for x in every if x.tier in wanted]
    left = Counter(x.tier for x in every if x.tier not in wanted)

    def usable(x) -> bool:
        try:
            cog_maxzoom(root, x.id)
        except UnreadableScene as e:
            click.echo(f"left out {e} (geomap imagery verify)", err=True)
            return False
        if not (root / x.id / "original.tif").is_file():
            click.echo(f"left out scene {x.id}: evidentiary copy missing (geomap imagery "
                       "verify)", err=True)
            return False
        return True

    found = [x for x in found if usable(x)]
    write_catalogue(found, out_dir, root, copy_assets=copy_assets)
    store.audit(_actor(), "imagery.export_stac", str(out_dir),
                {"scenes": len(found), "tiers": sorted(wanted), "left_out": dict(left)})
    click.echo(f"{len(found)} STAC items in {out_dir / 'catalog.json'}")
    if left:
        what = ", ".join(f"{n} {t}" for t, n in sorted(left.items()))
        click.echo(f"left out {sum(left.values())} scenes not in the chosen tiers ({what}); "
                   "--tier to include them")


@imagery.command("verify")
@click.pass_context
def imagery_verify(ctx):
    """Re-hash every evidentiary copy and open every working copy; report any mismatch,
    missing or unreadable file (exit 1)."""
    from .imagery import UnreadableScene, cog_maxzoom, sha256_file
    from .policy import SYSTEM
    from .store.scenes import SceneStore

    store = _store(ctx)
    root = _settings(ctx).instance_path / "imagery"
    bad = 0
    found = SceneStore(store).list(SYSTEM)
    for x in found:
        p = root / x.id / "original.tif"
        if not p.is_file():
            click.echo(f"FAIL {x.id}: evidentiary copy missing")
            bad += 1
        elif sha256_file(p) != x.sha256:
            click.echo(f"FAIL {x.id}: SHA-256 mismatch (the evidentiary copy changed)")
            bad += 1
        else:
            try:
                cog_maxzoom(root, x.id)
            except UnreadableScene as e:  # pages skip it; re-ingest the original to repair
                click.echo(f"FAIL {e}")
                bad += 1
    store.audit(_actor(), "imagery.verify", None, {"scenes": len(found), "failures": bad})
    if bad:
        raise SystemExit(1)
    click.echo(f"{len(found)} scenes verified")


# -- audit / keys ------------------------------------------------------------------------------
@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx):
    """Check the whole chain; names every edited, removed or reordered entry."""
    from . import audit as audit_lib

    store = _store(ctx)
    with store.read() as conn:
        n, problems = audit_lib.verify(conn, store.audit_head)
    for p in problems:
        click.echo(f"FAIL {p}")
    if problems:
        raise SystemExit(1)
    click.echo(f"audit log intact: {n} entries")


@audit.command("tail")
@click.option("-n", "count", type=int, default=20, show_default=True)
@click.pass_context
def audit_tail(ctx, count):
    from sqlalchemy import select

    from .store.schema import audit_log

    store = _store(ctx)
    with store.read() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(count)).all()
    for r in reversed(rows):
        click.echo(f"{r.id}\t{r.ts}\t{r.actor}\t{r.action}\t{r.target or ''}\t{r.details}")


@main.group()
def keys() -> None:
    """Field-encryption keys (kept in the instance folder, outside the database)."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx):
    """Add a new key, re-encrypt every encrypted field with it, then retire the old keys."""
    from .rotation import rotate_keys

    store = _store(ctx)
    result = rotate_keys(store, actor=_actor(),
                         progress=lambda done, total: click.echo(f"re-encrypted {done}/{total}",
                                                                 err=True))
    click.echo(f"active key {result.new_key}; {result.values} values re-encrypted; "
               f"retired keys {result.retired}")


# -- basemap packages ---------------------------------------------------------------------------
@main.group()
def basemap() -> None:
    """Offline basemap packages (raster MBTiles or PMTiles) served from this instance."""


@basemap.command("install")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name in URLs and the layer list (default: from the file name).")
@click.pass_context
def basemap_install(ctx, file, name):
    """Check a raster MBTiles file or PMTiles v3 archive (png, jpg or webp tiles) and install a
    copy of it; the map pages then use it as their base layer, the relief stays as the other."""
    from . import basemaps

    settings = _settings(ctx)
    pkg = basemaps.install(settings.instance_path, file, name,
                           progress=_progress_printer("basemap"))
    _store(ctx).audit(_actor(), "basemap.install", pkg.name,
                      {"sha256": pkg.sha256, "source": pkg.source, "size": pkg.size})
    w, s, e, n = pkg.bounds
    click.echo(f"installed basemap {pkg.name}: {pkg.tiles} {pkg.format} tiles, zoom "
               f"{pkg.minzoom}-{pkg.maxzoom}, bounds {w:g},{s:g},{e:g},{n:g}"
               + (f"; attribution: {pkg.attribution}" if pkg.attribution else
                  "; no attribution in its metadata (check the data's licence)"))


@basemap.command("list")
@click.option("--json", "as_json", is_flag=True, help="The packages as JSON.")
@click.pass_context
def basemap_list(ctx, as_json):
    """Installed basemap packages; the first is the maps' default base layer."""
    import json

    from . import basemaps

    found = basemaps.installed(_settings(ctx).instance_path)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("no basemap package installed (the maps use the shipped relief)")
    for p in found:
        click.echo(f"{p.name}\t{p.format}\tz{p.minzoom}-{p.maxzoom}\t{p.tiles} tiles\t"
                   f"{p.size / 1e6:.1f} MB\t{p.attribution}")


@basemap.command("remove")
@click.argument("name")
@click.pass_context
def basemap_remove(ctx, name):
    """Remove an installed basemap package."""
    from . import basemaps

    pkg = basemaps.remove(_settings(ctx).instance_path, name)
    _store(ctx).audit(_actor(), "basemap.remove", pkg.name, {"sha256": pkg.sha256})
    click.echo(f"removed basemap {pkg.name}")


if __name__ == "__main__":  # pragma: no cover
    main()
