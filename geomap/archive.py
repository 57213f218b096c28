"""Continuity: an instance taken out whole as a BagIt bag (RFC 8493), checked, and brought up
again in a fresh instance on another machine. `geomap archive ...` calls these.

A bag holds (under data/): a consistent database snapshot (SQLite's online backup API, or
`pg_dump -Fc` inside an exported snapshot), the imagery folder (evidentiary originals and
working copies), the audit head file, an open-format copy of the records (CSV for every table
but the credential tables, GeoJSON for those with a geometry; encrypted fields left out) and
the audit chain as JSON lines. bag-info.txt names the geomap and schema versions and the row
counts; SHA-256 and SHA-512 manifests cover every file. Verification is always full (bagit's
fast mode only counts bytes and misses a changed byte).

`--encrypt` writes the bag as a tar streamed through AES-256-GCM in 1 MiB chunks (format
below) under a key derived from a passphrase with scrypt. The field keys and the secret key
are never in a bag: `export_keys` writes them, passphrase-encrypted, for escrow.

Encrypted file format (archives and key exports alike), all integers big endian:
    header (32 bytes): magic (8: b"GMAPARC1" or b"GMAPKEY1") | kdf (1: 1 = scrypt) |
        log2 N (1) | r (1) | p (1) | salt (16) | chunk size (4)
    then chunks: AES-256-GCM(key, nonce_i, plaintext_i, aad=header), each chunk_size bytes
        of plaintext (the last may be shorter, even empty) plus a 16-byte tag, where
        nonce_i = i as 11 bytes | 0x01 for the last chunk, 0x00 otherwise.
The key is scrypt(passphrase, salt, N, r, p) with a fresh random salt per file, so a nonce is
never reused under one key; the chunk index and the last-chunk flag are in the nonce, so a
reordered, dropped, duplicated or truncated chunk, or bytes after the last, fail to decrypt
(the STREAM construction, as in age and Tink).
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from . import __version__
from .errors import Conflict, GeomapError, InvalidInput

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store

Progress = Callable[[str, int, int], None]  # (stage, done, total), as cli._progress_printer

ARCHIVE_MAGIC = b"GMAPARC1"
KEYS_MAGIC = b"GMAPKEY1"
CHUNK = 1 << 20
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 17, 8, 1  # 128 MiB, ~0.4 s here: per file, not per chunk
MIN_PASSPHRASE = 12
_HEADER = struct.Struct(">8sBBBB16sI")
NAME_PREFIX = "geomap-archive-"
ENCRYPTED_SUFFIX = ".tar.enc"
_NAME = re.compile(r"^geomap-archive-\d{8}T\d{6}\.\d{6}Z(\.tar\.enc)?$")
RECORDS_NOTE = (
    "The open copy (data/records) leaves out every encrypted field (witness codes, narratives, "
    "annotation notes, quarantined rows) and the credential tables (users, sessions, password "
    "resets, API tokens, sign-in attempts); the database snapshot holds them, encrypted with "
    "the instance's field keys, which are not in this bag (geomap archive keys-export).")


class ArchiveError(GeomapError):
    """An archive that cannot be read: not one of ours, damaged, or the wrong passphrase."""


def _noop(stage: str, done: int, total: int) -> None:
    pass


# -- encryption ---------------------------------------------------------------------------------
def _check_passphrase(passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"the passphrase must have at least {MIN_PASSPHRASE} characters",
                           field="passphrase")
    return passphrase.encode("utf-8")


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ArchiveError("unsupported key-derivation parameters in the header")
    key = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(
        passphrase.encode("utf-8"))
    return AESGCM(key)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """A write-only file object: what is written leaves encrypted, one chunk at a time."""

    def __init__(self, out: IO[bytes], passphrase: str, magic: bytes = ARCHIVE_MAGIC,
                 chunk: int = CHUNK):
        _check_passphrase(passphrase)
        salt = secrets.token_bytes(16)
        self.header = _HEADER.pack(magic, 1, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, salt, chunk)
        self._aead = _derive(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
        self._out, self._chunk, self._buf, self._index = out, chunk, bytearray(), 0
        self.written = 0
        out.write(self.header)

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) > self._chunk:  # keep at least one byte back for the last chunk
            self._emit(bytes(self._buf[:self._chunk]), last=False)
            del self._buf[:self._chunk]
        return len(data)

    def _emit(self, plain: bytes, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._index, last), plain, self.header))
        self._index += 1
        self.written += len(plain)

    def close(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf = bytearray()

    def flush(self) -> None:
        pass


class DecryptingReader:
    """A read-only file object over an encrypted file; ArchiveError on any chunk that does
    not authenticate (changed, reordered, truncated, or the wrong passphrase)."""

    def __init__(self, src: IO[bytes], passphrase: str, magic: bytes = ARCHIVE_MAGIC):
        head = src.read(_HEADER.size)
        if len(head) < _HEADER.size or head[:8] != magic:
            what = "a geomap key export" if magic == KEYS_MAGIC else "an encrypted geomap archive"
            raise ArchiveError(f"not {what} (unknown header)")
        _, kdf, log2_n, r, p, salt, chunk = _HEADER.unpack(head)
        if kdf != 1 or not 1024 <= chunk <= 1 << 26:
            raise ArchiveError("unsupported encryption header")
        self._aead = _derive(passphrase, salt, log2_n, r, p)
        self._src, self._header, self._chunk = src, head, chunk
        # the current plaintext chunk and how much of it was read: tarfile reads 10 KiB at a
        # time, and slicing a 1 MiB buffer on every read would copy it a hundred times
        self._index, self._buf, self._pos, self._done = 0, b"", 0, False
        self._next = src.read(chunk + 16)

    def _advance(self) -> None:
        ct, self._next = self._next, self._src.read(self._chunk + 16)
        last = not self._next
        try:
            plain = self._aead.decrypt(_nonce(self._index, last), ct, self._header)
        except InvalidTag:
            raise ArchiveError(
                f"chunk {self._index} does not authenticate: the file was changed or cut "
                "short, or the passphrase is wrong") from None
        self._buf, self._pos = self._buf[self._pos:] + plain, 0
        self._index += 1
        self._done = last

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buf) - self._pos < n):
            self._advance()
        end = len(self._buf) if n < 0 else self._pos + n
        out = self._buf[self._pos:end]
        self._pos = min(end, len(self._buf))
        return out


def encrypt_bytes(data: bytes, passphrase: str, magic: bytes) -> bytes:
    import io

    out = io.BytesIO()
    w = EncryptingWriter(out, passphrase, magic)
    w.write(data)
    w.close()
    return out.getvalue()


def decrypt_bytes(data: bytes, passphrase: str, magic: bytes) -> bytes:
    import io

    return DecryptingReader(io.BytesIO(data), passphrase, magic).read()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# -- keys for escrow ----------------------------------------------------------------------------
def export_keys(settings: Settings, out: Path, passphrase: str) -> Path:
    """The instance's field keys (which decrypt narratives, witness codes and second-factor
    secrets) and its secret key, encrypted under `passphrase`, written to `out` (0600, never
    over an existing file)."""
    from .keys import KeyRing

    ring = KeyRing.load_or_create(settings.instance_path / "keys", settings.keys_file)
    doc = {"format": "geomap-keys 1", "exported": datetime.now(UTC).isoformat(),
           "active": ring.active, "index_key": base64.b64encode(ring.index_key).decode(),
           "keys": {str(k): base64.b64encode(v).decode() for k, v in ring.field_keys.items()},
           "secret_key": base64.b64encode(ring.secret_key).decode()}
    if out.exists():
        raise Conflict(f"{out} exists already: choose a new file name", field="out")
    _write_private(out, encrypt_bytes(json.dumps(doc).encode(), passphrase, KEYS_MAGIC))
    return out


def read_keys(path: Path, passphrase: str) -> dict:
    """The key document of a key export (ArchiveError when it does not decrypt)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"{path}: {e.strerror}", field="keys") from None
    doc = json.loads(decrypt_bytes(raw, passphrase, KEYS_MAGIC))
    if doc.get("format") != "geomap-keys 1":
        raise ArchiveError(f"{path}: not a geomap key export")
    return doc


def _install_keys(settings: Settings, doc: dict) -> None:
    """Write a key export's keys where the instance reads them (refusing to replace other
    keys: data encrypted under them would become unreadable)."""
    from .keys import _write_private as write_key

    keys_dir = settings.instance_path / "keys"
    field_file = Path(settings.keys_file or keys_dir / "field-keys.json")
    field_doc = {"active": doc["active"], "keys": doc["keys"], "index_key": doc["index_key"]}
    secret = base64.b64decode(doc["secret_key"])
    for path, data in ((field_file, json.dumps(field_doc).encode()),
                       (keys_dir / "secret_key", secret)):
        if path.exists():
            same = (json.loads(path.read_bytes()) == field_doc) if path == field_file \
                else path.read_bytes() == data
            if not same:
                raise Conflict(f"{path} holds other keys: a restore needs an instance folder "
                               "without keys of its own", field="keys")
            continue
        write_key(path, data)


# -- create -------------------------------------------------------------------------------------
@dataclass
class Created:
    path: Path
    encrypted: bool
    schema: str | None
    counts: dict[str, int]
    files: int
    removed: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"path": str(self.path), "encrypted": self.encrypted, "schema": self.schema,
                "counts": self.counts, "payload_files": self.files,
                "removed": [str(p) for p in self.removed]}




def pg_tool(name: str) -> str:
    """The PostgreSQL client tool `name`: the Debian server's own (a pg_dump older than the
    server refuses to dump it), else the one on PATH."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise GeomapError(f"{name} not found: install the PostgreSQL client tools")
    return found


def _run_pg(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise GeomapError(f"{what} failed: {r.stderr.strip()[-800:]}")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bytes | memoryview):
        return bytes(v).hex()
    return str(v)


def _write_records(conn, dest: Path, progress: Progress) -> None:
    """The open copy: CSV per table (geometry as WKT), GeoJSON where there is a geometry,
    leaving out encrypted columns and the credential tables."""
    import shapely

    from .store.archive_rows import GEOMETRY_COLUMNS, SECRET_TABLES, iter_rows, table_names

    dest.mkdir()
    names = [n for n in table_names() if n not in SECRET_TABLES]
    for i, name in enumerate(names):
        progress("open copy", i, len(names))
        rows = iter_rows(conn, name)
        first = next(rows, None)
        if first is None:
            continue
        cols = [c for c in first if not c.endswith("_enc")]
        geo = [c for c in cols if c in GEOMETRY_COLUMNS]
        with open(dest / f"{name}.csv", "w", newline="", encoding="utf-8") as fc, \
                (open(dest / f"{name}.geojson", "w", encoding="utf-8") if geo else
                 open(os.devnull, "w")) as fg:
            out = csv.writer(fc)
            out.writerow(cols)
            if geo:
                fg.write('{"type":"FeatureCollection","features":[\n')
            n = 0
            for row in _chain(first, rows):
                shapes = {c: shapely.from_wkb(bytes(row[c])) if row[c] is not None else None
                          for c in geo}
                out.writerow([shapes[c].wkt if c in shapes and shapes[c] is not None
                              else _cell(row[c]) for c in cols])
                if geo:
                    g = shapes[geo[0]]
                    props = {c: _cell(row[c]) if isinstance(row[c], bytes | memoryview |
                                                            datetime | date) else row[c]
                             for c in cols if c not in geo}
                    feat = {"type": "Feature", "id": row.get("id"),
                            "geometry": json.loads(shapely.to_geojson(g)) if g else None,
                            "properties": props}
                    fg.write(("," if n else "") + json.dumps(feat, ensure_ascii=False,
                                                              default=str) + "\n")
                n += 1
            if geo:
                fg.write("]}\n")
    progress("open copy", len(names), len(names))


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _write_audit(conn, dest: Path) -> int:
    from .store.archive_rows import iter_rows

    dest.mkdir()
    n = 0
    with open(dest / "audit-log.jsonl", "w", encoding="utf-8") as f:
        for row in iter_rows(conn, "audit_log"):
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


README = """This is a BagIt bag (RFC 8493) written by geomap {version} from one instance.

data/database/   the database: geomap.sqlite3 (SQLite, open with any SQLite tool) or
                 geomap.pgdump (PostgreSQL custom format: pg_restore)
data/imagery/    one folder per scene id: original.tif (the evidentiary copy whose SHA-256 is
                 in the catalogue) and cog.tif (the working copy tiles are drawn from)
data/records/    the records as CSV (geometry as WKT, EPSG:4326) and GeoJSON, readable
                 without geomap
data/audit/      the audit log, one JSON entry a line; each entry's hash is the SHA-256 of
                 the canonical JSON of {{id, ts, actor, action, target, details, prev}}
                 (keys sorted, separators "," and ":", UTF-8), and prev is the hash of the
                 entry before it (64 zeros for the first)
data/instance/   the audit head file (the newest entry's id and hash, kept outside the
                 database)
data/archive.json  versions, schema revision and row counts

{note}

To check the bag without geomap: `bagit.py --validate BAG` (bagit-python) recomputes every
checksum. To bring it up: `geomap archive restore BAG NEW_INSTANCE --keys KEYFILE`.
"""


def archive_name(now: datetime | None = None) -> str:
    return NAME_PREFIX + (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


def create_archive(store: Store, settings: Settings, out_dir: Path, *,
                   passphrase: str | None = None, organization: str | None = None,
                   keep: int | None = None, progress: Progress = _noop) -> Created:
    """Write one bag of the instance into `out_dir` (a folder, or an encrypted tar file
    when `passphrase` is given); with `keep`, remove this folder's older archives beyond
    `keep`."""
    import bagit

    from .imagery import imagery_root
    from .store import archive_rows as rows

    if keep is not None and keep < 1:
        raise InvalidInput("--keep must be at least 1", field="keep")
    if passphrase is not None:
        _check_passphrase(passphrase)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = archive_name()
    # an encrypted archive's clear bag is staged in the temporary folder, not on the target
    staging = Path(tempfile.mkdtemp(prefix=".geomap-archive-",
                                    dir=None if passphrase else out_dir))
    try:
        data = staging
        (data / "instance").mkdir()
        head = settings.instance_path / "audit.head"
        # the head before the snapshot: it may then lag the snapshot, never lead it
        if head.exists():
            shutil.copy2(head, data / "instance" / "audit.head")
        (data / "database").mkdir()
        url = rows.parse_url(store.url)
        if url.get_backend_name() == "sqlite":
            snap = data / "database" / "geomap.sqlite3"
            rows.sqlite_backup(Path(url.database), snap, progress)
            engine = rows.snapshot_engine(snap)
            try:
                with engine.connect() as conn:
                    schema, counts = rows.revision(conn), rows.table_counts(conn)
                    _write_records(conn, data / "records", progress)
                    _write_audit(conn, data / "audit")
            finally:
                engine.dispose()
            backend = "sqlite"
        elif url.get_backend_name() == "postgresql":
            backend = "postgresql"
            with store.reader.connect() as conn:
                # one snapshot for the dump, the counts and the open copy
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    snapshot = rows.export_snapshot(conn)
                    with tempfile.TemporaryDirectory() as tmp:
                        progress("database snapshot", 0, 1)
                        _run_pg([pg_tool("pg_dump"), "-Fc", "--no-owner",
                                 f"--snapshot={snapshot}",
                                 "-f", str(data / "database" / "geomap.pgdump"),
                                 "-d", rows.pg_conninfo(store.url, Path(tmp) / "pass")], "pg_dump")
                        progress("database snapshot", 1, 1)
                    schema, counts = rows.revision(conn), rows.table_counts(conn)
                    _write_records(conn, data / "records", progress)
                    _write_audit(conn, data / "audit")
        else:
            raise InvalidInput(f"cannot archive a {url.get_backend_name()} database")
        files = _copy_tree(imagery_root(settings), data / "imagery", progress, "imagery")
        meta = {"geomap_version": __version__, "schema": schema, "database": backend,
                "counts": counts, "imagery_files": files,
                "created": datetime.now(UTC).isoformat(),
                "open_copy_leaves_out": RECORDS_NOTE}
        (data / "archive.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        (data / "README.txt").write_text(README.format(version=__version__, note=RECORDS_NOTE))
        progress("checksums", 0, 1)
        bag = bagit.make_bag(str(staging), {
            "Source-Organization": organization or settings.instance_path.name,
            "Bagging-Date": date.today().isoformat(),
            "External-Description": "geomap instance archive (database, imagery, open-format "
                                    "records, audit chain)",
            "Geomap-Version": __version__, "Geomap-Schema-Version": schema or "",
            "Geomap-Database": backend,
            "Geomap-Counts": " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            "Geomap-Open-Copy": RECORDS_NOTE,
        }, processes=1, checksums=["sha256", "sha512"])
        progress("checksums", 1, 1)
        n_files = sum(1 for _ in Path(bag.path, "data").rglob("*") if _.is_file())
        if passphrase is None:
            final = out_dir / name
            staging.rename(final)
            os.chmod(final, 0o700)
        else:
            final = out_dir / (name + ENCRYPTED_SUFFIX)
            _encrypt_dir(staging, name, final, passphrase, progress)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    removed = apply_retention(out_dir, keep) if keep else []
    return Created(final, passphrase is not None, schema, counts, n_files, removed)


def _copy_tree(src: Path, dst: Path, progress: Progress, stage: str) -> int:
    files = [p for p in src.rglob("*") if p.is_file() and not p.is_symlink()] \
        if src.is_dir() else []
    dst.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(files):
        progress(stage, i, len(files))
        target = dst / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    progress(stage, len(files), len(files))
    return len(files)


def _encrypt_dir(bag_dir: Path, name: str, final: Path, passphrase: str,
                 progress: Progress) -> None:
    total = sum(p.stat().st_size for p in bag_dir.rglob("*") if p.is_file())
    partial = final.with_name("." + final.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            w = EncryptingWriter(raw, passphrase)
            with tarfile.open(fileobj=w, mode="w|") as tar:
                for p in sorted(bag_dir.rglob("*")):
                    tar.add(p, arcname=f"{name}/{p.relative_to(bag_dir)}", recursive=False)
                    progress("encrypt", min(w.written, total), total)
            w.close()
            raw.flush()
            os.fsync(raw.fileno())
        progress("encrypt", total, total)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# -- retention ----------------------------------------------------------------------------------
def is_own_archive(p: Path) -> bool:
    """Whether `p` is an archive geomap wrote: its name, and a bag whose bag-info names a
    geomap version, or an encrypted file with our header."""
    if not _NAME.match(p.name) or p.is_symlink():
        return False
    if p.is_dir():
        info = p / "bag-info.txt"
        return (p / "bagit.txt").is_file() and info.is_file() and \
            "Geomap-Version:" in info.read_text("utf-8", errors="replace")
    if p.is_file() and p.name.endswith(ENCRYPTED_SUFFIX):
        with open(p, "rb") as f:
            return f.read(8) == ARCHIVE_MAGIC
    return False


def apply_retention(out_dir: Path, keep: int) -> list[Path]:
    """Remove the oldest of `out_dir`'s own archives beyond the newest `keep` (names carry
    the UTC time, so they sort by age); anything else in the folder is left alone."""
    own = sorted((p for p in out_dir.iterdir() if is_own_archive(p)), key=lambda p: p.name)
    old = own[:-keep] if keep else []
    for p in old:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    return old


# -- verify -------------------------------------------------------------------------------------
@dataclass
class Verified:
    path: Path
    ok: bool
    encrypted: bool
    problems: list[str]
    bad_files: list[str]
    info: dict

    def as_dict(self) -> dict:
        return {"path": str(self.path), "ok": self.ok, "encrypted": self.encrypted,
                "problems": self.problems, "bad_files": self.bad_files,
                "schema": self.info.get("Geomap-Schema-Version"),
                "geomap_version": self.info.get("Geomap-Version"),
                "bagging_date": self.info.get("Bagging-Date")}


@contextmanager
def opened(path: Path, passphrase: str | None = None,
           progress: Progress = _noop) -> Iterator[Path]:
    """The bag folder of an archive: `path` itself, or, for an encrypted one, its contents
    decrypted into a private temporary folder (removed afterwards)."""
    if path.is_dir():
        yield path
        return
    if not path.is_file():
        raise InvalidInput(f"{path}: no such archive", field="path")
    with open(path, "rb") as f:
        if f.read(8) != ARCHIVE_MAGIC:
            raise ArchiveError(f"{path}: neither a bag folder nor an encrypted geomap archive")
    if passphrase is None:
        raise InvalidInput(f"{path} is encrypted: give its passphrase", field="passphrase")
    tmp = Path(tempfile.mkdtemp(prefix="geomap-archive-"))
    try:
        total = path.stat().st_size
        with open(path, "rb") as f:
            reader = DecryptingReader(f, passphrase)
            progress("decrypt", 0, total)
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        tar.extract(member, tmp, filter="data")
                        progress("decrypt", min(f.tell(), total), total)
            except tarfile.TarError as e:
                raise ArchiveError(f"{path}: the decrypted tar is unreadable ({e})") from None
            reader.read()  # to the last chunk: bytes after it, or a missing end, are refused
        progress("decrypt", total, total)
        tops = [p for p in tmp.iterdir()]
        if len(tops) != 1 or not tops[0].is_dir():
            raise ArchiveError(f"{path}: expected one bag inside")
        yield tops[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify_bag(bag_dir: Path, progress: Progress = _noop) -> tuple[list[str], list[str], dict]:
    """(problems, bad file paths, bag-info) of a full validation: every file's SHA-256 and
    SHA-512 recomputed, nothing missing, nothing added."""
    import bagit

    try:
        bag = bagit.Bag(str(bag_dir))
    except bagit.BagError as e:
        return [f"not a valid bag: {e}"], [], {}
    progress("checksums", 0, 1)
    try:
        bag.validate(processes=1, fast=False)
    except bagit.BagValidationError as e:
        details = list(e.details or [])
        problems = [str(d) for d in details] or [str(e.message)]
        bad = sorted({getattr(d, "path", "") for d in details} - {""})
        if not bad:  # bagit stops at a Payload-Oxum (size) mismatch: find the files ourselves
            named = _hash_mismatches(bag_dir, bag.entries)
            problems += named
            bad = sorted(p.split(": ", 1)[0] for p in named)
        return problems, bad, dict(bag.info)
    except bagit.BagError as e:
        return [str(e)], [], dict(bag.info)
    finally:
        progress("checksums", 1, 1)
    if "Geomap-Version" not in bag.info:
        return ["a valid bag, but not one geomap wrote (no Geomap-Version in bag-info)"], [], \
            dict(bag.info)
    return [], [], dict(bag.info)


def verify_archive(path: Path, passphrase: str | None = None,
                   progress: Progress = _noop) -> Verified:
    encrypted = path.is_file()
    try:
        with opened(path, passphrase, progress) as bag_dir:
            problems, bad, info = verify_bag(bag_dir, progress)
    except ArchiveError as e:
        return Verified(path, False, encrypted, [str(e)], [], {})
    return Verified(path, not problems, encrypted, problems, bad, info)


# -- restore ------------------------------------------------------------------------------------
@dataclass
class Restored:
    instance: Path
    schema_in_bag: str | None
    schema_now: str | None
    audit_entries: int
    audit_problems: list[str]
    scenes: int
    scene_problems: list[str]
    count_differences: list[str]
    keys: str  # "restored", "the instance's own", "none"
    keys_problem: str | None

    @property
    def ok(self) -> bool:
        return not (self.audit_problems or self.scene_problems or self.count_differences
                    or self.keys_problem)

    def as_dict(self) -> dict:
        return {"instance": str(self.instance), "ok": self.ok, "schema_in_bag": self.schema_in_bag,
                "schema_now": self.schema_now, "audit_entries": self.audit_entries,
                "audit_problems": self.audit_problems, "scenes": self.scenes,
                "scene_problems": self.scene_problems,
                "count_differences": self.count_differences, "keys": self.keys,
                "keys_problem": self.keys_problem}


def _fresh(settings: Settings) -> None:
    from .imagery import imagery_root
    from .store.engine import database_holds

    held = database_holds(settings.database_url)
    if held:
        raise Conflict(f"{settings.instance_path} is not a fresh instance: its database holds "
                       f"{held}", field="instance")
    root = imagery_root(settings)
    if root.is_dir() and any(root.iterdir()):
        raise Conflict(f"{settings.instance_path} is not a fresh instance: {root} has files",
                       field="instance")
    if (settings.instance_path / "audit.head").exists():
        raise Conflict(f"{settings.instance_path} is not a fresh instance: it has an audit "
                       "head", field="instance")


def restore_archive(path: Path, instance: Path, *, passphrase: str | None = None,
                    keys: dict | None = None, without_keys: bool = False,
                    progress: Progress = _noop) -> Restored:
    """Bring an archive up in the fresh instance folder `instance`: validate the bag fully,
    install the escrowed keys (`keys`, from read_keys), restore the database and imagery,
    migrate it to this geomap's schema, then verify the audit chain, every scene's hashes,
    the row counts and that the keys open the data."""
    from alembic.script import ScriptDirectory

    from .config import load_settings
    from .crypto import DecryptionError
    from .imagery import imagery_root
    from .scenes import verify_scenes
    from .store import Store
    from .store import archive_rows as rows
    from .store.engine import _alembic_config, _private_database_file, head_revision

    settings = load_settings(instance)
    _fresh(settings)
    keys_file = Path(settings.keys_file or settings.instance_path / "keys" / "field-keys.json")
    if keys is None and not keys_file.exists() and not without_keys:
        raise InvalidInput("a restore needs the instance's keys to read narratives, witness "
                           "codes and second factors: --keys FILE (from geomap archive "
                           "keys-export), or --without-keys to restore without them",
                           field="keys")
    had_keys = keys is not None or keys_file.exists()
    with opened(path, passphrase, progress) as bag_dir:
        problems, bad, info = verify_bag(bag_dir, progress)
        if problems:
            raise ArchiveError(f"{path} does not verify: " + "; ".join(problems[:5]))
        data = bag_dir / "data"
        meta = json.loads((data / "archive.json").read_text())
        schema = meta.get("schema")
        known = {r.revision for r in
                 ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
        if schema and schema not in known:
            raise ArchiveError(f"the archive's schema {schema} is newer than this geomap's "
                               f"({head_revision()}): restore it with a newer geomap")
        if keys is not None:
            _install_keys(settings, keys)
        url = rows.parse_url(settings.database_url)
        if meta["database"] != url.get_backend_name():
            raise InvalidInput(f"the archive holds a {meta['database']} database; this instance "
                               f"uses {url.get_backend_name()}", field="instance")
        progress("database", 0, 1)
        if meta["database"] == "sqlite":
            db = Path(url.database)
            for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                p.unlink(missing_ok=True)  # empty (checked above)
            _private_database_file(db)
            with open(data / "database" / "geomap.sqlite3", "rb") as src, open(db, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                _run_pg([pg_tool("pg_restore"), "--no-owner", "--clean", "--if-exists",
                         "--single-transaction", "--exit-on-error",
                         "-d", rows.pg_conninfo(settings.database_url, Path(tmp) / "pass"),
                         "-L", _pg_list(data / "database" / "geomap.pgdump", Path(tmp)),
                         str(data / "database" / "geomap.pgdump")], "pg_restore")
        progress("database", 1, 1)
        _copy_tree(data / "imagery", imagery_root(settings), progress, "imagery")
        head = data / "instance" / "audit.head"
        if head.exists():
            shutil.copy2(head, settings.instance_path / "audit.head")
    progress("checks", 0, 1)
    store = Store.for_instance(settings)  # migrates an older schema up
    try:
        from . import audit

        with store.read() as conn:
            n, audit_problems = audit.verify(conn, store.audit_head)
            counts_now = rows.table_counts(conn)
            sample = rows.sample_ciphertext(conn)
        diffs = [f"{t}: {v} in the archive, {counts_now.get(t)} restored"
                 for t, v in sorted(meta["counts"].items()) if counts_now.get(t) != v]
        keys_problem = None
        if sample is not None and had_keys:
            try:
                store.cipher.decrypt(sample[2], "testimonies", sample[1], "narrative")
            except DecryptionError as e:
                keys_problem = f"the keys do not open the restored data: {e}"
        checks = verify_scenes(store, settings, "archive.restore")
        schema_now = store.schema_revision()
    finally:
        store.close()
    progress("checks", 1, 1)
    return Restored(
        settings.instance_path, schema, schema_now, n, [str(p) for p in audit_problems],
        len(checks), [f"{c.scene_id}: {p}" for c in checks for p in c.problems], diffs,
        "restored" if keys is not None else
        ("the instance's own" if had_keys else "none"),
        keys_problem)


def _pg_list(dump: Path, tmp: Path) -> str:
    """pg_restore's table of contents without the extensions (the target database has
    PostGIS already; recreating or dropping an extension needs rights a restore should not)."""
    r = subprocess.run([pg_tool("pg_restore"), "-l", str(dump)], capture_output=True, text=True)
    if r.returncode:
        raise ArchiveError(f"{dump.name}: not a pg_dump archive ({r.stderr.strip()[-300:]})")
    kept = [line for line in r.stdout.splitlines()
            if " EXTENSION " not in line and "COMMENT - EXTENSION" not in line]
    out = tmp / "toc.list"
    out.write_text("\n".join(kept) + "\n")
    return str(out)


def _hash_mismatches(bag_dir: Path, entries: dict) -> list[str]:
    """'path: what is wrong' for every manifest entry whose SHA-256 differs or that is
    missing, and every payload file no manifest lists."""
    import hashlib

    out = []
    for rel, hashes in sorted(entries.items()):
        p = bag_dir / rel
        want = hashes.get("sha256")
        if not p.is_file():
            out.append(f"{rel}: missing")
        elif want:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            if h.hexdigest() != want:
                out.append(f"{rel}: sha256 checksum does not match the manifest")
    listed = set(entries)
    for p in sorted((bag_dir / "data").rglob("*")):
        rel = p.relative_to(bag_dir).as_posix()
        if p.is_file() and rel not in listed:
            out.append(f"{rel}: not in the manifest")
    return out
