"""A throw-away PostgreSQL 15 + PostGIS 3 cluster for the tests, on a Unix socket only.

`shared()` runs initdb into a temporary folder once per test session, starts the server
listening on no TCP address, and makes two template databases: `geomap_template` (PostGIS
only, for tests of the migrations themselves) and `geomap_migrated` (PostGIS and every
migration, made on first use). A test's database is a file copy of one of them (~0.02 s), so
each test starts empty and nothing leaks between tests. `stop_shared()` (conftest's
pytest_sessionfinish) stops the server and removes the folder. As root the server runs as the
Debian `postgres` user (PostgreSQL refuses to run as root). Without the Debian packages the
tests that need it are skipped with the command that installs them.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("GEOMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
MISSING = "PostgreSQL 15 + PostGIS 3 not installed: run make setup-test"
TEMPLATE = "geomap_template"  # PostGIS, no schema
MIGRATED = "geomap_migrated"  # PostGIS and the schema at head
_db_names = itertools.count(1)
STARTED: list[float] = []  # seconds to initdb, start and make the template (conftest prints)


class Unavailable(Exception):
    """PostgreSQL + PostGIS cannot be run here (the message says why)."""


@dataclass
class Cluster:
    root: Path
    sockdir: Path
    start_seconds: float = 0.0
    _migrated: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.sockdir}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", str(self.sockdir), "-U", "postgres", "-d", database, "-c", sql],
                       check=True, capture_output=True, text=True)

    def _execute(self, sql: str) -> None:
        """One statement on the maintenance database (psycopg: ~10x quicker than psql)."""
        import psycopg

        with psycopg.connect(host=str(self.sockdir), user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, migrated: bool = False) -> tuple[str, str]:
        """(name, url) of a fresh database copied from a template: PostGIS only, or with the
        schema at head (`migrated`)."""
        if migrated:
            self._ensure_migrated()
        name = f"geomap_test_{os.getpid()}_{next(_db_names)}"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {MIGRATED if migrated else TEMPLATE} "
                      "STRATEGY FILE_COPY")
        return name, self.url(name)

    def drop(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ensure_migrated(self) -> None:
        """The migrated template, made once: PostGIS copied, then every migration (with
        throw-away keys: an empty database has nothing to encrypt)."""
        with self._lock:
            if self._migrated:
                return
            from geomap.keys import KeyRing
            from geomap.store import Store

            self._execute(f"CREATE DATABASE {MIGRATED} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
            with tempfile.TemporaryDirectory() as keydir:
                store = Store(self.url(MIGRATED), KeyRing.load_or_create(Path(keydir) / "keys"))
                store.close()  # a template must have no connections when it is copied
            self._migrated = True


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL will not run as root: hand root's commands to the `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *cmd] if runuser else \
        ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(map(str, cmd))]


def _run(cmd: list[str]) -> None:
    r = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stdout}{r.stderr}")


def start() -> Cluster:
    """A new cluster with the PostGIS template; Unavailable when it cannot run here."""
    if not (PG_BIN / "initdb").exists() or not POSTGIS_CONTROL.exists():
        raise Unavailable(MISSING)
    t0 = time.perf_counter()
    # Not under pytest's tmp_path: that is 0700 root's, which the postgres user cannot enter.
    # A short path, too: a Unix socket's path must stay under ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="geomap-pg-"))
    data, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockdir, "postgres")
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
              "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        # Durability is not what these tests are about: fsync off keeps them quick. A server
        # in Seoul's time zone: geomap's connections must still be UTC. Connections: several
        # `geomap serve` processes and module-scoped stores at once.
        opts = (f"-k {sockdir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off -c TimeZone=Asia/Seoul -c max_connections=300")
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
              "-w", "-s", "start"])
    except (RuntimeError, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"{MISSING} ({e})") from None
    cluster = Cluster(root, sockdir)
    try:
        cluster.psql(f"CREATE DATABASE {TEMPLATE}")
        cluster.psql("CREATE EXTENSION postgis", TEMPLATE)
    except Exception:
        stop(cluster)
        raise
    cluster.start_seconds = time.perf_counter() - t0
    return cluster


def stop(cluster: Cluster) -> None:
    try:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "-m", "immediate",
              "-w", "-s", "stop"])
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


_shared: Cluster | None = None
_shared_error: str | None = None


def shared() -> Cluster:
    """The session's cluster, started on first use (Unavailable, remembered, if it cannot)."""
    global _shared, _shared_error
    if _shared_error is not None:
        raise Unavailable(_shared_error)
    if _shared is None:
        try:
            _shared = start()
        except Unavailable as e:
            _shared_error = str(e)
            raise
        STARTED.append(_shared.start_seconds)
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        stop(_shared)
        _shared = None


@pytest.fixture(scope="session")
def pg_cluster() -> Cluster:
    try:
        return shared()
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture
def pg_url(pg_cluster: Cluster, request) -> Iterator[str]:
    """A fresh database with PostGIS (copied from the template), dropped after the test."""
    request.node.user_properties.append(("database", "postgresql"))  # counted in conftest
    name, url = pg_cluster.new_database()
    yield url
    pg_cluster.drop(name)


@pytest.fixture
def pg_migrated_url(pg_cluster: Cluster, request) -> Iterator[str]:
    """A fresh database with PostGIS and the schema at head, dropped after the test."""
    request.node.user_properties.append(("database", "postgresql"))
    name, url = pg_cluster.new_database(migrated=True)
    yield url
    pg_cluster.drop(name)
