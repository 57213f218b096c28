"""geomap: corroborate testimonies about North Korean detention sites on maps and imagery."""

__version__ = "0.1.0"

from .offline import switch_off_network

switch_off_network()  # GDAL (pyogrio, rasterio) never reaches the network: see geomap.offline
