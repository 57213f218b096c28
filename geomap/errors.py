"""One exception tree for the library; the web layer maps it to status codes in one table."""


class GeomapError(Exception):
    """Base of every error geomap raises on purpose."""


class InvalidInput(GeomapError, ValueError):
    """Input a person supplied is wrong; the message says which input and why."""

    def __init__(self, message, *, field: str | None = None):
        # message: English text, or a geomap.messages.Message the web shows translated
        super().__init__(str(message))
        self.field = field
        self.msg = message if not isinstance(message, str) else None


class PeriodParseError(InvalidInput):
    """A period text that none of the supported forms matches."""


class UnmappedColumns(InvalidInput):
    """A file whose columns for required fields were not recognised: nothing was imported.

    Carries what a person needs to map them: the unmapped fields, the file's headers, the
    mapping geomap recognised and the suggested column for each unmapped field (or None)."""

    def __init__(self, message: str, *, unmapped: list[str], header: list[str],
                 recognised: dict[str, str], suggested: dict[str, str | None]):
        super().__init__(message, field=unmapped[0] if unmapped else None)
        self.unmapped = unmapped
        self.header = header
        self.recognised = recognised
        self.suggested = suggested

    def as_dict(self) -> dict:
        return {"error": "unmapped_columns", "message": str(self), "unmapped": self.unmapped,
                "header": self.header, "recognised": self.recognised,
                "suggested": self.suggested}


class NotFound(GeomapError, LookupError):
    """A record that does not exist (or that the caller may not see)."""


class AssetNotLocal(GeomapError):
    """A map element asks for a front-end asset we do not serve from our own origin."""
