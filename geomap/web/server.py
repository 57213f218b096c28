"""The production WSGI server (waitress), configured from the same settings as the app.

- One body limit: waitress refuses only bodies above Flask's MAX_CONTENT_LENGTH plus a margin,
  so an upload over GEOMAP_MAX_UPLOAD_MB is refused by Flask (a 413 page with the security
  headers), and waitress's limit never sits below the setting.
- Forwarding headers pass through untouched: the app's TrustedProxyFix (proxy.py) is the one
  place that trusts or drops them. waitress's default would drop them all before the app runs.
- What waitress still answers itself (a body far over the limit, a malformed request) carries
  the same no-content security headers."""

from __future__ import annotations

import waitress
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from ..config import Settings

# a body this much over MAX_CONTENT_LENGTH still reaches Flask, which refuses it properly
WAITRESS_MARGIN = 1024 * 1024

ERROR_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                "form-action 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]


class _ErrorTask(ErrorTask):
    def execute(self):
        self.response_headers.extend(ERROR_HEADERS)
        super().execute()


class _Channel(HTTPChannel):
    error_task_class = _ErrorTask


def create_server(app, settings: Settings, host: str, port: int, threads: int = 8):
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident="geomap",
        max_request_body_size=settings.max_request_bytes + WAITRESS_MARGIN,
        clear_untrusted_proxy_headers=False,
    )
    # one listening socket per address `host` resolves to; each makes its own channels
    for s in [server, *getattr(server, "map", {}).values()]:
        if isinstance(s, BaseWSGIServer):
            s.channel_class = _Channel
    return server
