"""One exception tree for the library; the web layer maps it to status codes in one table."""


class GeomapError(Exception):
    """Base of every error geomap raises on purpose."""


class InvalidInput(GeomapError, ValueError):
    """Input a person supplied is wrong; the message says which input and why."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class PeriodParseError(InvalidInput):
    """A period text that none of the supported forms matches."""


class NotFound(GeomapError, LookupError):
    """A record that does not exist (or that the caller may not see)."""


class AssetNotLocal(GeomapError):
    """A map element asks for a front-end asset we do not serve from our own origin."""
