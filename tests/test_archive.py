"""`geomap archive`: a real instance (reference sites, synthetic testimonies with encrypted
narratives, a real GeoTIFF scene, an enrolled user, audited writes) archived as a BagIt bag,
verified fully, restored into a fresh instance folder where `audit verify` and `imagery
verify` pass, the counts match and a narrative decrypts with the escrowed keys; a changed byte
is caught in a bag folder and in an encrypted archive; retention keeps only our own archives.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from geomap import archive as arc
from geomap.cli import main
from geomap.config import load_settings
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.policy import SYSTEM
from geomap.scenes import add_scene
from geomap.store import Store, archive_rows
from geomap.store.testimony_records import editable
from tests.conftest import make_user, solid_geotiff

PASS = "a long archive passphrase"
KEYS_PASS = "another long passphrase"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The instance to archive: (settings, store, a testimony id and its narrative)."""
    root = tmp_path_factory.mktemp("archive-src")
    settings = load_settings(root / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 30, seed=11)
    tif = solid_geotiff(root / "scene.tif", (126.0, 40.0, 126.01, 40.01), 0)
    add_scene(store, settings, tif, date(2021, 6, 1), "test", sensor="synthetic")
    make_user(store, "researcher")
    for i in range(3):
        store.audit("test", "test.write", f"thing:{i}", {"n": i})
    with store.read() as conn:
        tid, _, _ = archive_rows.sample_ciphertext(conn)
    narrative = editable(store, tid, SYSTEM)["narrative"]
    assert narrative
    yield settings, store, tid, narrative
    store.close()


def cli(*args: str, env: dict | None = None, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input)


def create(settings, out: Path, *extra: str, env: dict | None = None) -> dict:
    r = cli("--instance", str(settings.instance_path), "archive", "create", str(out), "--json",
            *extra, env=env)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def bag(source, tmp_path_factory) -> Path:
    settings, *_ = source
    return Path(create(settings, tmp_path_factory.mktemp("archives"))["path"])


def flip_byte(path: Path, at: int = -40) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_create_verify_restore_into_a_fresh_instance(source, bag, tmp_path):
    settings, store, tid, narrative = source
    # the bag: both manifests, bag-info with versions and counts, the open copy without secrets
    assert (bag / "manifest-sha256.txt").is_file() and (bag / "manifest-sha512.txt").is_file()
    info = (bag / "bag-info.txt").read_text()
    for key in ("Source-Organization", "Bagging-Date", "Geomap-Version",
                "Geomap-Schema-Version", "Geomap-Counts"):
        assert key in info
    records = bag / "data" / "records"
    sites = json.loads((records / "sites.geojson").read_text())
    assert sites["features"] and sites["features"][0]["geometry"]["type"] == "Point"
    assert (records / "testimonies.csv").is_file() and not (records / "users.csv").exists()
    header = (records / "testimonies.csv").read_text().splitlines()[0]
    assert "narrative_enc" not in header and "witness_enc" not in header
    assert not any(narrative in p.read_text(errors="replace")
                   for p in records.iterdir()), "a narrative in clear in the open copy"
    assert len((bag / "data" / "audit" / "audit-log.jsonl").read_text().splitlines()) >= 4
    assert list((bag / "data" / "imagery").glob("*/original.tif"))
    on_pg = store.dialect == "postgresql"
    assert (bag / "data" / "database" / ("geomap.pgdump" if on_pg else "geomap.sqlite3")).is_file()
    assert f"Geomap-Database: {'postgresql' if on_pg else 'sqlite'}" in info

    r = cli("archive", "verify", str(bag), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True

    keys = tmp_path / "keys.enc"
    r = cli("--instance", str(settings.instance_path), "archive", "keys-export", str(keys),
            "--encrypt", env={"GEOMAP_KEYS_PASSPHRASE": KEYS_PASS})
    assert r.exit_code == 0, r.output
    assert b"index_key" not in keys.read_bytes()

    new = tmp_path / "elsewhere" / "instance"
    r = cli("archive", "restore", str(bag), str(new), "--keys", str(keys), "--json",
            env={"GEOMAP_KEYS_PASSPHRASE": KEYS_PASS})
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["ok"] and report["scenes"] == 1 and report["keys"] == "restored"

    for command in (["audit", "verify"], ["imagery", "verify"]):
        r = cli("--instance", str(new), *command)
        assert r.exit_code == 0, r.output
    restored = Store.for_instance(load_settings(new))
    try:
        with store.read() as a, restored.read() as b:
            before, after = archive_rows.table_counts(a), archive_rows.table_counts(b)
        # the restored instance has the entries the two verifications appended since
        assert {k: v for k, v in after.items() if k != "audit_log"} == \
            {k: v for k, v in before.items() if k != "audit_log"}
        assert editable(restored, tid, SYSTEM)["narrative"] == narrative
        from geomap.web import create_app

        app = create_app(load_settings(new), restored)
        assert app.test_client().get("/login", base_url="https://localhost").status_code == 200
    finally:
        restored.close()


def test_a_changed_byte_in_the_bag_is_caught_and_named(bag, tmp_path):
    copy = tmp_path / bag.name
    shutil.copytree(bag, copy)
    flip_byte(copy / "data" / "records" / "sites.csv")
    original = next((copy / "data" / "imagery").glob("*/original.tif"))
    flip_byte(original, 5000)
    r = cli("archive", "verify", str(copy))
    assert r.exit_code == 1
    assert "data/records/sites.csv" in r.output and "original.tif" in r.output
    doc = json.loads(cli("archive", "verify", str(copy), "--json").stdout)
    assert doc["ok"] is False and "data/records/sites.csv" in doc["bad_files"]
    # and such a bag is not restored
    r = cli("archive", "restore", str(copy), str(tmp_path / "new"), "--without-keys")
    assert r.exit_code == 2 and "does not verify" in r.output


def test_encrypted_archive_round_trip_and_tampering(source, tmp_path):
    settings, store, tid, narrative = source
    env = {"GEOMAP_ARCHIVE_PASSPHRASE": PASS}
    made = create(settings, tmp_path / "out", "--encrypt", env=env)
    path = Path(made["path"])
    assert made["encrypted"] and path.name.endswith(".tar.enc") and path.is_file()
    assert b"bagit" not in path.read_bytes() and b"Geomap-Version" not in path.read_bytes()
    assert cli("archive", "verify", str(path), env=env).exit_code == 0
    wrong = cli("archive", "verify", str(path), env={"GEOMAP_ARCHIVE_PASSPHRASE": "x" * 20})
    assert wrong.exit_code == 1 and "does not authenticate" in wrong.output

    changed = tmp_path / "changed.tar.enc"
    shutil.copy(path, changed)
    flip_byte(changed, path.stat().st_size // 2)
    r = cli("archive", "verify", str(changed), env=env)
    assert r.exit_code == 1 and "does not authenticate" in r.output
    cut = tmp_path / "cut.tar.enc"
    cut.write_bytes(path.read_bytes()[:-100])
    assert cli("archive", "verify", str(cut), env=env).exit_code == 1

    new = tmp_path / "restored"
    shutil.copytree(settings.instance_path / "keys", new / "keys")  # keys kept by hand
    r = cli("archive", "restore", str(path), str(new), "--json", env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["keys"] == "the instance's own"


def test_a_passphrase_is_never_taken_on_the_command_line(source, tmp_path):
    settings, *_ = source
    r = cli("--instance", str(settings.instance_path), "archive", "create", str(tmp_path),
            "--encrypt", "--passphrase", PASS)
    assert r.exit_code == 2 and "never taken on the command line" in r.output
    assert not list(tmp_path.iterdir())


def test_retention_keeps_the_newest_and_touches_nothing_else(source, tmp_path):
    settings, *_ = source
    out = tmp_path / "nightly"
    out.mkdir()
    (out / "geomap-archive-notes.txt").write_text("mine")
    (out / "geomap-archive-20000101T000000.000000Z").mkdir()  # the name, but not a bag
    made = [create(settings, out, "--keep", "2")["path"] for _ in range(3)]
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted(["geomap-archive-notes.txt", "geomap-archive-20000101T000000.000000Z",
                           Path(made[1]).name, Path(made[2]).name])


def test_restore_refuses_an_instance_with_data_or_without_keys(bag, source, tmp_path):
    settings, *_ = source
    r = cli("archive", "restore", str(bag), str(settings.instance_path), "--without-keys")
    assert r.exit_code == 2 and "not a fresh instance" in r.output
    r = cli("archive", "restore", str(bag), str(tmp_path / "fresh"))
    assert r.exit_code == 2 and "--keys" in r.output


def test_the_stream_detects_reordered_truncated_and_extended_chunks():
    data = bytes(range(256)) * 40  # 10 KiB: ten chunks of 1 KiB
    out = io.BytesIO()
    w = arc.EncryptingWriter(out, PASS, chunk=1024)
    w.write(data)
    w.close()
    blob = out.getvalue()
    head, body = blob[:32], blob[32:]
    chunks = [body[i:i + 1040] for i in range(0, len(body), 1040)]
    assert arc.DecryptingReader(io.BytesIO(blob), PASS).read() == data

    def refused(b: bytes) -> bool:
        try:
            arc.DecryptingReader(io.BytesIO(b), PASS).read()
        except arc.ArchiveError:
            return True
        return False

    assert refused(head + chunks[1] + chunks[0] + b"".join(chunks[2:]))  # reordered
    assert refused(head + b"".join(chunks[:-1]))  # the last chunk dropped
    assert refused(blob + chunks[-1])  # a chunk appended
    assert refused(head[:30] + b"\x08" + head[31:] + body)  # header changed (chunk size)
    assert head[30:31] == b"\x04"


def test_a_resized_added_or_removed_file_is_named_too(bag, tmp_path):
    # bagit stops at the size total (Payload-Oxum) without naming a file: verify still does
    copy = tmp_path / bag.name
    shutil.copytree(bag, copy)
    with open(copy / "data" / "records" / "sites.csv", "a") as f:
        f.write("extra,row\n")
    doc = json.loads(cli("archive", "verify", str(copy), "--json").stdout)
    assert doc["ok"] is False and doc["bad_files"] == ["data/records/sites.csv"]
    (copy / "data" / "records" / "sites.csv").unlink()
    (copy / "data" / "records" / "planted.csv").write_text("a\n")
    r = cli("archive", "verify", str(copy))
    assert r.exit_code == 1
    assert "data/records/sites.csv" in r.output and "data/records/planted.csv" in r.output


def test_a_snapshot_taken_while_geomap_writes_is_consistent(settings, store, tmp_path):
    """Audited writes go on during `create`: the bag's database is one moment (the online
    backup API or pg_dump's snapshot) and its audit head never leads it, so the restored chain
    verifies."""
    import threading

    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            store.audit("test", "test.busy", f"n:{i}", {"i": i})
            i += 1

    store.audit("test", "test.first")
    t = threading.Thread(target=writer)
    t.start()
    try:
        made = [arc.create_archive(store, settings, tmp_path / "out") for _ in range(2)]
    finally:
        stop.set()
        t.join()
    for i, done in enumerate(made):
        assert arc.verify_archive(done.path).ok
        back = arc.restore_archive(done.path, tmp_path / f"new{i}", without_keys=True)
        assert back.ok and not back.audit_problems, back.as_dict()
        assert back.audit_entries >= done.counts["audit_log"]
