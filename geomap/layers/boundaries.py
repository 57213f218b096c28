from .base import ScriptLayer


class BoundariesLayer(ScriptLayer):
    """Province outlines with English and Korean names, loaded from /api/boundaries."""

    js_function = "boundaries"
