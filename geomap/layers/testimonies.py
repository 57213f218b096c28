from .base import ScriptLayer


class TestimoniesLayer(ScriptLayer):
    """Testimonies for the current viewport, fetched from /api/testimonies on every pan/zoom,
    clustered, with their uncertainty drawn as circles of the real radius when zoomed in.
    Never embedded in the page: a viewport can hold tens of thousands of them."""

    js_function = "testimonies"
    js_constructor = "L.markerClusterGroup({chunkedLoading: true, maxClusterRadius: 50})"
    default_js = [("leaflet.markercluster", ""), ("geomap-map", "")]
    default_css = [("markerclustercss", ""), ("markerclusterdefault", "")]
