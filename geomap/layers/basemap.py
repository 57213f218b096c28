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

    def __init__(self, url: str, bounds, name: str, attribution: str, maxzoom: int):
        # Leaflet inserts the layer name and the attribution as HTML
        super().__init__(name=html_text(name), overlay=False, control=True, show=True)
        self._name = "Basemap"
        self.url, self.bounds = url, [list(b) for b in bounds]
        self.attribution = html_text(attribution)
        self.maxzoom = int(maxzoom)
