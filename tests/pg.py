"""A throw-away PostgreSQL 15 + PostGIS 3 cluster for the tests, on a Unix socket only.

`pg_cluster` (session) runs initdb into a temporary folder, starts the server listening on no
TCP address, and makes a template database with PostGIS; `pg_url` (per test) copies that
template into a fresh database, so each test starts empty and nothing leaks between tests.
As root the server runs as the Debian `postgres` user (PostgreSQL refuses to run as root).
The cluster is stopped and removed at the end of the session. Without the Debian packages the
tests that need it are skipped with the command that installs them.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("GEOMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
MISSING = "PostgreSQL 15 + PostGIS 3 not installed: run make setup-test"
TEMPLATE = "geomap_template"
_db_names = itertools.count(1)
STARTED: list[float] = []  # seconds to initdb, start and make the template (conftest prints)


@dataclass
class Cluster:
    sockdir: Path
    start_seconds: float

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.sockdir}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", str(self.sockdir), "-U", "postgres", "-d", database, "-c", sql],
                       check=True, capture_output=True, text=True)


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists() or not POSTGIS_CONTROL.exists():
        pytest.skip(MISSING)
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
        # in Seoul's time zone: geomap's connections must still be UTC.
        opts = (f"-k {sockdir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off -c TimeZone=Asia/Seoul")
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
              "-w", "-s", "start"])
    except (RuntimeError, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"{MISSING} ({e})")
    try:
        cluster = Cluster(sockdir, 0.0)
        cluster.psql(f"CREATE DATABASE {TEMPLATE}")
        cluster.psql("CREATE EXTENSION postgis", TEMPLATE)
        cluster.start_seconds = time.perf_counter() - t0
        STARTED.append(cluster.start_seconds)
        yield cluster
    finally:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-s", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster, request) -> Iterator[str]:
    """A fresh database with PostGIS (copied from the template), dropped after the test."""
    request.node.user_properties.append(("database", "postgresql"))  # counted in conftest
    name = f"geomap_test_{os.getpid()}_{next(_db_names)}"
    pg_cluster.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    yield pg_cluster.url(name)
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
