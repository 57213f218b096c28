from .base import ScriptControl


class Legend(ScriptControl):
    js_function = "legend"


class StatusBox(ScriptControl):
    """Where layers report capped results and load errors (aria-live)."""

    js_function = "statusControl"
