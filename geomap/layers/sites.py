from .base import ScriptLayer


class SitesLayer(ScriptLayer):
    """Sites coloured by facility type with escaped popups, loaded from /api/sites."""

    js_function = "sites"
