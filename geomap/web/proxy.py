"""Client address and scheme behind a reverse proxy: one mechanism, in the app.

werkzeug's ProxyFix takes the client's address, scheme and host from the X-Forwarded-* headers
the trusted proxies set, but it trusts whoever sent them. So it is applied only to requests
whose peer is one of the trusted proxy addresses (GEOMAP_TRUSTED_PROXIES, default loopback);
from anyone else every forwarding header is dropped, so a client that reaches geomap directly
cannot pick its own address (and rate-limit bucket) or claim https. The WSGI server must pass
the headers through untouched (waitress: clear_untrusted_proxy_headers=False, no
trusted_proxy), or they would be handled twice or never."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                      "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED",
                      "HTTP_X_FORWARDED_BY", "HTTP_X_REAL_IP")


class TrustedProxyFix:
    def __init__(self, app, proxy_count: int, trusted: Iterable[str]):
        self.app = app
        self.proxy_count = proxy_count
        self.trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]
        self.fixed = ProxyFix(app, x_for=proxy_count, x_proto=proxy_count,
                              x_host=proxy_count) if proxy_count else app

    def _is_trusted(self, peer: str | None) -> bool:
        try:
            addr = ipaddress.ip_address((peer or "").strip("[]"))
        except ValueError:
            return False
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.trusted)

    def __call__(self, environ, start_response):
        if self.proxy_count and self._is_trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        for key in FORWARDING_HEADERS:
            environ.pop(key, None)
        return self.app(environ, start_response)
