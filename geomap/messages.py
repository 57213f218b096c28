"""Messages the library writes in English and the web shows in the reader's language.

The library has no Flask and no request, so it cannot know the reader's language. A message is
kept as its English template with named parameters (marked with N_ so `pybabel extract -k N_`
puts it in the catalogue) plus the parameters. str() is the English text (the CLI, logs, the
`message` stored with a quarantined row); the web layer renders the template through gettext
(geomap.web.labels.message_text). A parameter may itself be a Message (a date problem inside
an interview-date problem), rendered the same way, or a dict of texts by language ({"en":
"saw_directly", "ko": "직접 목격"}), rendered in the reader's language (English otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(template: str) -> str:  # noqa: N802 - the conventional name of the no-op marker
    """Mark a message template for extraction; translated later, where the reader is known."""
    return template


class Message:
    __slots__ = ("template", "params")

    def __init__(self, template: str, **params: Any):
        self.template = template
        self.params = params

    def render(self, gettext: Callable[[str], str] = N_, lang: str = "en") -> str:
        params = {k: v.render(gettext, lang) if isinstance(v, Message)
                  else v.get(lang, v.get("en")) if isinstance(v, dict) else v
                  for k, v in self.params.items()}
        try:
            return gettext(self.template) % params
        except (KeyError, ValueError, TypeError):  # a broken translation: the English stands
            return self.template % params

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.template!r}, **{self.params!r})"

    def as_dict(self) -> dict:
        """JSON-ready: {"template", "params"} (nested messages as dicts too)."""
        return {"template": self.template,
                "params": {k: v.as_dict() if isinstance(v, Message)
                           else {lang: str(t) for lang, t in v.items()} if isinstance(v, dict)
                           else _plain(v)
                           for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> Message:
        params = {k: cls.from_dict(v) if isinstance(v, dict) and "template" in v else v
                  for k, v in (d.get("params") or {}).items()}
        return cls(d["template"], **params)


def _plain(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)


def message_of(error: BaseException) -> Message | str:
    """The error's Message when it has one, else its English text."""
    return getattr(error, "msg", None) or str(error)
