"""User text on map surfaces that Leaflet inserts as HTML.

Leaflet puts several strings into the page with innerHTML: layer names in L.control.layers,
every layer's `attribution`, tooltip and popup content given as a string, a DivIcon's `html`.
folium passes its `name=`, `attr=`, Tooltip/Popup text straight to those. A scene's licence
holding `<meta http-equiv="refresh" ...>` therefore navigated a colleague's browser away with
no click. Everything a person typed (site names, aliases, notes, scene sensor, provider and
licence, boundary names, place text) goes to those options through `html_text`, and
`check_layers` refuses a rendered map whose layer names or attributions are not plain text.
In our own JavaScript the same rule holds: DOM text nodes, or `geomap.htmlText` (static/js/
geomap-core.js) where a Leaflet API only takes a string.
"""

from __future__ import annotations

from branca.element import Element
from folium.map import Layer
from markupsafe import Markup, escape

from ..errors import GeomapError


class MarkupInMapText(GeomapError):
    """A layer name or attribution would be inserted into the page as HTML."""


def html_text(value: object) -> str:
    """`value` as text for a Leaflet option that is inserted as HTML: `<` shows as `<`."""
    return str(escape("" if value is None else str(value)))


def is_html_text(value: str) -> bool:
    """True if `value` holds no markup: what `html_text` gives, or text with nothing to escape."""
    return html_text(Markup(value).unescape()) == value


def _walk(el: Element):
    yield el
    for child in list(el._children.values()):
        yield from _walk(child)


def check_layers(root: Element) -> None:
    """Raise MarkupInMapText if a layer name or attribution under `root` is not plain text."""
    for el in _walk(root):
        texts = []
        if isinstance(el, Layer):
            texts.append(("name", el.layer_name))
        options = getattr(el, "options", None)
        if isinstance(options, dict) and isinstance(options.get("attribution"), str):
            texts.append(("attribution", options["attribution"]))
        attribution = getattr(el, "attribution", None)
        if isinstance(attribution, str):
            texts.append(("attribution", attribution))
        for what, text in texts:
            if isinstance(text, str) and not is_html_text(text):
                raise MarkupInMapText(
                    f"{type(el).__name__} {what} {text[:60]!r} would be inserted as HTML; "
                    "pass it through geomap.layers.text.html_text")
