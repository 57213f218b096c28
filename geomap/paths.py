"""Guard for file paths given by a person (CLI arguments, settings).

GDAL treats strings such as `/vsicurl/http://...` or `https://...` as network resources; geomap
never makes network requests at run time, so every path must name an existing local file.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InvalidInput

_REMOTE = re.compile(r"^(/vsi[a-z0-9_]+/|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


def check_local_path(path: str | Path) -> Path:
    s = str(path)
    # GDAL reads a path as virtual only when it starts with /vsi...: a local folder such as
    # /home/vsingh/ or a file named vsicurl.vrt is an ordinary path (GDAL's network access is
    # switched off for the whole process anyway: geomap.offline)
    if _REMOTE.match(s.lstrip()):
        raise InvalidInput(f"{s!r}: only local files are accepted (no URLs or GDAL /vsi paths)")
    p = Path(s)
    if not p.is_file():
        raise InvalidInput(f"{s!r}: no such file")
    return p
