from .base import ScriptControl


class Legend(ScriptControl):
    js_function = "legend"


class StatusBox(ScriptControl):
    """Where layers report capped results and load errors (aria-live)."""

    js_function = "statusControl"


class PeriodFilter(ScriptControl):
    """From/to years: sites and testimonies whose periods overlap them."""

    js_function = "periodFilter"
