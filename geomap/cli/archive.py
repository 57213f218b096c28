"""`geomap archive ...`: take the instance out as a BagIt bag, check one, bring one up in a
fresh instance, and export the keys a restore needs (docs/archive.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.core import ParameterSource

from ..errors import InvalidInput
from . import _progress_printer, _settings, _store, main

ARCHIVE_ENV = "GEOMAP_ARCHIVE_PASSPHRASE"
KEYS_ENV = "GEOMAP_KEYS_PASSPHRASE"


def _passphrase_option(name: str, env: str):
    # read from the environment or asked for; an option so that click reads the variable,
    # hidden and refused on the command line (where `ps` and shell history would keep it)
    return click.option(f"--{name}", name.replace("-", "_"), envvar=env, hidden=True)


def _passphrase(ctx: click.Context, param: str, given: str | None, env: str, what: str,
                confirm: bool = False) -> str:
    if given is not None and ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE:
        raise InvalidInput(f"a passphrase is never taken on the command line: set {env} or "
                           "answer the prompt", field="passphrase")
    if given:
        return given
    return click.prompt(what, hide_input=True, confirmation_prompt=confirm, err=True)


def _progress(as_json: bool, label: str):
    return _progress_printer(label)  # stderr only: stdout stays pure JSON with --json


@main.group()
def archive() -> None:
    """Archives of the whole instance (BagIt): create, verify, restore, keys for escrow."""


@archive.command("create")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--encrypt", is_flag=True,
              help=f"Write one encrypted file (AES-256-GCM, scrypt passphrase from {ARCHIVE_ENV} "
                   "or a prompt) instead of a bag folder.")
@click.option("--keep", type=click.IntRange(min=1),
              help="Then remove this folder's older geomap archives beyond the newest N.")
@click.option("--organization", help="Source-Organization in bag-info.txt.")
@click.option("--json", "as_json", is_flag=True)
@_passphrase_option("passphrase", ARCHIVE_ENV)
@click.pass_context
def archive_create(ctx, out_dir, encrypt, keep, organization, as_json, passphrase):
    """Write a BagIt bag of the instance into OUT_DIR (a new folder or file named by the UTC
    time): database snapshot, imagery, open-format records, audit chain."""
    from ..archive import create_archive

    pw = _passphrase(ctx, "passphrase", passphrase, ARCHIVE_ENV, "archive passphrase",
                     confirm=True) if encrypt else None
    done = create_archive(_store(ctx), _settings(ctx), out_dir, passphrase=pw,
                          organization=organization, keep=keep,
                          progress=_progress(as_json, "archive"))
    if as_json:
        click.echo(json.dumps(done.as_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(f"archive {done.path}: {done.files} payload files, schema {done.schema}, "
               f"{done.counts.get('sites', 0)} sites, {done.counts.get('testimonies', 0)} "
               f"testimonies, {done.counts.get('scenes', 0)} scenes"
               + (", encrypted" if done.encrypted else ""))
    for p in done.removed:
        click.echo(f"removed older archive {p}")


@archive.command("verify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@_passphrase_option("passphrase", ARCHIVE_ENV)
@click.pass_context
def archive_verify(ctx, path, as_json, passphrase):
    """Validate an archive fully: every file's SHA-256 and SHA-512 against the manifests,
    nothing missing or added (an encrypted one is decrypted to a temporary folder first).
    Exit 1 naming each bad file."""
    from ..archive import verify_archive

    pw = _passphrase(ctx, "passphrase", passphrase, ARCHIVE_ENV, "archive passphrase") \
        if path.is_file() else None
    report = verify_archive(path, pw, progress=_progress(as_json, "verify"))
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        for p in report.problems:
            click.echo(f"FAIL {p}")
        if report.ok:
            click.echo(f"archive intact: {path} (geomap {report.info.get('Geomap-Version')}, "
                       f"schema {report.info.get('Geomap-Schema-Version')}, bagged "
                       f"{report.info.get('Bagging-Date')})")
    if not report.ok:
        raise SystemExit(1)


@archive.command("restore")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("instance_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"The key export (geomap archive keys-export); its passphrase from {KEYS_ENV} "
                   "or a prompt.")
@click.option("--without-keys", is_flag=True,
              help="Restore without keys: narratives, witness codes and second factors stay "
                   "unreadable.")
@click.option("--json", "as_json", is_flag=True)
@_passphrase_option("passphrase", ARCHIVE_ENV)
@_passphrase_option("keys-passphrase", KEYS_ENV)
@click.pass_context
def archive_restore(ctx, path, instance_dir, keys_file, without_keys, as_json, passphrase,
                    keys_passphrase):
    """Bring an archive up in the fresh instance folder INSTANCE_DIR, then verify the audit
    chain, every scene's hashes and the row counts (exit 1 on any problem)."""
    from ..archive import read_keys, restore_archive

    pw = _passphrase(ctx, "passphrase", passphrase, ARCHIVE_ENV, "archive passphrase") \
        if path.is_file() else None
    keys = None
    if keys_file is not None:
        keys = read_keys(keys_file, _passphrase(ctx, "keys_passphrase", keys_passphrase,
                                                KEYS_ENV, "key export passphrase"))
    done = restore_archive(path, instance_dir, passphrase=pw, keys=keys,
                           without_keys=without_keys, progress=_progress(as_json, "restore"))
    if as_json:
        click.echo(json.dumps(done.as_dict(), ensure_ascii=False, indent=1))
    else:
        for p in done.audit_problems:
            click.echo(f"FAIL audit: {p}")
        for p in done.scene_problems:
            click.echo(f"FAIL imagery: {p}")
        for p in done.count_differences:
            click.echo(f"FAIL counts: {p}")
        if done.keys_problem:
            click.echo(f"FAIL keys: {done.keys_problem}")
        click.echo(f"restored into {done.instance}: schema {done.schema_in_bag} -> "
                   f"{done.schema_now}; audit log {done.audit_entries} entries"
                   f"{' intact' if not done.audit_problems else ''}; {done.scenes} scenes "
                   f"verified; keys: {done.keys}")
    if not done.ok:
        raise SystemExit(1)


@archive.command("keys-export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--encrypt", is_flag=True, default=True, show_default=True,
              help=f"Always on: key material is never written in clear (passphrase from "
                   f"{KEYS_ENV} or a prompt).")
@_passphrase_option("keys-passphrase", KEYS_ENV)
@click.pass_context
def archive_keys_export(ctx, out, encrypt, keys_passphrase):
    """Write the instance's field keys and secret key, encrypted with a passphrase, for
    escrow: a restore needs them to read narratives, witness codes and second factors."""
    from ..archive import export_keys

    pw = _passphrase(ctx, "keys_passphrase", keys_passphrase, KEYS_ENV,
                     "key export passphrase", confirm=True)
    export_keys(_settings(ctx), out, pw)
    click.echo(f"keys written to {out} (encrypted); keep it apart from the archives")
