"""Engines and migrations. Everything dialect-specific about connections lives here.

SQLite: WAL so readers never block the writer, synchronous=FULL so a committed import survives
a power cut, and BEGIN IMMEDIATE on the write engine so concurrent writers queue on the lock
instead of failing with "database is locked" when a read transaction tries to upgrade.
PostgreSQL (DATABASE_URL=postgresql+psycopg://...): pooled connections, writers serialised by
an advisory lock (below).
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

BUSY_TIMEOUT_MS = 30_000


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(begin)

    return engine


def _private_database_file(path: Path) -> None:
    """Create the database file 0600 (in a 0700 folder if we make one) before SQLite opens it:
    SQLite gives its -wal and -shm files the database file's mode, so they are private too.
    A file left readable by an older version is tightened."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except (FileNotFoundError, PermissionError):
            pass  # not there yet, or not ours to change


def make_engines(url: str) -> tuple[Engine, Engine]:
    """(reader, writer) engines for a database URL; one shared engine for server databases."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            _private_database_file(Path(u.database))
        return _sqlite_engine(url, "BEGIN"), _sqlite_engine(url, "BEGIN IMMEDIATE")
    if u.get_backend_name() == "postgresql":
        if u.drivername == "postgresql":  # plain postgresql:// means psycopg 3, our dependency
            u = u.set(drivername="postgresql+psycopg")
        return _postgresql_engines(u)
    engine = create_engine(url, pool_pre_ping=True)
    return engine, engine


# pg_advisory_xact_lock key every write transaction takes (any constant no other lock uses)
PG_WRITE_LOCK = 0x6765_6F6D_7772


def _postgresql_engines(url: URL) -> tuple[Engine, Engine]:
    """A pooled reader, and a writer whose transactions take one advisory lock at BEGIN: the
    store's writes were written for SQLite's one-writer-at-a-time (read a head or a key, then
    write), so on PostgreSQL they queue the same way instead of racing under READ COMMITTED.
    Readers never wait for it; the lock ends with the transaction."""
    # UTC sessions: the store writes naive UTC datetimes, and an aware one must not be
    # shifted into the server's local time on its way into a timestamp column
    args = {"options": "-c timezone=UTC"}
    reader = create_engine(url, pool_pre_ping=True, connect_args=args)
    writer = create_engine(url, pool_pre_ping=True, connect_args=args)

    @event.listens_for(writer, "begin")
    def _on_begin(conn):
        # wait as long as SQLite's busy timeout, then fail rather than hang
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {BUSY_TIMEOUT_MS}")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")

    return reader, writer


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "geomap.store:migrations")
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", keys=None) -> None:
    """Bring the schema to `revision`; an existing database is upgraded in place, never
    recreated. `keys` (a KeyRing) lets migrations that encrypt existing data do so."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["keys"] = keys
        command.upgrade(cfg, revision)


def database_holds(url: str) -> str:
    """What the database at `url` holds, in words ("" for nothing worth keeping), read
    without migrating or writing it: a SQLite file through sqlite_holds, a server database
    by counting the same tables where they exist."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return sqlite_holds(Path(u.database)) if u.database and u.database != ":memory:" else ""
    reader, writer = make_engines(url)
    counts = []
    try:
        with reader.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for table, word in (("testimonies", "testimonies"), ("sites", "sites"),
                                ("users", "accounts")):
                if table in present:  # names from the constant tuple above, never from input
                    n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()  # noqa: S608
                    if n:
                        counts.append(f"{n} {word}")
    except SQLAlchemyError:
        return "a database geomap cannot read"
    finally:
        reader.dispose()
        writer.dispose()
    return ", ".join(counts)


def sqlite_holds(db_path: Path) -> str:
    """What a SQLite database file holds, in words, read without migrating or writing it
    ("" for nothing worth keeping): the demo asks before it would drop such a file."""
    import sqlite3

    if not db_path.exists() or db_path.stat().st_size == 0:
        return ""
    counts = []
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            for table, word in (("testimonies", "testimonies"), ("sites", "sites"),
                                ("users", "accounts")):
                try:  # table names from the constant tuple above, never from input
                    n = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
                except sqlite3.DatabaseError:
                    continue
                if n:
                    counts.append(f"{n} {word}")
        finally:
            conn.close()
    except sqlite3.Error:
        return "a database geomap cannot read"
    return ", ".join(counts)
