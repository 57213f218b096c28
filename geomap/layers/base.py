"""Base class for geomap's data layers: a folium Layer whose JavaScript calls one function of
static/js/geomap-map.js with a JSON config (rendered with Jinja's HTML-safe `tojson`)."""

from __future__ import annotations

from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from .text import html_text


class ScriptLayer(JSCSSMixin, Layer):
    js_function = ""  # geomap.<name>(map, layer, config)
    js_constructor = "L.featureGroup()"
    default_js = [("geomap-map", "")]

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = {{ this.js_constructor }};
geomap.{{ this.js_function }}({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.config|tojson }});
{% endmacro %}
""")

    def __init__(self, name: str, config: dict, overlay: bool = True, show: bool = True):
        # the layer control inserts the name as HTML
        super().__init__(name=html_text(name), overlay=overlay, control=True, show=show)
        self._name = type(self).__name__
        self.config = config


class ScriptControl(JSCSSMixin, MacroElement):
    """A map control drawn by geomap.<js_function>(map, config)."""

    js_function = ""
    default_js = [("geomap-map", "")]

    _template = Template("""
{% macro script(this, kwargs) %}
geomap.{{ this.js_function }}({{ this._parent.get_name() }}{% if this.config is not none %}, {{ this.config|tojson }}{% endif %});
{% endmacro %}
""")

    def __init__(self, config: dict | None = None):
        super().__init__()
        self._name = type(self).__name__
        self.config = config
