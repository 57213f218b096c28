"""Front-end assets: folium's CDN links rewritten to files served from our own origin.

Every folium element that declares JS/CSS (`default_js`/`default_css`) is rewritten by name.
A name we do not know raises AssetNotLocal, so a folium upgrade or a new plugin can never
silently put a CDN URL into a page.
"""

from __future__ import annotations

from collections.abc import Callable

import folium
from branca.element import Element
from folium.elements import JSCSSMixin

from ..errors import AssetNotLocal

# name -> path under the app's static folder
LOCAL_JS = {
    "leaflet": "vendor/leaflet/leaflet.js",
    "leaflet.markercluster": "vendor/markercluster/leaflet.markercluster.js",
    "markerclusterjs": "vendor/markercluster/leaflet.markercluster.js",
    "geomap-core": "js/geomap-core.js",
    "geomap-map": "js/geomap-map.js",
}
LOCAL_CSS = {
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "markerclustercss": "vendor/markercluster/MarkerCluster.css",
    "markerclusterdefault": "vendor/markercluster/MarkerCluster.Default.css",
    "markerclusterdefaultcss": "vendor/markercluster/MarkerCluster.Default.css",  # folium's name
    "noto-sans-kr": "vendor/fonts/noto-sans-kr/noto-sans-kr.css",
    "geomap-css": "css/geomap.css",
}
# folium.Map's defaults that our pages do not use (Bootstrap, jQuery, Awesome Markers, Font
# Awesome). Dropped only from the Map itself: an element that really needs one (folium.Icon
# needs Awesome Markers) raises instead of rendering a page that breaks in the browser.
MAP_DEFAULTS_UNUSED = {
    "jquery", "bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css",
    "awesome_markers_font_css", "awesome_markers_css", "awesome_rotate_css",
}


def _walk(el: Element):
    yield el
    for child in list(el._children.values()):
        yield from _walk(child)


def localise(root: Element, static_url: Callable[[str], str]) -> None:
    """Point every asset of every element under `root` at our static files."""
    for el in _walk(root):
        if not isinstance(el, JSCSSMixin):
            continue
        el.default_js = [(n, static_url(LOCAL_JS[n])) for n, _ in _known(el.default_js, LOCAL_JS, el)]
        el.default_css = [(n, static_url(LOCAL_CSS[n])) for n, _ in _known(el.default_css, LOCAL_CSS, el)]


def _known(pairs, table, el):
    for name, url in pairs:
        if name in table:
            yield name, url
        elif not (name in MAP_DEFAULTS_UNUSED and isinstance(el, folium.Map)):
            raise AssetNotLocal(
                f"{type(el).__name__} asks for {name!r} ({url}); add a local copy to "
                "package.json / scripts/vendor_assets.py and map it in geomap.layers.assets")


# Globals the dropped Map defaults would have provided; rendered code that uses one would fail
# in the browser, so it fails here instead.
_DROPPED_GLOBALS = {"L.AwesomeMarkers": "awesome_markers", "jQuery": "jquery",
                    "bootstrap.": "bootstrap"}


def check_rendered(code: str) -> None:
    """Raise AssetNotLocal if rendered page code relies on an asset we dropped."""
    for token, name in _DROPPED_GLOBALS.items():
        if token in code:
            raise AssetNotLocal(
                f"the page uses {token} from {name!r}, which geomap does not serve "
                "(use circle markers or a DivIcon instead of folium.Icon)")
