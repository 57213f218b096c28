"""`geomap exchange ...`: signed bundles of partner-tier records between instances
(geomap.exchange; docs/exchange.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import _actor, _settings, _store, main


@main.group()
def exchange() -> None:
    """Signed bundles of partner-tier records, to and from partner organisations."""


def _identity_lines(ident) -> list[str]:
    from ..exchange import public_key_pem, short_fingerprint

    return [f"organisation: {ident.organisation}",
            f"fingerprint: {short_fingerprint(ident.fingerprint)}",
            public_key_pem(ident.public_key).rstrip()]


@exchange.command("keygen")
@click.option("--org", required=True, help="Your organisation's name, as partners will see it.")
@click.option("--force", is_flag=True, help="Replace an existing key (partners must re-trust).")
@click.pass_context
def keygen_cmd(ctx, org, force):
    """Make this instance's Ed25519 signing key (keys/exchange-signing.pem, 0600)."""
    from ..exchange import keygen

    ident = keygen(_settings(ctx), org, force=force)
    click.echo("\n".join(_identity_lines(ident)))


@exchange.command("pubkey")
@click.pass_context
def pubkey_cmd(ctx):
    """Print the public key (PEM) and its fingerprint, to give to partners."""
    from ..exchange import identity

    click.echo("\n".join(_identity_lines(identity(_settings(ctx)))))


@exchange.command("trust")
@click.argument("pubkey_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The partner organisation's name.")
@click.pass_context
def trust_cmd(ctx, pubkey_file, name):
    """Accept bundles signed by the key in PUBKEY_FILE (check its fingerprint by phone)."""
    from ..exchange import short_fingerprint, trust

    entry = trust(_settings(ctx), pubkey_file.read_bytes(), name)
    _store(ctx).audit(_actor(), "exchange.trust", entry["name"],
                      {"fingerprint": entry["fingerprint"]})
    click.echo(f"trusted {entry['name']}: {short_fingerprint(entry['fingerprint'])}")


@exchange.command("untrust")
@click.argument("name")
@click.pass_context
def untrust_cmd(ctx, name):
    """Stop accepting bundles from the partner NAME."""
    from ..exchange import untrust

    entry = untrust(_settings(ctx), name)
    _store(ctx).audit(_actor(), "exchange.untrust", entry["name"],
                      {"fingerprint": entry["fingerprint"]})
    click.echo(f"no longer trusted: {entry['name']}")


@exchange.command("partners")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_context
def partners_cmd(ctx, as_json):
    """The partners whose bundles this instance accepts."""
    from ..exchange import partners, short_fingerprint

    ps = partners(_settings(ctx))
    if as_json:
        click.echo(json.dumps(ps, ensure_ascii=False, indent=1))
        return
    for p in ps:
        click.echo(f"{p['name']}\t{short_fingerprint(p['fingerprint'])}\t{p['added_at']}")
    if not ps:
        click.echo("no trusted partners")


@exchange.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The manifest as one JSON document.")
@click.pass_context
def export_cmd(ctx, out, as_json):
    """Write a signed bundle of partner- and public-tier records to OUT (a zip)."""
    from ..exchange import export_bundle

    m = export_bundle(_store(ctx), _settings(ctx), out, _actor())
    if as_json:
        click.echo(json.dumps(m, ensure_ascii=False, indent=1))
    else:
        click.echo(f"bundle {m['bundle_id']}: {m['counts']['sites']} sites, "
                   f"{m['counts']['testimonies']} testimonies written to {out}")


@exchange.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check everything, store nothing.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON document.")
@click.pass_context
def import_cmd(ctx, bundle, dry_run, as_json):
    """Check a partner's signed BUNDLE and import its records with provenance."""
    from ..exchange import import_bundle

    r = import_bundle(_store(ctx), _settings(ctx), bundle, _actor(), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(r, ensure_ascii=False, indent=1))
        return
    if r["already_imported"]:
        click.echo(f"bundle {r['bundle_id']} from {r['partner']} was imported already: "
                   "nothing added")
        return
    verb = "would import" if dry_run else "imported"
    s, t = r["sites"], r["testimonies"]
    click.echo(f"bundle {r['bundle_id']} from {r['partner']} (verified): {verb} "
               f"{s.get('inserted', s.get('would_upsert', 0))} new sites"
               f"{'' if dry_run else ', updated ' + str(s['updated'])}; "
               f"{t['inserted']} testimonies, {t['already_present']} already present, "
               f"{t['quarantined']} quarantined")
