"""Settings: declared once in `SETTINGS`, read in one loop by `load_settings`.

Each setting comes from, in increasing order of precedence: its default, the instance's
optional `settings.toml` (keys are the setting names: the environment variable in lower case
without GEOMAP_), its environment variable, and an explicit argument (`--instance`, tests).
The instance folder holds everything that belongs to one deployment: the database, keys,
imagery, derived files and that settings file. It is `./instance` unless GEOMAP_INSTANCE says
otherwise.

Two settings are environment-only because they are needed before the settings file can be
read: GEOMAP_INSTANCE locates the file, and GEOMAP_DATA is read when this module is imported
(the reference-data paths in demo.py, gazetteer.py and basemap.py are module constants).
Nothing else in geomap/ reads a GEOMAP_* variable (tests/test_settings.py checks).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput

PACKAGE_DIR = Path(__file__).resolve().parent
SETTINGS_FILE = "settings.toml"
SECRET_MASK = "********"


class SettingsError(InvalidInput):
    """A setting with a bad value, an unknown key or an unsafe settings file; the message
    names the variable or key and where it came from."""


# -- parsers: (raw value, where it came from) -> value; None = not set, use the default -------
Parser = Callable[[Any, str], Any]


def _int(low: int, high: int | None = None) -> Parser:
    def parse(raw: Any, where: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise SettingsError(f"{where}: expected an integer, got {raw!r}")
        try:
            value = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise SettingsError(f"{where}: expected an integer, got {raw!r}") from None
        if value < low or high is not None and value > high:
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise SettingsError(f"{where}: expected an integer {bound}, got {value}")
        return value

    return parse


def _text(limit: int) -> Parser:
    def parse(raw: Any, where: str) -> str:
        if not isinstance(raw, str):
            raise SettingsError(f"{where}: expected text, got {raw!r}")
        return raw.strip()[:limit]

    return parse


def _path(raw: Any, where: str) -> Path | None:
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected a path, got {raw!r}")
    return Path(raw.strip()).expanduser() if raw.strip() else None


def _database_url(raw: Any, where: str) -> str | None:
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected a database URL, got {raw!r}")
    if raw.strip() and "://" not in raw:
        raise SettingsError(f"{where}: expected a database URL such as "
                            "postgresql://user@host/geomap")  # the value may hold a password
    return raw.strip() or None


def _trusted_proxies(raw: Any, where: str = "GEOMAP_TRUSTED_PROXIES") -> tuple[str, ...]:
    import ipaddress

    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"{where}: expected comma-separated addresses, got {raw!r}")
    out = []
    for item in (v.strip() for v in items):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{where}: {item!r} is not an IP address or network") from None
    return tuple(out)


def _basemap_url(raw: Any, where: str) -> str:
    url = _text(10_000)(raw, where)
    if url:
        online_basemap_origin(url, where)  # refused at start, not on a page
    return url


@dataclass(frozen=True)
class Setting:
    name: str  # key in settings.toml; the Settings attribute unless `attr` says otherwise
    env: str
    parse: Parser
    default: Any  # a value, or a function of the instance folder
    help: str  # one line; docs/deployment.md's table is generated from these
    secret: bool = False  # masked by `geomap settings`
    in_file: bool = True  # False: needed before settings.toml can be read
    attr: str = ""
    doc_default: str = ""  # for a default computed from the instance folder

    @property
    def attribute(self) -> str:
        return self.attr or self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("instance", "GEOMAP_INSTANCE", _path, Path("instance"),
            "the instance folder (database, keys, imagery, settings.toml); `--instance` "
            "overrides it", in_file=False, attr="instance_path"),
    Setting("data", "GEOMAP_DATA", _path, PACKAGE_DIR.parent / "data",
            "reference data shipped with geomap (boundaries, public facilities, gazetteer)",
            in_file=False, attr="data_dir", doc_default="`data` in the source tree"),
    Setting("database_url", "DATABASE_URL", _database_url,
            lambda inst: sqlite_url(inst / "geomap.sqlite3"),
            "SQLAlchemy URL of the database", secret=True,
            doc_default="`geomap.sqlite3` in the instance folder"),
    Setting("keys_file", "GEOMAP_KEYS_FILE", _path, None,
            "the field-keys file, for example a secret mounted read-only",
            doc_default="`keys/field-keys.json` in the instance folder"),
    Setting("host", "GEOMAP_HOST", _text(255), "127.0.0.1",
            "address `geomap serve` and `geomap demo` listen on unless `--host` says otherwise"),
    Setting("port", "GEOMAP_PORT", _int(1, 65535), 5000,
            "port `geomap serve` and `geomap demo` listen on unless `--port` says otherwise"),
    Setting("proxy_count", "GEOMAP_PROXY_COUNT", _int(0, 10), 0,
            "how many proxies in a row set `X-Forwarded-For/-Proto/-Host` (usually 1); 0 = "
            "geomap is reached directly and ignores those headers"),
    Setting("trusted_proxies", "GEOMAP_TRUSTED_PROXIES", _trusted_proxies, ("127.0.0.1", "::1"),
            "comma-separated addresses or networks (`10.0.0.0/8`) the nearest proxy connects "
            "from; from any other peer the forwarding headers are dropped, so nobody who "
            "reaches geomap directly can choose their own address or claim https"),
    Setting("max_upload_mb", "GEOMAP_MAX_UPLOAD_MB", _int(1), 1024,
            "largest upload (imagery); every request body is limited to this plus 1 MB for "
            "the form, by geomap (a 413 page) and by waitress just above it"),
    Setting("session_idle_s", "GEOMAP_SESSION_IDLE_S", _int(60), 30 * 60,
            "seconds without a request after which a sign-in ends"),
    Setting("session_absolute_s", "GEOMAP_SESSION_ABSOLUTE_S", _int(60), 12 * 3600,
            "seconds after which a sign-in ends however active"),
    Setting("max_features", "GEOMAP_MAX_FEATURES", _int(1), 50_000,
            "most testimonies one map request returns (the map says when it hit the cap)"),
    Setting("points_per_view", "GEOMAP_POINTS_PER_VIEW", _int(1), 1_000,
            "above this many testimonies in view the map groups them per grid cell"),
    Setting("grade_corroborated", "GEOMAP_GRADE_CORROBORATED", _int(1), 2,
            "independent witnesses a site needs to be graded corroborated"),
    Setting("grade_strong", "GEOMAP_GRADE_STRONG", _int(1), 3,
            "independent witnesses a site needs to be graded strongly corroborated"),
    Setting("grade_strong_first_hand", "GEOMAP_GRADE_STRONG_FIRST_HAND", _int(1), 2,
            "of those, how many must have been detained there or seen it directly"),
    Setting("imagery_max_bands", "GEOMAP_IMAGERY_MAX_BANDS", _int(1), 16,
            "most bands an image may declare"),
    Setting("imagery_max_expansion", "GEOMAP_IMAGERY_MAX_EXPANSION", _int(0), 1_000,
            "most declared uncompressed bytes per byte of file (checked above 256 MiB); "
            "`0` = no limit"),
    Setting("imagery_convert_s", "GEOMAP_IMAGERY_CONVERT_S", _int(1), 120,
            "seconds one imagery ingest may take before its child process is killed"),
    Setting("online_basemap_url", "GEOMAP_ONLINE_BASEMAP_URL", _basemap_url, "",
            "an `https://host/.../{z}/{x}/{y}.png` XYZ template; adds that tile layer to the "
            "main map (as its default base layer) and allows that one origin in the CSP's "
            "`img-src`; off when empty"),
    Setting("online_basemap_attribution", "GEOMAP_ONLINE_BASEMAP_ATTRIBUTION", _text(500), "",
            "the attribution shown with the online basemap (as text); empty = its host name"),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_D = {s.attribute: s.default for s in SETTINGS}


def _from_env(s: Setting) -> tuple[Any, str]:
    """(value, source) of an environment-only setting, before the settings file is read."""
    if (raw := os.environ.get(s.env)) is not None and (v := s.parse(raw, s.env)) is not None:
        return v, "environment"
    return s.default, "default"


# Read at import: the reference-data paths built from it are module constants.
DATA_DIR, _DATA_SOURCE = _from_env(BY_NAME["data"])


@dataclass(frozen=True)
class Settings:
    """The resolved settings; what each means is in SETTINGS (and docs/deployment.md)."""

    instance_path: Path
    database_url: str
    host: str = _D["host"]
    port: int = _D["port"]
    max_features: int = _D["max_features"]
    points_per_view: int = _D["points_per_view"]
    session_idle_s: int = _D["session_idle_s"]
    session_absolute_s: int = _D["session_absolute_s"]
    proxy_count: int = _D["proxy_count"]
    trusted_proxies: tuple[str, ...] = _D["trusted_proxies"]
    grade_corroborated: int = _D["grade_corroborated"]
    grade_strong: int = _D["grade_strong"]
    grade_strong_first_hand: int = _D["grade_strong_first_hand"]
    # Every body up to max_upload_mb is spooled to disk before the app sees who sent it.
    max_upload_mb: int = _D["max_upload_mb"]
    imagery_max_bands: int = _D["imagery_max_bands"]
    imagery_max_expansion: int = _D["imagery_max_expansion"]
    imagery_convert_s: int = _D["imagery_convert_s"]
    data_dir: Path = field(default=DATA_DIR)
    keys_file: Path | None = None
    # When an administrator sets it, every map page requests tiles from that server, which
    # learns the area each user looks at; the pages say so.
    online_basemap_url: str = ""
    online_basemap_attribution: str = ""
    # where each setting came from: "default", "file", "environment" or "argument"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

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
    def settings_file(self) -> Path:
        return self.instance_path / SETTINGS_FILE

    @property
    def max_request_bytes(self) -> int:
        """Largest request body: the upload plus the multipart framing and other form fields.
        Flask's MAX_CONTENT_LENGTH; the WSGI server's own limit is set just above it so that
        Flask, with the security headers, is the one that refuses."""
        return self.max_upload_mb * 1024 * 1024 + FORM_OVERHEAD


FORM_OVERHEAD = 1024 * 1024


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_TEMPLATE_PATH = re.compile(r"/[A-Za-z0-9._~%@!$&'()*+=:/-]*")


def online_basemap_origin(template: str, where: str = "GEOMAP_ONLINE_BASEMAP_URL") -> str:
    """The origin (https://host[:port]) of an online basemap's XYZ template, which goes into
    the Content-Security-Policy; a template that is not plainly https://host/.../{z}/{x}/{y}
    is refused (it would widen the policy or send tiles requests somewhere unexpected)."""
    from urllib.parse import urlsplit

    def refuse(why: str):
        raise SettingsError(f"{where}: {template!r} {why}; expected "
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
    return _from_env(BY_NAME["instance"])[0].resolve()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings in an instance's settings.toml ({} without one). It may hold secrets, so
    like the database and the keys it must be readable by its owner only."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(st.st_mode):
        raise SettingsError(f"{path}: not a regular file")
    if st.st_mode & 0o077:
        raise SettingsError(f"{path} is readable or writable by other users (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}) and may hold secrets: "
                            f"chmod 600 {path}")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from None
    for key in doc:
        s = BY_NAME.get(key)
        if s is None:
            raise SettingsError(f"{path}: unknown setting {key!r} (the settings are listed by "
                                "`geomap settings` and in docs/deployment.md)")
        if not s.in_file:
            raise SettingsError(f"{path}: {key} cannot be set in the settings file (it is "
                                f"needed to find the file): use {s.env}")
    return doc


def load_settings(instance_path: Path | None = None, **overrides) -> Settings:
    """Settings for one instance: explicit arguments, then environment, then the instance's
    settings.toml, then defaults; each value parsed and checked, errors name the variable."""
    if instance_path is not None:
        inst, inst_source = Path(instance_path).resolve(), "argument"
    else:
        value, inst_source = _from_env(BY_NAME["instance"])
        inst = value.resolve()
    try:
        # the database, keys and imagery of one deployment: nobody else's business
        inst.mkdir(mode=0o700, parents=True)
        os.chmod(inst, 0o700)  # whatever the umask
    except FileExistsError:
        pass  # an existing folder keeps the mode its owner gave it
    settings_path = inst / SETTINGS_FILE
    in_file = read_settings_file(settings_path)
    values: dict[str, Any] = {"instance_path": inst, "data_dir": DATA_DIR}
    sources = {"instance": inst_source, "data": _DATA_SOURCE}
    for s in SETTINGS:
        if not s.in_file:
            continue
        value, source = None, "default"
        if s.name in in_file:
            value = s.parse(in_file[s.name], f"{settings_path}: {s.name}")
            source = "file" if value is not None else source
        if (raw := os.environ.get(s.env)) is not None:
            if (v := s.parse(raw, s.env)) is not None:
                value, source = v, "environment"
        if value is None:
            value = s.default(inst) if callable(s.default) else s.default
        values[s.attribute], sources[s.name] = value, source
    attrs = {s.attribute: s.name for s in SETTINGS}
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
            sources[attrs.get(key, key)] = "argument"
    return Settings(**values, sources=sources)


def _shown(value: Any) -> Any:
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value) if isinstance(value, Path) else value


def settings_report(settings: Settings) -> list[dict[str, Any]]:
    """Every setting: name, environment variable, value (secrets masked unless at their
    default), where it came from, whether it is a secret. For `geomap settings`."""
    out = []
    for s in SETTINGS:
        source = settings.sources.get(s.name, "default")
        value = _shown(getattr(settings, s.attribute))
        if s.secret and source != "default" and value:
            value = SECRET_MASK
        out.append({"name": s.name, "env": s.env, "value": value, "source": source,
                    "secret": s.secret})
    return out


def settings_markdown() -> str:
    """The settings table of docs/deployment.md (tests/test_settings.py keeps them equal)."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        if s.doc_default:
            default = s.doc_default
        elif s.default in ("", None):
            default = "(none)"
        else:
            default = f"`{_shown(s.default)}`"
        notes = []
        if s.secret:
            notes.append("secret: `geomap settings` masks it")
        if not s.in_file:
            notes.append("environment only: read before `settings.toml`")
        meaning = s.help + (f" ({'; '.join(notes)})" if notes else "")
        lines.append(f"| `{s.env}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"
