"""geomap: corroborate testimonies about North Korean detention sites on maps and imagery."""

__version__ = "0.1.0"
