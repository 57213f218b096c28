"""The offline basemap: tiles from our own tile endpoint (a COG), in a pane below imagery."""

from __future__ import annotations

from folium.map import Layer
from jinja2 import Template

from .text import html_text


class BasemapLayer(Layer):
    _template = Template("""
{% macro script(this, kwargs) %}
// the basemap sits below tile layers (imagery), not in the overlay pane above them
if (!{{ this._parent.get_name() }}.getPane("gm-basemap"))
    {{ this._parent.get_name() }}.createPane("gm-basemap").style.zIndex = 150;
var {{ this.get_name() }} = L.tileLayer({{ this.url|tojson }},
    {attribution: {{ this.attribution|tojson }}, className: "gm-basemap", pane: "gm-basemap",
     bounds: {{ this.bounds|tojson }}, maxNativeZoom: {{ this.maxzoom }}, maxZoom: 19});
{% endmacro %}
""")

    def __init__(self, url: str, bounds, name: str, attribution: str, maxzoom: int):
        # Leaflet inserts the layer name and the attribution as HTML
        super().__init__(name=html_text(name), overlay=False, control=True, show=True)
        self._name = "Basemap"
        self.url, self.bounds = url, [list(b) for b in bounds]
        self.attribution = html_text(attribution)
        self.maxzoom = int(maxzoom)
