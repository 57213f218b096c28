"""The SQL behind `geomap archive` (geomap.archive): a consistent SQLite snapshot through the
online backup API, row counts, every table's rows for the open-format copy, and one
ciphertext to check that restored keys open the restored data."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, func, make_url, select

from .schema import metadata, testimonies

# tables whose rows are credentials or sessions: kept in the database snapshot, never in the
# open copy (password hashes, token hashes, encrypted second-factor secrets, sign-in attempts)
SECRET_TABLES = frozenset({"users", "sessions", "password_resets", "api_tokens",
                           "login_attempts"})
GEOMETRY_COLUMNS = frozenset({"geom", "perimeter", "footprint"})  # WKB in EPSG:4326


def sqlite_backup(src: Path, dst: Path, progress=None) -> None:
    """Copy the live SQLite database `src` to `dst` with SQLite's online backup API: a
    consistent snapshot even while geomap writes (a file copy of a WAL database is not)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        def step(status, remaining, total):
            if progress is not None:
                progress("database snapshot", total - remaining, total)

        source.backup(target, pages=1024, progress=step)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the bag
    finally:
        target.close()
        source.close()


def table_names() -> list[str]:
    """Every table of the schema, in dependency order."""
    return [t.name for t in metadata.sorted_tables]


def table_counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables}


def iter_rows(conn: Connection, name: str, chunk: int = 2_000) -> Iterator[dict]:
    """The rows of table `name` (a schema table, never user input) in primary-key order,
    fetched in chunks."""
    table = metadata.tables[name]
    order = list(table.primary_key.columns) or list(table.columns)[:1]
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
        select(table).order_by(*order))
    for row in result:
        yield dict(row._mapping)


def sample_ciphertext(conn: Connection) -> tuple[int, str, bytes] | None:
    """(testimony id, key, narrative ciphertext) of one encrypted narrative, or None."""
    t = testimonies
    r = conn.execute(select(t.c.id, t.c.key, t.c.narrative_enc)
                     .where(t.c.narrative_enc.is_not(None)).limit(1)).first()
    return (r.id, r.key, r.narrative_enc) if r else None


def snapshot_engine(path: Path) -> Engine:
    """A read-only engine on a snapshot file (no WAL, no writes)."""
    from sqlalchemy import create_engine

    return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")


def revision(conn: Connection) -> str | None:
    """The schema's Alembic revision as this connection sees it."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def export_snapshot(conn: Connection) -> str:
    """PostgreSQL: the id of this REPEATABLE READ transaction's snapshot, for
    `pg_dump --snapshot` (the dump then sees exactly what this connection sees)."""
    from sqlalchemy import text

    return conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()


def parse_url(url: str) -> URL:
    """A database URL's parts (backend name, database, credentials)."""
    return make_url(url)


def pg_conninfo(url: str, passfile: Path) -> str:
    """A libpq keyword string for a SQLAlchemy URL, its password in a passfile (never on a
    command line, where `ps` would show it)."""
    u = make_url(url)
    parts = {"dbname": u.database, "user": u.username, "host": u.host,
             "port": str(u.port) if u.port else None, **dict(u.query)}
    if u.password:
        passfile.write_text(f"*:*:*:*:{u.password}\n")
        passfile.chmod(0o600)
        parts["passfile"] = str(passfile)

    def q(v: str) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={q(v)}" for k, v in parts.items() if v)
