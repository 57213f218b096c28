"""Helpers that several blueprints share (public names: a view module imports no other
view module's private helpers; tests/test_layering.py checks that)."""

from __future__ import annotations

from flask import url_for

from ..basemap import ensure_basemap
from . import get_settings


def basemap_context() -> dict:
    """The offline relief basemap for a page's map: tile URL template, bounds, zoom, and the
    installed basemap packages that go over it (geomap.basemap in geomap-core.js)."""
    from .tiles import basemap_layers

    b = ensure_basemap(get_settings().basemap_dir)
    url = url_for("tiles.basemap_tile", z=0, x=0, y=0).replace("/0/0/0.", "/{z}/{x}/{y}.")
    return {"url": url, "bounds": [list(x) for x in b.bounds], "maxzoom": b.maxzoom,
            "packages": basemap_layers()}
