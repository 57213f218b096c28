"""Partner exchange (issue 15, item 6): instance A exports a signed bundle of partner-tier
records, instance B (which trusts A's key) imports it with provenance; internal records and
witness codes never reach the bundle; a bundle is refused whole, with nothing stored, when the
signer is untrusted, the signature or a member's hash does not check, a member is extra or
missing, a name traverses paths, a record's tier or columns are outside the partner
allow-list (even when validly signed), or it is a zip bomb; a re-import adds nothing."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import Point
from sqlalchemy import func, select

from geomap import exchange
from geomap.cli import main
from geomap.demo import load_reference_data
from geomap.exchange import ExchangeError
from geomap.model import FacilityType, Precision, Site, Testimony, Tier, Violation
from geomap.periods import parse_period
from geomap.policy import SYSTEM
from geomap.store.schema import audit_log, import_batches, sites, testimonies

CODE = "SYN-EXC-"
NARRATIVE = "[SYNTHETIC] 합성 증언 - exchange test narrative, never shared"
SECRET_NOTE = "SYN research note never shared"
INTERNAL_SITE = "Synthetic internal site never shared"


def _cli(settings, *args: str):
    return CliRunner().invoke(main, ["--instance", str(settings.instance_path), *args])


def _testimonies() -> list[Testimony]:
    out = []
    for i, (tier, lon, lat) in enumerate(((Tier.INTERNAL, 127.05, 39.66),
                                          (Tier.PARTNER, 129.75, 42.44),
                                          (Tier.PUBLIC, 129.72, 41.80))):
        out.append(Testimony(
            witness_code=f"{CODE}{i}", place_text=f"합성 장소 {i}", geometry=Point(lon, lat),
            radius_m=500.0, precision=Precision.LOCALITY, period=parse_period("1998–2001"),
            violations=[Violation("forced_labour")], interview_date=date(2015, 3, 1),
            narrative=NARRATIVE, tier=tier, synthetic=True))
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A (exports, with records of every tier) and B (trusts A's key)."""
    from geomap.config import load_settings
    from geomap.store import Store

    sa = load_settings(tmp_path_factory.mktemp("a") / "instance")
    sb = load_settings(tmp_path_factory.mktemp("b") / "instance")
    a, b = Store.for_instance(sa), Store.for_instance(sb)
    load_reference_data(a)
    a.upsert_sites([
        Site(key="syn-internal", name=INTERNAL_SITE, facility_type=FacilityType.OTHER,
             geometry=Point(127.1, 39.7), precision=Precision.LOCALITY, tier=Tier.INTERNAL,
             research_note=SECRET_NOTE),
        Site(key="syn-partner", name="Synthetic partner site", facility_type=FacilityType.OTHER,
             geometry=Point(129.7, 42.4), precision=Precision.LOCALITY, tier=Tier.PARTNER,
             research_note=SECRET_NOTE)])
    a.add_testimonies(_testimonies())
    b.upsert_boundary_units(a.boundary_units())
    assert _cli(sa, "exchange", "keygen", "--org", "Org A").exit_code == 0
    pub = tmp_path_factory.mktemp("pub") / "a.pem"
    r = _cli(sa, "exchange", "pubkey")
    assert r.exit_code == 0 and "fingerprint:" in r.stdout
    pub.write_text(r.stdout[r.stdout.index("-----BEGIN"):])
    r = _cli(sb, "exchange", "trust", str(pub), "--name", "Org A")
    assert r.exit_code == 0, r.output
    bundle = tmp_path_factory.mktemp("out") / "a.zip"
    r = _cli(sa, "exchange", "export", str(bundle), "--json")
    assert r.exit_code == 0, r.output
    yield sa, a, sb, b, bundle, json.loads(r.stdout)
    a.close()
    b.close()


def _members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return path


def _sign_with_a(sa, members: dict[str, bytes]) -> dict[str, bytes]:
    """Re-hash and re-sign with A's real (trusted) key: a validly signed bundle."""
    key, _org = exchange._signing_key(sa)
    m = json.loads(members["manifest.json"])
    for n in ("sites.geojson", "testimonies.geojson"):
        m["members"][n]["sha256"] = exchange._sha256(members[n])
    mb = exchange.manifest_bytes(m)
    return {**members, "manifest.json": mb, "manifest.sig": key.sign(mb)}


def _state(store) -> tuple[int, int, int]:
    with store.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar()
                     for t in (sites, testimonies, import_batches))


# -- the bundle ----------------------------------------------------------------------------------
def test_bundle_holds_only_partner_records_and_columns(pair):
    sa, a, _sb, _b, bundle, manifest = pair
    members = _members(bundle)
    assert set(members) == {"manifest.json", "manifest.sig", "sites.geojson",
                            "testimonies.geojson"}
    text = b"\n".join(members.values()).decode("utf-8", "replace")
    for secret in (CODE, NARRATIVE, SECRET_NOTE, INTERNAL_SITE, "syn-internal",
                   "witness_code", "narrative", "research_note", "interview_date"):
        assert secret not in text
    t = json.loads(members["testimonies.geojson"])["features"]
    assert sorted(f["properties"]["tier"] for f in t) == ["partner", "public"]
    s = json.loads(members["sites.geojson"])["features"]
    assert {f["properties"]["tier"] for f in s} == {"partner", "public"}
    assert manifest["counts"] == {"sites": len(s), "testimonies": 2}
    assert manifest["audience"] == "partner" and manifest["organisation"] == "Org A"
    assert json.loads(members["manifest.json"]) == manifest
    with a.read() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "exchange.export")
                             ).one()
    assert entry.target == manifest["bundle_id"] and NARRATIVE not in entry.details
    assert stat.S_IMODE(os.stat(sa.instance_path / "keys" / exchange.KEY_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sa.instance_path / exchange.CONFIG_FILE).st_mode) == 0o600


# -- refusals ------------------------------------------------------------------------------------
def _tamper(kind: str, sa, members: dict[str, bytes], tmp: Path) -> Path:
    m = dict(members)
    if kind == "untrusted":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        other = Ed25519PrivateKey.generate()
        man = json.loads(m["manifest.json"])
        man["signer"] = exchange.fingerprint(other.public_key())
        mb = exchange.manifest_bytes(man)
        m["manifest.json"], m["manifest.sig"] = mb, other.sign(mb)
    elif kind == "member_byte":
        b = bytearray(m["sites.geojson"])
        b[len(b) // 2] ^= 0x01
        m["sites.geojson"] = bytes(b)
    elif kind == "manifest":
        m["manifest.json"] = m["manifest.json"].replace(b'"Org A"', b'"Org B"')
    elif kind == "forged":
        m["manifest.sig"] = os.urandom(64)
    elif kind == "extra":
        m["notes.txt"] = b"hello"
    elif kind == "missing":
        del m["testimonies.geojson"]
    elif kind == "traversal":
        m["../evil.geojson"] = b"{}"
    elif kind in ("internal_tier", "extra_field"):
        doc = json.loads(m["testimonies.geojson"])
        if kind == "internal_tier":
            doc["features"][0]["properties"]["tier"] = "internal"
        else:
            doc["features"][0]["properties"]["witness_code"] = "SYN-PLANTED"
        m["testimonies.geojson"] = json.dumps(doc).encode()
        m = _sign_with_a(sa, m)
    elif kind == "too_many":
        m.update({f"x{i}": b"" for i in range(20)})
    return _zip(tmp / f"{kind}.zip", m)


REFUSALS = {
    "untrusted": "not a trusted partner",
    "member_byte": "SHA-256 does not match",
    "manifest": "signature does not verify",
    "forged": "signature does not verify",
    "extra": "extra member",
    "missing": "missing member",
    "traversal": "path traversal",
    "internal_tier": "tier 'internal' is not partner or public",
    "extra_field": "outside the partner allow-list: witness_code",
    "too_many": "members",
}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_refused_with_nothing_stored(pair, tmp_path, kind):
    sa, _a, sb, b, bundle, _m = pair
    bad = _tamper(kind, sa, _members(bundle), tmp_path)
    before = _state(b)
    with pytest.raises(ExchangeError, match=REFUSALS[kind]):
        exchange.import_bundle(b, sb, bad, "test")
    assert _state(b) == before
    r = _cli(sb, "exchange", "import", str(bad), "--json")  # the CLI: exit 2, a JSON error
    assert r.exit_code == 2 and REFUSALS[kind].split(":")[0] in json.loads(r.stdout)["message"]
    assert _state(b) == before


def test_zip_bomb_guard(pair, tmp_path):
    _sa, _a, sb, b, bundle, _m = pair
    members = _members(bundle)
    members["sites.geojson"] = b" " * (4 * 1024 * 1024)  # compresses to a few KiB
    bomb = _zip(tmp_path / "bomb.zip", members)
    assert bomb.stat().st_size < 64 * 1024
    before = _state(b)
    with pytest.raises(ExchangeError, match="zip bomb"):
        exchange.import_bundle(b, sb, bomb, "test", max_bytes=1024 * 1024)
    # a zip whose directory understates a member's size is still cut at the limit
    raw = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("sites.geojson")
    assert info.file_size == 4 * 1024 * 1024
    with pytest.raises(ExchangeError, match="zip bomb"):
        exchange._read_zip(bomb, 1024 * 1024, exchange.MAX_MEMBERS)
    assert _state(b) == before


def test_untrusted_after_untrust(pair, tmp_path):
    sa, _a, _sb, _b, bundle, _m = pair
    from geomap.config import load_settings
    from geomap.store import Store

    sc = load_settings(tmp_path / "c")
    store = Store.for_instance(sc)
    try:
        pem = exchange.public_key_pem(exchange.identity(sa).public_key).encode()
        exchange.trust(sc, pem, "Org A")
        assert _cli(sc, "exchange", "partners").stdout.startswith("Org A\t")
        assert _cli(sc, "exchange", "untrust", "Org A").exit_code == 0
        with pytest.raises(ExchangeError, match="not a trusted partner"):
            exchange.check_bundle(sc, bundle)
    finally:
        store.close()


# -- the import ----------------------------------------------------------------------------------
def test_round_trip_with_provenance_and_idempotent(pair):
    sa, a, sb, b, bundle, manifest = pair
    bid = manifest["bundle_id"]
    dry = exchange.import_bundle(b, sb, bundle, "test", dry_run=True)
    assert dry["dry_run"] and dry["testimonies"]["inserted"] == 2
    before = _state(b)
    r = _cli(sb, "exchange", "import", str(bundle), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)  # --json: only JSON on stdout
    assert report["bundle_id"] == bid and not report["already_imported"]
    assert report["sites"]["inserted"] == manifest["counts"]["sites"]
    assert report["testimonies"]["inserted"] == 2
    # sites: their keys under the partner's namespace, with a citation naming the bundle
    theirs = {s.key: s for s in a.sites(SYSTEM) if s.tier != Tier.INTERNAL}
    ours = {s.key: s for s in b.sites(SYSTEM)}
    assert set(ours) == {f"org-a--{k}" for k in theirs}
    s = ours["org-a--syn-partner"]
    assert s.tier == Tier.PARTNER and s.research_note is None
    assert s.geometry.equals(theirs["syn-partner"].geometry)
    (c,) = s.citations
    assert c.publisher == "Org A" and bid in c.accessed_via
    prov = json.loads(c.detail)
    assert prov["bundle_id"] == bid and prov["partner_key"] == "syn-partner" \
        and prov["imported_at"]
    # testimonies: through the intake; the witness code names the partner and their id
    from geomap.store import TestimonyFilter

    rows, _n = b.testimony_rows(TestimonyFilter(with_geometry=False), SYSTEM)
    assert sorted(r["tier"] for r in rows) == ["partner", "public"]
    their_ids = {f["properties"]["id"]
                 for f in json.loads(_members(bundle)["testimonies.geojson"])["features"]}
    assert {r["witness_code"] for r in rows} == {f"org-a/{i}" for i in their_ids}
    with b.read() as conn:
        batch = conn.execute(select(import_batches).where(
            import_batches.c.kind == "exchange")).one()
        audit = conn.execute(select(audit_log).where(
            audit_log.c.action == "exchange.import")).one()
    doc = json.loads(batch.report)
    assert doc["bundle_id"] == bid and doc["partner"] == "Org A" and doc["imported_at"]
    assert doc["site_keys"]["syn-partner"] == "org-a--syn-partner"
    assert audit.target == bid
    # a re-import adds nothing
    after = _state(b)
    assert after[0] == before[0] + manifest["counts"]["sites"]
    r = _cli(sb, "exchange", "import", str(bundle))
    assert r.exit_code == 0 and "imported already" in r.stdout
    again = exchange.import_bundle(b, sb, bundle, "test")
    assert again["already_imported"] and _state(b) == after
    # a second bundle of the same records: sites updated in place, testimonies present
    b2 = bundle.with_name("a2.zip")
    exchange.export_bundle(a, sa, b2, "test")
    r2 = exchange.import_bundle(b, sb, b2, "test")
    assert r2["sites"]["inserted"] == 0 and r2["testimonies"]["already_present"] == 2
    assert _state(b)[:2] == after[:2]
