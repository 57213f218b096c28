"""The OGC API as analysts' tools read it, over a real server on the loopback address: GDAL's
OAPIF driver (Debian gdal-bin's `ogrinfo`) lists and pages every collection (sites,
testimonies, boundaries, annotations) with an API token sent as the password of HTTP Basic
(what QGIS does) or as a Bearer header, and OWSLib reads items by bbox.

The app itself never lets GDAL open a remote path; here GDAL is the *client*, and it only
ever talks to this test's server: every link the API returns is absolute to 127.0.0.1, and
proxies are switched off for it."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from geomap import tokens
from geomap.demo import load_reference_data, load_synthetic_testimonies
from geomap.store.tokens import TokenStore
from geomap.web import create_app

from .conftest import make_user, serve_in_thread

PAGE = 7  # small pages: every collection takes several requests


def _annotate(store, settings, tmp) -> None:
    """One scene (a real GeoTIFF, ingested) with nine annotations: more than a page."""
    from datetime import date

    from geomap import annotations as ann
    from geomap.policy import Principal, Role

    from .test_annotations import make_scene

    scene = make_scene(store, settings, tmp, acquired=date(2016, 4, 2))
    for k in range(9):
        ann.create(store, Principal(None, "ana", Role.ANALYST), {
            "scene_id": scene.id, "label": "housing_barracks", "confidence": "low",
            "geometry": {"type": "Point", "coordinates": [127.0 + 0.001 * k, 40.0]}})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base url, store, user, read token, paths the server was asked for)."""
    from geomap.config import load_settings
    from geomap.store import Store

    settings = load_settings(tmp_path_factory.mktemp("oapif") / "instance")
    store = Store.for_instance(settings)
    load_reference_data(store)
    load_synthetic_testimonies(store, 60, seed=13)
    _annotate(store, settings, tmp_path_factory.mktemp("scenes"))
    user, _, _ = make_user(store, "researcher")
    issued = tokens.issue(TokenStore(store), user, "GDAL in the tests")
    app = create_app(settings, store)
    asked: list[str] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        asked.append(environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
        return inner(environ, start_response)

    app.wsgi_app = recording
    base, stop = serve_in_thread(app)
    assert base.startswith("http://127.0.0.1:")
    yield base, store, user, issued.token, asked
    stop()
    store.close()


def _gdal_env(extra: dict) -> dict:
    """The environment for ogrinfo: credentials through GDAL_HTTP_* only, no proxy, no
    retries, a timeout; nothing from the user's GDAL configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GDAL_", "CPL_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                "https_proxy", "ALL_PROXY", "all_proxy"))}
    return {**env, "NO_PROXY": "*", "no_proxy": "*", "GDAL_HTTP_TIMEOUT": "30",
            "GDAL_HTTP_MAX_RETRY": "0", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": "", **extra}


def _ogrinfo(base: str, env: dict, *args: str) -> str:
    exe = shutil.which("ogrinfo")
    if exe is None:
        pytest.fail("GDAL's ogrinfo is not installed: run `make setup-test` (Debian gdal-bin)")
    r = subprocess.run([exe, "-ro", "-oo", f"PAGE_SIZE={PAGE}", f"OAPIF:{base}/ogcapi", *args],
                       env=_gdal_env(env), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _number_matched(base: str, token: str, cid: str) -> int:
    import requests

    doc = requests.get(f"{base}/ogcapi/collections/{cid}/items?limit=1",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    return doc["numberMatched"]


def test_ogrinfo_lists_every_collection_with_a_token_as_basic_password(served):
    base, _store, user, token, _asked = served
    out = _ogrinfo(base, {"GDAL_HTTP_AUTH": "BASIC",
                          "GDAL_HTTP_USERPWD": f"{user.username}:{token}"}, "-so", "-al")
    layers = re.findall(r"^Layer name: (\S+)$", out, re.M)
    assert layers == ["sites", "testimonies", "boundaries", "annotations"]
    counts = dict(zip(layers, map(int, re.findall(r"^Feature Count: (\d+)$", out, re.M)),
                      strict=True))
    for cid in layers:
        assert counts[cid] == _number_matched(base, token, cid) > 0
    assert "witness_code: String" in out  # a researcher's token reads witness codes
    assert not re.search(r"^narrative\w*:", out, re.M)  # no such field


@pytest.mark.parametrize("collection", ["sites", "testimonies", "boundaries", "annotations"])
def test_ogrinfo_pages_through_each_collection(served, collection):
    base, _store, user, token, asked = served
    before = len(asked)
    out = _ogrinfo(base, {"GDAL_HTTP_AUTH": "BASIC",
                          "GDAL_HTTP_USERPWD": f"{user.username}:{token}"}, "-al", "-q",
                   collection)
    pages = [p for p in asked[before:] if p.startswith(f"/ogcapi/collections/{collection}/items?")]
    features = len(re.findall(r"^OGRFeature\(", out, re.M))
    matched = _number_matched(base, token, collection)
    assert features == matched
    offsets = {int(parse_qs(urlsplit(p).query).get("offset", ["0"])[0]) for p in pages}
    assert len(offsets) >= math.ceil(matched / PAGE) > 1  # several pages, each asked for
    assert all(parse_qs(urlsplit(p).query).get("limit") == [str(PAGE)] for p in pages)


def test_ogrinfo_with_a_bearer_header(served):
    base, _store, _user, token, _asked = served
    out = _ogrinfo(base, {"GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"},
                   "-so", "sites")
    assert int(re.search(r"^Feature Count: (\d+)$", out, re.M).group(1)) == \
        _number_matched(base, token, "sites")


def test_ogrinfo_without_a_token_is_refused(served):
    base, *_ = served
    exe = shutil.which("ogrinfo")
    r = subprocess.run([exe, "-ro", "-so", f"OAPIF:{base}/ogcapi"], env=_gdal_env({}),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    r = subprocess.run([exe, "-ro", "-so", f"OAPIF:{base}/ogcapi"],
                       env=_gdal_env({"GDAL_HTTP_HEADERS": "Authorization: Bearer gmt_0000000000_"
                                      + "A" * 43}), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0


def test_owslib_reads_items_by_bbox(served):
    from owslib.ogcapi.features import Features
    from owslib.util import Authentication

    base, _store, user, token, _asked = served
    api = Features(f"{base}/ogcapi", auth=Authentication(user.username, token))
    assert [c["id"] for c in api.collections()["collections"]] == \
        ["sites", "testimonies", "boundaries", "annotations"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in \
        api.conformance()["conformsTo"]
    bbox = [126.0, 39.0, 128.5, 41.5]
    for cid in ("sites", "testimonies"):
        doc = api.collection_items(cid, bbox=bbox, limit=1000)
        everything = api.collection_items(cid, limit=1000)
        assert 0 < doc["numberMatched"] < everything["numberMatched"], cid
        for f in doc["features"]:
            x, y = f["geometry"]["coordinates"]
            assert bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]
    one = api.collection_items("testimonies", bbox=bbox, limit=1)["features"][0]
    assert api.collection_item("testimonies", str(one["id"]))["id"] == one["id"]
    # Bearer through headers works the same
    bearer = Features(f"{base}/ogcapi", headers={"Authorization": f"Bearer {token}"})
    assert bearer.collection_items("sites", bbox=bbox)["numberMatched"] == \
        api.collection_items("sites", bbox=bbox)["numberMatched"]
