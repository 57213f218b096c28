"""Partner exchange: a signed bundle of partner-tier records that another geomap imports with
provenance kept (issue 15, item 6).

A bundle is a zip of exactly four members: `sites.geojson` and `testimonies.geojson`, built by
geomap.exports for the partner audience (partner and public records, the partner allow-list's
columns: never a witness code, a narrative or a research note); `manifest.json` (format,
organisation, bundle id, counts, the SHA-256 of each data member, the signer's key
fingerprint); and `manifest.sig`, an Ed25519 signature over the manifest's exact bytes.

The importer trusts nothing in a bundle before it checks: the zip's shape (member names, count
and size: a zip bomb or a path such as ../x is refused unread), the signer (a partner this
instance trusts), the signature, each member's hash, and every record's tier and columns
against the same allow-lists the export used. Any failure refuses the whole bundle with
nothing stored.

Provenance: a partner's site is stored under the key `<partner>--<their key>` (never clashing
with ours) with a citation naming the partner, the bundle and their key; a partner's
testimony goes through the testimony intake with the witness code `<partner>/<their id>` (a
bundle holds no witness code; each of their records counts as one witness) in an import batch
whose source names the bundle. Each bundle also gets a batch record of its own (kind
'exchange') holding the full provenance (partner, bundle id, imported_at, their id -> ours),
which makes a re-import a no-op.

Keys and partners live in the instance folder, never in the database: the signing key in
keys/exchange-signing.pem, the organisation name and trusted partners in exchange.json (both
0600, as the other key files).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import exports
from .corroboration import GradeRule
from .errors import Conflict, InvalidInput, NotFound
from .keys import _write_private
from .model import Citation, Tier
from .policy import Principal, Role
from .sites import site_key

if TYPE_CHECKING:
    from .config import Settings
    from .store.protocol import StoreLike

FORMAT_VERSION = 1
AUDIENCE = Tier.PARTNER
DATASETS = ("sites", "testimonies")
DATA_MEMBERS = {f"{d}.geojson": d for d in DATASETS}
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
MEMBERS = frozenset({MANIFEST, SIGNATURE, *DATA_MEMBERS})
MAX_MEMBERS = 16  # a bundle has four; a few more to name them as extra, not as a bomb
MAX_BYTES = 512 * 1024 * 1024  # uncompressed, all members together
KEY_FILE = "exchange-signing.pem"
CONFIG_FILE = "exchange.json"


class ExchangeError(InvalidInput):
    """A bundle refused (its message names why) or an exchange setting that is missing."""


# -- keys and partners --------------------------------------------------------------------------
def _key_path(settings: Settings) -> Path:
    return settings.instance_path / "keys" / KEY_FILE


def _config_path(settings: Settings) -> Path:
    return settings.instance_path / CONFIG_FILE


def _read_config(settings: Settings) -> dict:
    p = _config_path(settings)
    if not p.exists():
        return {"organisation": None, "partners": []}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExchangeError(f"cannot read {p}: {e}") from None


def _write_config(settings: Settings, doc: dict) -> None:
    _write_private(_config_path(settings),
                   json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(pub: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: what a manifest names its signer by."""
    return hashlib.sha256(_raw(pub)).hexdigest()


def short_fingerprint(fp: str) -> str:
    """The first 80 bits in groups of four, to read aloud over the phone."""
    return " ".join(fp[i:i + 4] for i in range(0, 20, 4))


def public_key_pem(pub: Ed25519PublicKey) -> str:
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key as PEM, or as the base64 of its 32 raw bytes."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError) as e:
        raise ExchangeError(f"not an Ed25519 public key (PEM or base64): {e}",
                            field="pubkey") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ExchangeError("the public key is not an Ed25519 key", field="pubkey")
    return key


@dataclass(frozen=True)
class Identity:
    organisation: str
    public_key: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


def keygen(settings: Settings, organisation: str, force: bool = False) -> Identity:
    """This instance's Ed25519 signing key (keys/exchange-signing.pem, 0600) and the name
    its bundles carry. An existing key is kept unless `force` (partners must then re-trust)."""
    organisation = organisation.strip()
    if not organisation:
        raise ExchangeError("--org: the organisation's name is required", field="org")
    path = _key_path(settings)
    if path.exists() and not force:
        raise Conflict(f"{path} exists already (--force makes a new key; partners who trust "
                       "the old one must then trust the new one)")
    key = Ed25519PrivateKey.generate()
    _write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    doc = _read_config(settings)
    doc["organisation"] = organisation
    _write_config(settings, doc)
    return Identity(organisation, key.public_key())


def _signing_key(settings: Settings) -> tuple[Ed25519PrivateKey, str]:
    path = _key_path(settings)
    if not path.exists():
        raise ExchangeError("this instance has no exchange key: run `geomap exchange keygen "
                            "--org NAME` first")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ExchangeError(f"{path} is not an Ed25519 private key")
    return key, _read_config(settings).get("organisation") or ""


def identity(settings: Settings) -> Identity:
    key, org = _signing_key(settings)
    return Identity(org, key.public_key())


def trust(settings: Settings, pubkey: bytes, name: str) -> dict:
    """Accept bundles signed by this key, from the partner `name`."""
    name = name.strip()
    if not name or not site_key(name):
        raise ExchangeError("--name: a partner's name needs a letter or digit", field="name")
    pub = parse_public_key(pubkey)
    fp = fingerprint(pub)
    doc = _read_config(settings)
    for p in doc["partners"]:
        if p["name"] == name or p["fingerprint"] == fp or site_key(p["name"]) == site_key(name):
            raise Conflict(f"partner {p['name']!r} ({short_fingerprint(p['fingerprint'])}) is "
                           "trusted already: untrust it first to replace it")
    entry = {"name": name, "fingerprint": fp, "public_key": base64.b64encode(_raw(pub)).decode(),
             "added_at": datetime.now(UTC).isoformat(timespec="seconds")}
    doc["partners"].append(entry)
    _write_config(settings, doc)
    return entry


def partners(settings: Settings) -> list[dict]:
    return list(_read_config(settings)["partners"])


def untrust(settings: Settings, name: str) -> dict:
    doc = _read_config(settings)
    for p in doc["partners"]:
        if p["name"] == name:
            doc["partners"].remove(p)
            _write_config(settings, doc)
            return p
    raise NotFound(f"no trusted partner named {name!r}", field="name")


# -- export -------------------------------------------------------------------------------------
def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def write_bundle(out: Path, manifest: bytes, signature: bytes, members: dict[str, bytes]) -> None:
    """The zip itself (also used by tests to craft bundles); replaced atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest)
        z.writestr(SIGNATURE, signature)
        for name, data in members.items():
            z.writestr(name, data)
    tmp.replace(out)


def export_bundle(store: StoreLike, settings: Settings, out: Path, actor: str) -> dict:
    """A signed bundle of this instance's partner and public records; returns its manifest.
    Audited (bundle id and counts, no content)."""
    key, org = _signing_key(settings)
    viewer = Principal(None, actor, Role.ADMIN)
    f = exports.ExportFilters(audience=AUDIENCE, rule=GradeRule.from_settings(settings))
    members, counts, columns = {}, {}, {}
    for name, dataset in DATA_MEMBERS.items():
        cols, recs = exports.records(store, viewer, dataset, f)
        members[name] = exports.write_geojson(recs)
        counts[dataset], columns[dataset] = len(recs), list(cols)
    bundle_id = str(uuid.uuid4())
    manifest = {
        "format": "geomap-exchange", "format_version": FORMAT_VERSION,
        "organisation": org, "bundle_id": bundle_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "audience": str(AUDIENCE), "signer": fingerprint(key.public_key()),
        "counts": counts, "columns": columns,
        "members": {n: {"sha256": _sha256(b), "bytes": len(b)} for n, b in members.items()},
    }
    mbytes = manifest_bytes(manifest)
    write_bundle(out, mbytes, key.sign(mbytes), members)
    store.audit(actor, "exchange.export", bundle_id, {"bundle_id": bundle_id, "counts": counts,
                                                      "organisation": org})
    return manifest


# -- import -------------------------------------------------------------------------------------
def _read_zip(path: Path, max_bytes: int, max_members: int) -> dict[str, bytes]:
    """The members of a bundle, refused before reading when the zip is not a bundle's shape."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ExchangeError(f"{path.name}: not a readable zip ({e})", field="bundle") from None
    with z:
        infos = z.infolist()
        if len(infos) > max_members:
            raise ExchangeError(f"{path.name}: {len(infos)} members (a bundle has "
                                f"{len(MEMBERS)}; at most {max_members} are read)")
        names = [i.filename for i in infos]
        for n in names:
            p = PurePosixPath(n.replace("\\", "/"))
            if p.is_absolute() or ".." in p.parts or len(p.parts) != 1 or ":" in n:
                raise ExchangeError(f"{path.name}: member {n!r} is a path outside the "
                                    "bundle's top level (path traversal)")
        if len(set(names)) != len(names):
            raise ExchangeError(f"{path.name}: a member name appears twice")
        if extra := sorted(set(names) - MEMBERS):
            raise ExchangeError(f"{path.name}: extra member(s) {', '.join(extra)}")
        if missing := sorted(MEMBERS - set(names)):
            raise ExchangeError(f"{path.name}: missing member(s) {', '.join(missing)}")
        if sum(i.file_size for i in infos) > max_bytes:
            raise ExchangeError(f"{path.name}: more than {max_bytes} bytes uncompressed "
                                "(zip bomb guard)")
        out, total = {}, 0
        for i in infos:  # the sizes a zip declares may lie: read no more than the limit
            with z.open(i) as fh:
                data = fh.read(max_bytes - total + 1)
            total += len(data)
            if total > max_bytes:
                raise ExchangeError(f"{path.name}: more than {max_bytes} bytes uncompressed "
                                    "(zip bomb guard)")
            out[i.filename] = data
        return out


def _partner_for(settings: Settings, signer: Any) -> dict:
    for p in partners(settings):
        if p["fingerprint"] == signer:
            return p
    raise ExchangeError(f"the signer {short_fingerprint(str(signer))} is not a trusted partner "
                        "(`geomap exchange trust`)", field="signer")


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ExchangeError(f"{what} is not JSON: {e}") from None


def _check_records(manifest: dict, docs: dict[str, dict]) -> None:
    """Every record's tier and columns against the partner allow-list (exports.columns_for):
    a validly signed bundle with a record it should not hold is refused all the same."""
    viewer = Principal(None, "exchange", Role.ADMIN)
    f = exports.ExportFilters(audience=AUDIENCE)
    tiers = exports.AUDIENCE_TIERS[AUDIENCE]
    for name, dataset in DATA_MEMBERS.items():
        doc = docs[dataset]
        allowed = set(exports.columns_for(dataset, viewer, f))
        feats = doc.get("features") if isinstance(doc, dict) else None
        if doc.get("type") != "FeatureCollection" or not isinstance(feats, list):
            raise ExchangeError(f"{name} is not a GeoJSON FeatureCollection")
        if len(feats) != manifest["counts"].get(dataset):
            raise ExchangeError(f"{name}: {len(feats)} records, the manifest says "
                                f"{manifest['counts'].get(dataset)}")
        for i, feat in enumerate(feats, start=1):
            props = feat.get("properties") if isinstance(feat, dict) else None
            if not isinstance(props, dict):
                raise ExchangeError(f"{name} record {i}: no properties")
            if extra := sorted(set(props) - allowed):
                raise ExchangeError(f"{name} record {i}: field(s) outside the partner "
                                    f"allow-list: {', '.join(extra)}")
            if props.get("tier") not in tiers:
                raise ExchangeError(f"{name} record {i}: tier {props.get('tier')!r} is not "
                                    "partner or public")
            g = feat.get("geometry")
            if g is not None and (not isinstance(g, dict) or g.get("type") != "Point"):
                raise ExchangeError(f"{name} record {i}: geometry is not a point")
            key = props.get("key" if dataset == "sites" else "id")
            if key in (None, ""):
                raise ExchangeError(f"{name} record {i}: no {'key' if dataset == 'sites' else 'id'}")


@dataclass
class Checked:
    """A bundle that passed every check: its manifest, partner and records."""

    manifest: dict
    partner: dict
    docs: dict[str, dict] = field(default_factory=dict)


def check_bundle(settings: Settings, path: Path, max_bytes: int = MAX_BYTES,
                 max_members: int = MAX_MEMBERS) -> Checked:
    """Every check of a bundle, in order; refused (ExchangeError naming why) at the first."""
    members = _read_zip(Path(path), max_bytes, max_members)
    mbytes = members[MANIFEST]
    manifest = _json(mbytes, MANIFEST)
    if not isinstance(manifest, dict):
        raise ExchangeError(f"{MANIFEST} is not an object")
    partner = _partner_for(settings, manifest.get("signer"))
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(partner["public_key"]))
    try:
        pub.verify(members[SIGNATURE], mbytes)
    except InvalidSignature:
        raise ExchangeError(f"the signature does not verify with {partner['name']!r}'s key: "
                            "the manifest was changed or not signed by them",
                            field="signature") from None
    # signed by a trusted partner: now its claims can be read
    if manifest.get("format") != "geomap-exchange" or \
            manifest.get("format_version") != FORMAT_VERSION:
        raise ExchangeError(f"not a geomap exchange bundle of format version {FORMAT_VERSION}")
    if manifest.get("audience") != str(AUDIENCE):
        raise ExchangeError(f"audience {manifest.get('audience')!r} is not 'partner'")
    try:
        uuid.UUID(str(manifest.get("bundle_id")))
    except ValueError:
        raise ExchangeError("the manifest's bundle_id is not a UUID") from None
    listed = manifest.get("members")
    if not isinstance(listed, dict) or set(listed) != set(DATA_MEMBERS) \
            or not isinstance(manifest.get("counts"), dict):
        raise ExchangeError(f"the manifest does not list exactly {', '.join(DATA_MEMBERS)}")
    for name in DATA_MEMBERS:
        if _sha256(members[name]) != (listed[name] or {}).get("sha256"):
            raise ExchangeError(f"{name}: its SHA-256 does not match the manifest (changed "
                                "after signing)", field="bundle")
    docs = {d: _json(members[n], n) for n, d in DATA_MEMBERS.items()}
    _check_records(manifest, docs)
    return Checked(manifest, partner, docs)


def _namespace(partner: dict) -> str:
    return site_key(partner["name"])[:40]


def _site_key(ns: str, key: str) -> str:
    out = f"{ns}--{key}"
    if len(out) > 128:
        raise ExchangeError(f"site key {key!r} is too long")
    return out


def import_bundle(store: StoreLike, settings: Settings, path: Path, actor: str,
                  dry_run: bool = False, max_bytes: int = MAX_BYTES) -> dict:
    """Check a bundle (refused whole on any failure) and import its sites and testimonies
    with provenance; a bundle imported already adds nothing. Returns a report (no content)."""
    from .intake.run import import_testimonies
    from .sites import read_facilities
    from .store import exchange as sql

    c = check_bundle(settings, path, max_bytes=max_bytes)
    m, partner = c.manifest, c.partner
    bundle_id = m["bundle_id"]
    report: dict[str, Any] = {
        "bundle_id": bundle_id, "partner": partner["name"], "organisation": m["organisation"],
        "created_at": m.get("created_at"), "dry_run": dry_run, "already_imported": False,
        "counts": m["counts"], "sites": {"inserted": 0, "updated": 0},
        "testimonies": {"inserted": 0, "already_present": 0, "quarantined": 0}}
    if sql.imported_bundle(store, bundle_id) is not None:
        report["already_imported"] = True
        return report
    ns = _namespace(partner)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="geomap-exchange-") as tmp:
        sites = []
        for tier in exports.AUDIENCE_TIERS[AUDIENCE]:  # the site reader takes one tier a file
            feats = [dict(f, properties={**f["properties"],
                                         "key": _site_key(ns, f["properties"]["key"])})
                     for f in c.docs["sites"]["features"] if f["properties"]["tier"] == tier]
            if not feats:
                continue
            p = Path(tmp) / f"sites-{tier}.geojson"
            p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                         encoding="utf-8")
            sites += read_facilities(p, tier=Tier(tier))
        site_ids = {}
        for s in sites:
            theirs = s.key.split("--", 1)[1]
            site_ids[theirs] = s.key
            s.sources = f"{partner['name']} (geomap exchange bundle {bundle_id})"
            s.citations = [Citation(
                publisher=partner["name"], title=f"{partner['name']} record {theirs}",
                accessed_via=f"geomap exchange bundle {bundle_id}",
                detail=json.dumps({"partner": partner["name"], "bundle_id": bundle_id,
                                   "partner_key": theirs, "imported_at": now},
                                  ensure_ascii=False))]
        feats = [dict(f, properties={**f["properties"],
                                     "witness_code": f"{ns}/{f['properties']['id']}"})
                 for f in c.docs["testimonies"]["features"]]
        t_report = None
        if feats:
            p = Path(tmp) / "testimonies.geojson"
            p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                         encoding="utf-8")
            t_report = import_testimonies(store, p, actor, dry_run=dry_run, threaded=False,
                                          source=f"exchange:{ns}:{bundle_id}")
            report["testimonies"] = {k: t_report.as_dict()[k] for k in
                                     ("inserted", "already_present", "quarantined", "batch_id")}
        if dry_run:
            report["sites"] = {"would_upsert": len(sites)}
            return report
        from .boundaries import AdminTagger

        tags = AdminTagger(store.boundary_units(1)).tag([s.geometry for s in sites])
        for s, t in zip(sites, tags, strict=True):  # their province names: ours, not theirs
            s.admin1 = t
        res = store.upsert_sites(sites)
        report["sites"] = {"inserted": res.inserted, "updated": res.updated}
    provenance = {**report, "imported_at": now, "partner_fingerprint": partner["fingerprint"],
                  "site_keys": site_ids,
                  "testimony_witness_codes": "<partner>/<partner's record id>"}
    detail = {k: report[k] for k in ("bundle_id", "partner", "counts", "sites", "testimonies")}
    with store.audited(actor, "exchange.import", bundle_id, detail) as conn:
        sql.record_bundle(conn, bundle_id, actor, datetime.now(UTC).replace(tzinfo=None),
                          report["sites"]["inserted"] + report["testimonies"]["inserted"],
                          report["sites"]["updated"],
                          report["testimonies"]["already_present"], provenance)
    return report
