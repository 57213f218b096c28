"""The SQL of MBTiles basemap packages: SQLite files made by other tools, opened read-only and
immutable (no journal, no locks, nothing written, whatever the file says). geomap.basemaps
decides what the answers mean; these functions only ask."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

Error = sqlite3.Error
DatabaseError = sqlite3.DatabaseError


def connect(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def metadata_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT name, value FROM metadata").fetchall()


def object_kinds(conn: sqlite3.Connection) -> dict[str, str]:
    """'tiles' and 'metadata' -> 'table' or 'view', where they exist."""
    return dict(conn.execute(
        "SELECT name, type FROM sqlite_master WHERE name IN ('tiles', 'metadata')"))


def quick_check(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("PRAGMA quick_check").fetchone()
    return row[0] if row else None


def zoom_range(conn: sqlite3.Connection) -> tuple:
    """(lowest zoom, highest zoom, number of tiles)."""
    return conn.execute("SELECT MIN(zoom_level), MAX(zoom_level), COUNT(*) FROM tiles").fetchone()


def sample_tiles(conn: sqlite3.Connection, zoom: int, limit: int) -> Iterator[object]:
    for (data,) in conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? LIMIT ?",
                                (zoom, limit)):
        yield data


def tile(conn: sqlite3.Connection, zoom: int, column: int, tms_row: int) -> object | None:
    row = conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
                       "AND tile_row = ?", (zoom, column, tms_row)).fetchone()
    return row[0] if row else None
