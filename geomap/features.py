"""What the map shows in a view, as GeoJSON documents (plain data): the service the JSON API
serves and that exports, an OGC API and publications will serve too. The web layer only
parses the request and sends the document.

The choice between points and a grid is made here: more matches than `limit` with a `grid`
cell size asked for gives one feature per non-empty cell with its count, so a zoomed-out view
of a hundred thousand testimonies stays small."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import geojson
from .boundaries import unit_names
from .corroboration import GradeRule
from .errors import NotFound
from .policy import Permission, Principal

if TYPE_CHECKING:
    from .model import FacilityType
    from .periods import Period
    from .store import BBox, TestimonyFilter
    from .store.protocol import StoreLike


def sites_in_view(store: StoreLike, viewer: Principal, rule: GradeRule,
                  facility_types: Sequence[FacilityType] | None = None,
                  period: Period | None = None, bbox: BBox | None = None) -> dict:
    """Sites the viewer may see, with their grade and number of independent witnesses."""
    found = store.sites(viewer, facility_types=facility_types, period=period, bbox=bbox)
    units = unit_names(store.boundary_units(1))
    support = store.site_support(viewer)
    from .annotations import confirmed_dates

    confirmed = confirmed_dates(store, viewer)

    def feature(s):
        w, first = support.get(s.id, (0, 0))
        return geojson.site_feature(s, units, rule.grade(w, first), w, confirmed.get(s.id))

    return geojson.collection(feature(s) for s in found)


def site_testimony_points(store: StoreLike, viewer: Principal, key: str) -> dict:
    """Points of a site's confirmed testimonies (the lines on the map); no testimony fields."""
    site = store.site_by_key(key, viewer)
    if site is None:
        raise NotFound()
    return geojson.collection(
        geojson.feature({"type": "Point", "coordinates": [round(p["lon"], 6),
                                                          round(p["lat"], 6)]},
                        {"radius_m": p["radius_m"]}, p["id"])
        for p in store.linked_points(site.id, viewer))


def testimonies_in_view(store: StoreLike, viewer: Principal, f: TestimonyFilter, limit: int,
                        grid: float | None = None) -> dict:
    """Testimonies matching `f` as points (at most `limit`), or as grid cells with counts when
    a `grid` size is given and more than `limit` match. The cell is `grid` snapped to the
    nearest power of two of a degree (the document's `cell`), so stored counts can answer it;
    counts are of the points inside the bbox only."""
    from .store.viewport import cell_size, snap_level

    # counting stops at limit + 1: a country-wide view does not count every point twice
    if grid is not None and store.count_matching(f, viewer, at_most=limit + 1) > limit:
        cells, total = store.testimony_grid(f, viewer, grid)
        return geojson.collection(geojson.grid_features(cells), numberMatched=total,
                                  numberReturned=0, aggregated=True,
                                  cell=cell_size(snap_level(grid)))
    rows, total = store.testimony_rows(f, viewer, limit=limit)
    features = geojson.testimony_features(
        rows, unit_names(store.boundary_units(1)),
        with_codes=viewer.can(Permission.READ_WITNESS_CODES))
    return geojson.collection(features, numberMatched=total, numberReturned=len(rows),
                              aggregated=False)
