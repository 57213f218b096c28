"""One exception tree for the library. Each class carries an HTTP-ish `status` and a machine
`code`; the web layer (geomap.web.errors) and the CLI (geomap.cli) map it in one place each, so
library code raises and never builds a response. No Flask here."""

from __future__ import annotations

from .messages import Message


class GeomapError(Exception):
    """Base of every error geomap raises on purpose. Unclassified ones answer as a 500 whose
    details stay in the log (a broken key file, a tampered ciphertext)."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str | Message | None = None, *, field: str | None = None):
        # message: English text, or a geomap.messages.Message the web shows translated; None
        # leaves the reader the generic text for the status
        super().__init__(str(message) if message is not None else self.code.replace("_", " "))
        self.field = field
        self.msg = message if isinstance(message, Message) else None
        self.has_message = message is not None


class InvalidInput(GeomapError, ValueError):
    """Input a person supplied is wrong; the message says which input and why (400)."""

    status = 400
    code = "invalid_input"


BadRequest = InvalidInput  # the 400 of the tree under its HTTP name


class NotSignedIn(GeomapError):
    """The request needs a signed-in account (401)."""

    status = 401
    code = "not_signed_in"


class Forbidden(GeomapError):
    """Signed in, but this role may not do this (403). What a role may not *see* is a
    NotFound instead, so its existence is not revealed."""

    status = 403
    code = "forbidden"


class NotFound(GeomapError, LookupError):
    """A record that does not exist (or that the caller may not see) (404)."""

    status = 404
    code = "not_found"


class Conflict(GeomapError):
    """The request contradicts what is stored: a name taken, a file imported already (409)."""

    status = 409
    code = "conflict"


class TooLarge(GeomapError):
    """What was sent is larger than geomap accepts (413)."""

    status = 413
    code = "too_large"


class PeriodParseError(InvalidInput):
    """A period text that none of the supported forms matches."""


class UnmappedColumns(InvalidInput):
    """A file whose columns for required fields were not recognised: nothing was imported.

    Carries what a person needs to map them: the unmapped fields, the file's headers, the
    mapping geomap recognised and the suggested column for each unmapped field (or None)."""

    code = "unmapped_columns"

    def __init__(self, message: str, *, unmapped: list[str], header: list[str],
                 recognised: dict[str, str], suggested: dict[str, str | None]):
        super().__init__(message, field=unmapped[0] if unmapped else None)
        self.unmapped = unmapped
        self.header = header
        self.recognised = recognised
        self.suggested = suggested

    def as_dict(self) -> dict:
        return {"error": self.code, "message": str(self), "unmapped": self.unmapped,
                "header": self.header, "recognised": self.recognised,
                "suggested": self.suggested}


class AssetNotLocal(GeomapError):
    """A map element asks for a front-end asset we do not serve from our own origin."""
