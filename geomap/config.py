"""Settings from the environment and the instance folder.

The instance folder holds everything that belongs to one deployment: the database, keys,
imagery and derived files. It is `./instance` unless GEOMAP_INSTANCE says otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidInput

PACKAGE_DIR = Path(__file__).resolve().parent
# Reference data shipped with the product (boundaries, public facilities, gazetteer).
DATA_DIR = Path(os.environ.get("GEOMAP_DATA", PACKAGE_DIR.parent / "data"))


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = 5000
    # Most testimonies one viewport request returns; the client is told when it hit the cap.
    max_features: int = 50_000
    # Above this many testimonies in view the map asks the server to group them per grid cell:
    # markercluster handles a few thousand points smoothly, tens of thousands not.
    points_per_view: int = 5_000
    session_idle_s: int = 30 * 60
    session_absolute_s: int = 12 * 3600
    # Number of trusted reverse proxies in front of geomap (X-Forwarded-For/-Proto/-Host);
    # 0 = none. GEOMAP_PROXY_COUNT
    proxy_count: int = 0
    # Addresses (or networks) the nearest proxy connects from; X-Forwarded-* from any other
    # peer are dropped. GEOMAP_TRUSTED_PROXIES, comma-separated; default loopback.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Corroboration grades: independent witnesses needed (GEOMAP_GRADE_* to change them)
    grade_corroborated: int = 2
    grade_strong: int = 3
    grade_strong_first_hand: int = 2
    # largest upload accepted (imagery files can be large); GEOMAP_MAX_UPLOAD_MB. Every body up
    # to this size is spooled to disk before the app sees who sent it: keep it modest.
    max_upload_mb: int = 1024
    # imagery ingest (GEOMAP_IMAGERY_*): most bands; most declared uncompressed bytes per file
    # byte (0 = no limit; measured figures in geomap/imagery.py); seconds of conversion per
    # upload before its child process is killed (the CLI can allow more)
    imagery_max_bands: int = 16
    imagery_max_expansion: int = 1_000
    imagery_convert_s: int = 120
    data_dir: Path = field(default=DATA_DIR)
    # An online basemap (GEOMAP_ONLINE_BASEMAP_URL, an https XYZ template with {z}, {x}, {y}):
    # off by default. When an administrator sets it, every map page requests tiles from that
    # server, which learns the area each user looks at; the pages say so.
    online_basemap_url: str = ""
    online_basemap_attribution: str = ""  # GEOMAP_ONLINE_BASEMAP_ATTRIBUTION (shown as text)

    def __post_init__(self):
        if self.online_basemap_url:
            online_basemap_origin(self.online_basemap_url)  # refused at start, not on a page

    @property
    def online_basemap_origin(self) -> str:
        return online_basemap_origin(self.online_basemap_url) if self.online_basemap_url else ""

    @property
    def basemap_dir(self) -> Path:
        return self.instance_path / "basemap"

    @property
    def max_request_bytes(self) -> int:
        """Largest request body: the upload plus the multipart framing and other form fields.
        Flask's MAX_CONTENT_LENGTH; the WSGI server's own limit is set just above it so that
        Flask, with the security headers, is the one that refuses."""
        return self.max_upload_mb * 1024 * 1024 + FORM_OVERHEAD


FORM_OVERHEAD = 1024 * 1024


def _trusted_proxies(value: str) -> tuple[str, ...]:
    import ipaddress

    out = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"GEOMAP_TRUSTED_PROXIES: {item!r} is not an IP address or "
                             "network") from None
    return tuple(out)


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_TEMPLATE_PATH = re.compile(r"/[A-Za-z0-9._~%@!$&'()*+=:/-]*")


def online_basemap_origin(template: str) -> str:
    """The origin (https://host[:port]) of an online basemap's XYZ template, which goes into
    the Content-Security-Policy; a template that is not plainly https://host/.../{z}/{x}/{y}
    is refused (it would widen the policy or send tiles requests somewhere unexpected)."""
    from urllib.parse import urlsplit

    def refuse(why: str):
        raise InvalidInput(f"GEOMAP_ONLINE_BASEMAP_URL: {template!r} {why}; expected "
                           "https://tiles.example.org/{z}/{x}/{y}.png", field="online_basemap_url")

    if len(template) > 500 or any(c.isspace() or not c.isprintable() for c in template):
        refuse("holds spaces or control characters")
    u = urlsplit(template)
    if u.scheme != "https":
        refuse("is not an https URL")
    if u.username or u.password or "@" in u.netloc:
        refuse("carries credentials")
    if not u.hostname or not _HOST.fullmatch(u.hostname):
        refuse("has no valid host name")
    try:
        port = u.port
    except ValueError:
        refuse("has an invalid port")
    if u.fragment or u.query and not re.fullmatch(r"[A-Za-z0-9._~%=&-]*", u.query):
        refuse("has a fragment or an unusual query")
    bare = u.path.replace("{z}", "").replace("{x}", "").replace("{y}", "")
    if not _TEMPLATE_PATH.fullmatch(bare) or any(p not in u.path for p in ("{z}", "{x}", "{y}")):
        refuse("needs {z}, {x} and {y} in its path and only plain URL characters")
    host = u.hostname.lower()
    return f"https://{host}" + (f":{port}" if port and port != 443 else "")


def default_instance_path() -> Path:
    return Path(os.environ.get("GEOMAP_INSTANCE", "instance")).resolve()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_settings(instance_path: Path | None = None, **overrides) -> Settings:
    """Settings for one instance: explicit arguments, then environment, then defaults."""
    inst = (instance_path or default_instance_path()).resolve()
    try:
        # the database, keys and imagery of one deployment: nobody else's business
        inst.mkdir(mode=0o700, parents=True)
        os.chmod(inst, 0o700)  # whatever the umask
    except FileExistsError:
        pass  # an existing folder keeps the mode its owner gave it
    url = os.environ.get("DATABASE_URL") or sqlite_url(inst / "geomap.sqlite3")
    values = {"instance_path": inst, "database_url": url,
              "proxy_count": int(os.environ.get("GEOMAP_PROXY_COUNT", "0"))}
    if (v := os.environ.get("GEOMAP_TRUSTED_PROXIES")) is not None:
        values["trusted_proxies"] = _trusted_proxies(v)
    if (v := os.environ.get("GEOMAP_MAX_UPLOAD_MB")) is not None:
        values["max_upload_mb"] = int(v)
    for name in ("max_bands", "max_expansion", "convert_s"):
        if (v := os.environ.get(f"GEOMAP_IMAGERY_{name.upper()}")) is not None:
            values[f"imagery_{name}"] = int(v)
    if (v := os.environ.get("GEOMAP_ONLINE_BASEMAP_URL", "").strip()):
        values["online_basemap_url"] = v
        values["online_basemap_attribution"] = os.environ.get(
            "GEOMAP_ONLINE_BASEMAP_ATTRIBUTION", "").strip()[:500]
    for name in ("corroborated", "strong", "strong_first_hand"):
        if (v := os.environ.get(f"GEOMAP_GRADE_{name.upper()}")) is not None:
            values[f"grade_{name}"] = int(v)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
