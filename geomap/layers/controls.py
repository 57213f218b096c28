from .base import ScriptControl


class Legend(ScriptControl):
    js_function = "legend"


class StatusBox(ScriptControl):
    """Where layers report capped results and load errors (aria-live)."""

    js_function = "statusControl"


class PeriodFilter(ScriptControl):
    """From/to years: sites and testimonies whose periods overlap them."""

    js_function = "periodFilter"


class MapState(ScriptControl):
    """The map's state in its URL (centre, zoom, period, filters, layers): read before the
    layers load, written back as the user pans and filters (geomap.mapState)."""

    js_function = "mapState"


class MapFilters(ScriptControl):
    """Facility types (sites) and violations (testimonies) to show; none ticked = all."""

    js_function = "mapFilters"
