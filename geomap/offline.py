"""GDAL's network access, switched off for the whole process (geomap makes no requests).

GDAL reaches the network in two ways, and a file can trigger either: the /vsicurl/ family of
virtual file systems (/vsicurl/, /vsis3/, /vsigs/, /vsiaz/ ...: a VRT's source, a path) and
drivers that fetch a URL themselves through CPLHTTPFetch (an OGR VRT whose SrcDataSource is
`http://...`, a GeoJSON whose `crs` is a `link`, WMS/WFS/OAPIF). Measured with a local server
counting requests (tests/test_offline.py): with nothing set, a VRT pointing at a URL, a
/vsicurl/ path, a raster VRT and a plain GeoJSON with a crs link all made requests.

What is set, as environment variables, so that both GDAL copies in the process read them
(pyogrio and rasterio each bundle their own libgdal, and GDAL falls back to the environment
for every configuration option that is not set in code), on every thread, before either is
used, and so that an operator's own GDAL_HTTP_* settings cannot turn the network back on:

- CPL_VSIL_CURL_ALLOWED_FILENAME: the only file /vsicurl/ and its relatives may open. A name
  that does not start with /vsi can never equal one, so every such open is refused before a
  connection is made (the allowed-extensions option is weaker: an attacker picks the URL).
- GDAL_HTTP_PROXY / GDAL_HTTPS_PROXY: a proxy with a scheme curl does not support, so every
  CPLHTTPFetch fails with "Unsupported proxy scheme" before resolving or connecting to
  anything; NO_PROXY / no_proxy are removed, as curl would bypass the proxy for hosts they
  name.
- GDAL_HTTP_MAX_RETRY=0, PROJ_NETWORK=OFF (PROJ would otherwise be allowed to download grids).
"""

from __future__ import annotations

import os

NO_NETWORK = "geomap-no-network://0"
NO_FILENAME = "geomap-no-network"

SETTINGS = {
    "CPL_VSIL_CURL_ALLOWED_FILENAME": NO_FILENAME,
    "GDAL_HTTP_PROXY": NO_NETWORK,
    "GDAL_HTTPS_PROXY": NO_NETWORK,
    "GDAL_HTTP_MAX_RETRY": "0",
    "PROJ_NETWORK": "OFF",
}
# curl skips the proxy for hosts these name ("*": every host)
BYPASS = ("NO_PROXY", "no_proxy")


def switch_off_network() -> None:
    """Idempotent; called when geomap is imported, before pyogrio or rasterio open a file."""
    os.environ.update(SETTINGS)
    for name in BYPASS:
        os.environ.pop(name, None)
