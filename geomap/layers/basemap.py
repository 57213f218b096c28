"""The offline basemap: tiles from our own tile endpoint (a COG), in a pane below imagery."""

from __future__ import annotations

from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from .text import html_text


class BasemapLayer(JSCSSMixin, Layer):
    """Drawn by geomap.reliefBasemap (static/js/geomap-core.js): in a pane below imagery, and
    not stretched into a blur past its native zoom (the same on every map page)."""

    default_js = [("geomap-core", "")]
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geomap.reliefBasemap({{ this._parent.get_name() }},
    {url: {{ this.url|tojson }}, attribution: {{ this.attribution|tojson }},
     bounds: {{ this.bounds|tojson }}, maxzoom: {{ this.maxzoom }}});
{% endmacro %}
""")

    def __init__(self, url: str, bounds, name: str, attribution: str, maxzoom: int,
                 show: bool = True):
        # Leaflet inserts the layer name and the attribution as HTML
        super().__init__(name=html_text(name), overlay=False, control=True, show=show)
        self._name = "Basemap"
        self.url, self.bounds = url, [list(b) for b in bounds]
        self.attribution = html_text(attribution)
        self.maxzoom = int(maxzoom)


class PackageBasemapLayer(JSCSSMixin, Layer):
    """An installed basemap package (MBTiles, our own tile endpoint) over the relief, as one base
    layer: geomap.packageBasemap in geomap-core.js (the attribution is escaped there)."""

    default_js = [("geomap-core", "")]
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geomap.{{ this.js_function }}({{ this._parent.get_name() }},
    {{ this.config|tojson }});
{% endmacro %}
""")
    js_function = "packageBasemap"

    def __init__(self, name: str, config: dict, show: bool):
        super().__init__(name=html_text(name), overlay=False, control=True, show=show)
        self._name = type(self).__name__
        self.config = config


class OnlineBasemapLayer(PackageBasemapLayer):
    """The online basemap an administrator opted into (GEOMAP_ONLINE_BASEMAP_URL)."""

    js_function = "onlineBasemap"
