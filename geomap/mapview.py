"""Compose the main map with folium from geomap's layers (no Flask here).

The caller supplies URLs (API endpoints, static files) and already-translated labels, and gets
back the three parts of the page folium renders: head (asset links, styles), body (map div) and
script. The web layer places them in its own template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import folium
from branca.element import Figure

from .layers.assets import check_rendered, localise
from .layers.basemap import BasemapLayer, OnlineBasemapLayer, PackageBasemapLayer
from .layers.boundaries import BoundariesLayer
from .layers.controls import Legend, MapFilters, MapState, PeriodFilter, StatusBox
from .layers.sites import SitesLayer
from .layers.testimonies import TestimoniesLayer
from .layers.text import check_layers, html_text

CENTER = (40.3, 127.4)
ZOOM = 7
CIRCLE_MIN_ZOOM = 10
GRADE_RINGS = ("strongly_corroborated", "corroborated", "single_source")  # below this a 10 km circle is a few pixels; above, circles are drawn


@dataclass(frozen=True)
class MapParts:
    head: str
    body: str
    script: str
    map_name: str


@dataclass(frozen=True)
class MapUrls:
    basemap: str  # tile URL template
    basemap_bounds: tuple
    basemap_attribution: str
    sites: str
    testimonies: str
    boundaries: str
    site_links: str  # with __KEY__ where the site key goes
    basemap_maxzoom: int = 6
    # installed basemap packages ({name, url, bounds, minzoom, maxzoom, attribution}; the first
    # is the default base layer) and the online basemap ({url, attribution}) if one is set
    basemap_packages: tuple = ()
    online_basemap: dict | None = None


def build_map(urls: MapUrls, text: dict, vocab: dict, limit: int,
              scenes: list[dict] = ()) -> folium.Map:
    """The researcher's map. `text` holds translated UI strings, `vocab` translated labels."""
    # the scale bar is geomap.scaleBar (metric, as on every other map), added by StatusBox
    m = folium.Map(location=CENTER, zoom_start=ZOOM, tiles=None, control_scale=False,
                   prefer_canvas=True, minZoom=5, maxZoom=18)
    # first of the map's scripts: the URL's view and filters, before any layer loads
    MapState(_state_config(urls, text, vocab)).add_to(m)
    relief_only = not urls.basemap_packages and not urls.online_basemap
    BasemapLayer(urls.basemap, urls.basemap_bounds, text["basemap"],
                 urls.basemap_attribution, urls.basemap_maxzoom, show=relief_only).add_to(m)
    relief = {"url": urls.basemap, "bounds": [list(b) for b in urls.basemap_bounds],
              "maxzoom": urls.basemap_maxzoom, "attribution": html_text(urls.basemap_attribution)}
    for i, pkg in enumerate(urls.basemap_packages):  # over the relief, the first one shown
        PackageBasemapLayer(text["basemap_package"].replace("%(name)s", pkg["name"]),
                            {**pkg, "relief": relief},
                            show=i == 0 and not urls.online_basemap).add_to(m)
    if urls.online_basemap:  # the administrator chose it: shown, and the page warns
        OnlineBasemapLayer(text["online_basemap"], urls.online_basemap, show=True).add_to(m)
    for sc in scenes:  # imagery scenes as overlays named by date and sensor, off at first
        # the layer control and the attribution insert these as HTML: sensor and licence are
        # a person's text, so they go in as text
        folium.raster_layers.TileLayer(
            tiles=sc["tiles"], name=html_text(f'{text["imagery"]}: {sc["label"]}'), overlay=True,
            show=False, attr=html_text(sc["attribution"] or text["imagery"]),
            max_native_zoom=sc["maxzoom"], max_zoom=19, bounds=sc["bounds"]).add_to(m)
    BoundariesLayer(text["provinces"], {"url": urls.boundaries, "labels": text}).add_to(m)
    common = {"labels": text, **vocab}
    TestimoniesLayer(text["testimonies"], {
        "url": urls.testimonies, "limit": limit, "circleMinZoom": CIRCLE_MIN_ZOOM, **common,
    }).add_to(m)
    SitesLayer(text["sites"], {"url": urls.sites, "linksUrl": urls.site_links, **common}
               ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    Legend({"title": text["legend"], "types": list(vocab["types"].items()), "colours": vocab["colours"],
            "testimony": text["testimony_point"], "cluster": text["testimony_cluster"],
            "grades": [[k, v] for k, v in vocab["grades"].items() if k in GRADE_RINGS],
            "uncertainty": text["uncertainty_circle"]}
           ).add_to(m)
    StatusBox().add_to(m)
    PeriodFilter({"title": text["period_filter"], "from": text["from"], "to": text["to"],
                  "apply": text["apply"], "clear": text["clear"]}).add_to(m)
    MapFilters({"title": text["filters"], "typesTitle": text["filter_types"],
                "violationsTitle": text["filter_violations"], "none": text["filter_none"],
                "types": list(vocab["types"].items()),
                "violations": list(vocab["violations"].items())}).add_to(m)
    return m


def _state_config(urls: MapUrls, text: dict, vocab: dict) -> dict:
    """What geomap.mapState accepts from a URL: known codes, the zoom range, and the keys of
    the layers by their names in the layer control (as the control holds them: escaped)."""
    layers = {html_text(text["provinces"]): "provinces", html_text(text["sites"]): "sites",
              html_text(text["testimonies"]): "testimonies",
              html_text(text["basemap"]): "relief"}
    for pkg in urls.basemap_packages:
        layers[html_text(text["basemap_package"].replace("%(name)s", pkg["name"]))] = \
            f"pkg-{pkg['name']}"
    if urls.online_basemap:
        layers[html_text(text["online_basemap"])] = "online"
    return {"types": list(vocab["types"]), "violations": list(vocab["violations"]),
            "minZoom": 5, "maxZoom": 18, "layers": layers}


def render_parts(m: folium.Map, static_url: Callable[[str], str]) -> MapParts:
    fig = Figure()
    fig.add_child(m)
    localise(fig, static_url)  # before render: render() is what emits the links
    check_layers(fig)  # no layer name or attribution holds markup
    fig.render()
    parts = MapParts(
        head=fig.header.render(), body=fig.html.render(), script=fig.script.render(),
        map_name=m.get_name(),
    )
    check_rendered(parts.script)
    return parts
