"""`geomap serve`: the production WSGI server, and the host check `demo` shares."""

from __future__ import annotations

import ipaddress
import socket

import click

from ..config import Settings
from . import _settings, _store, main


def _check_host(host: str) -> None:
    try:
        addrs = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, None)}
    except (socket.gaierror, ValueError) as e:
        raise click.BadParameter(f"cannot resolve {host!r}: {e}", param_hint="--host") from None
    if not all(a.is_loopback for a in addrs):
        click.echo(f"warning: listening on {host}, reachable from other machines. Serve geomap "
                   "only behind a TLS reverse proxy (docs/deployment.md).", err=True)


def _serve(settings: Settings, store, host: str, port: int, threads: int = 8) -> None:
    from ..web import create_app
    from ..web.server import create_server

    _check_host(host)
    app = create_app(settings, store)
    server = create_server(app, settings, host, port, threads)
    proxies = (f"; behind {settings.proxy_count} proxy(ies) at "
               f"{', '.join(settings.trusted_proxies)}" if settings.proxy_count else "")
    click.echo(f"geomap serving {settings.instance_path} on http://{host}:{port}/ "
               f"(waitress{proxies}; Ctrl+C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@main.command()
@click.option("--host", help="Address to listen on (default: GEOMAP_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: GEOMAP_PORT or 5000).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.pass_context
def serve(ctx, host, port, threads):
    """Serve an existing instance with a production WSGI server (waitress)."""
    settings = _settings(ctx)
    _serve(settings, _store(ctx), host or settings.host, port or settings.port, threads)
