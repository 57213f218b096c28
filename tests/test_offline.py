"""GDAL never reaches the network: files that point at URLs make no request (issue 9, item 12).

A real HTTP server on 127.0.0.1 counts every request; each case must leave it at zero.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from geomap.boundaries import import_boundaries
from geomap.cli import main
from geomap.errors import InvalidInput
from geomap.imagery import GDAL_ENV

FEATURES = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"name": "Remote unit", "code": "R1"},
    "geometry": {"type": "Polygon",
                 "coordinates": [[[127, 40], [128, 40], [128, 41], [127, 41], [127, 40]]]}}]}


@pytest.fixture
def counting_server():
    """(base url, list of request paths): answers every GET with a GeoJSON."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = json.dumps(FEATURES).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):
            hits.append("HEAD " + self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()
    t.join(5)


def _vector_vrt(src: str) -> str:
    return (f"<OGRVRTDataSource><OGRVRTLayer name=\"units\"><SrcDataSource>{src}</SrcDataSource>"
            "</OGRVRTLayer></OGRVRTDataSource>")


def _raster_vrt(src: str) -> str:
    return ('<VRTDataset rasterXSize="8" rasterYSize="8"><SRS>EPSG:4326</SRS>'
            "<GeoTransform>127, 0.1, 0, 41, 0, -0.1</GeoTransform>"
            '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
            f"<SourceFilename>{src}</SourceFilename><SourceBand>1</SourceBand>"
            "</SimpleSource></VRTRasterBand></VRTDataset>")


def _units(store) -> int:
    return len(store.boundary_units())


def test_a_vrt_pointing_at_a_url_makes_no_request(store, tmp_path, counting_server):
    url, hits = counting_server
    for name, src in (("direct.vrt", f"{url}/x.geojson"),
                      ("vsicurl.vrt", f"/vsicurl/{url}/x.geojson"),
                      ("renamed.geojson", f"{url}/x.geojson")):  # a VRT under another name
        f = tmp_path / name
        f.write_text(_vector_vrt(src))
        with pytest.raises(InvalidInput, match="must be one of"):
            import_boundaries(store, f, 1)
    assert hits == [] and _units(store) == 0


def test_boundaries_import_of_a_remote_vrt_is_one_line_on_the_cli(tmp_path, counting_server):
    url, hits = counting_server
    f = tmp_path / "remote.vrt"
    f.write_text(_vector_vrt(f"{url}/x.geojson"))
    r = CliRunner().invoke(main, ["--instance", str(tmp_path / "inst"), "boundaries", "import",
                                  str(f), "--level", "1"])
    assert r.exit_code != 0
    assert "remote.vrt: boundary files must be one of" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert hits == []


def test_a_geojson_whose_crs_is_a_link_makes_no_request(store, tmp_path, counting_server):
    """An allowed format can still name a URL: GDAL fetches a GeoJSON's crs link itself."""
    url, hits = counting_server
    f = tmp_path / "units.geojson"
    f.write_text(json.dumps({**FEATURES, "crs": {"type": "link", "properties": {
        "href": f"{url}/crs.wkt", "type": "ogcwkt"}}}))
    import_boundaries(store, f, 1)
    assert hits == []


def test_gdal_makes_no_request_for_any_file_the_app_opens(tmp_path, counting_server):
    """The process-wide switch, below our own checks: pyogrio and rasterio opened directly."""
    url, hits = counting_server
    (tmp_path / "v.vrt").write_text(_vector_vrt(f"{url}/x.geojson"))
    (tmp_path / "r1.vrt").write_text(_raster_vrt(f"/vsicurl/{url}/r.tif"))
    (tmp_path / "r2.vrt").write_text(_raster_vrt(f"{url}/r.tif"))
    for path in (tmp_path / "v.vrt", f"/vsicurl/{url}/x.geojson", f"{url}/x.geojson"):
        with pytest.raises(Exception):  # noqa: B017 (GDAL's errors vary by path; any will do)
            pyogrio.read_dataframe(path)
    for path in (tmp_path / "r1.vrt", tmp_path / "r2.vrt", f"/vsicurl/{url}/r.tif"):
        with pytest.raises(rasterio.errors.RasterioIOError):
            with rasterio.open(path) as src:
                src.read(1)
        # inside the imagery code's own GDAL environment too (rasterio.Env sets and clears
        # options of its own; the process-wide switch is below them)
        with rasterio.Env(**GDAL_ENV), pytest.raises(rasterio.errors.RasterioIOError):
            with rasterio.open(path) as src:
                src.read(1)
    assert hits == []


def test_an_operators_gdal_or_proxy_settings_do_not_turn_the_network_back_on(tmp_path,
                                                                            counting_server):
    url, hits = counting_server
    f = tmp_path / "v.vrt"
    f.write_text(_vector_vrt(f"{url}/x.geojson"))
    env = {**os.environ, "GDAL_HTTP_PROXY": "", "GDAL_HTTPS_PROXY": "", "NO_PROXY": "*",
           "no_proxy": "*", "CPL_VSIL_CURL_ALLOWED_FILENAME": f"/vsicurl/{url}/x.geojson"}
    code = ("import sys, geomap, pyogrio\n"
            "try:\n    pyogrio.read_dataframe(sys.argv[1])\nexcept Exception:\n    pass\n"
            "try:\n    pyogrio.read_dataframe('/vsicurl/' + sys.argv[2])\n"
            "except Exception:\n    pass\n")
    r = subprocess.run([sys.executable, "-c", code, str(f), f"{url}/x.geojson"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert hits == []


def test_a_local_folder_whose_name_starts_with_vsi_is_an_ordinary_path(store, tmp_path):
    folder = tmp_path / "vsingh"  # not /vsi.../: GDAL reads it as a local folder
    folder.mkdir()
    f = folder / "units.geojson"
    f.write_text(json.dumps(FEATURES))
    assert import_boundaries(store, f, 1).result.inserted == 1
