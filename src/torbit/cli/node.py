"""`torbit node`: operate a running node on this host through its HTTP port (drain)."""

from __future__ import annotations

from typing import Annotated

import typer

from torbit.cli.common import CANNOT_TELL, ConfigOption, config_source, fail, settings_of

node_app = typer.Typer(help="Operate a running node.", no_args_is_help=True)


@node_app.command("drain", short_help="Drain the node on this host, as SIGTERM does.")
def node_drain(
    config: ConfigOption = None,
    port: Annotated[
        int | None, typer.Option(help="the node's HTTP port (default: http.port of the config)")
    ] = None,
) -> None:
    """Drain the node on this host (as SIGTERM does): it stops accepting, reports not ready,
    asks its clients to reconnect elsewhere and exits once they are gone or after
    node.drain_seconds. Speaks to its HTTP port on loopback, with http.metrics_token if set."""
    import ssl
    import urllib.error
    import urllib.request

    settings = settings_of(config)
    # which config gave the port: run elsewhere, it drains whatever node has that port here
    typer.echo(f"torbit: {config_source[0]}", err=True)
    scheme = "https" if settings.http.tls_cert and settings.http.tls_key else "http"
    url = f"{scheme}://127.0.0.1:{port or settings.http.port}/admin/drain"
    request = urllib.request.Request(url, method="POST")
    if settings.http.metrics_token:
        request.add_header("Authorization", f"Bearer {settings.http.metrics_token}")
    # loopback to our own node: its certificate names the public host, not 127.0.0.1
    context = ssl._create_unverified_context() if scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            status = answer.status
            body = answer.read()
    except urllib.error.HTTPError as e:
        fail(f"the node refused to drain ({e.code}): {e.read()[:200].decode(errors='replace')}")
    except OSError as e:
        fail(f"cannot reach the node at {url}: {e}", CANNOT_TELL)
    if status != 202:
        fail(f"the node answered {status} instead of draining")
    typer.echo(f"draining the node at {url}; it exits {_drain_bound(body)}")


def _drain_bound(body: bytes) -> str:
    """When the node exits, as it says: its node.drain_seconds, not this config's."""
    import json

    try:
        seconds = json.loads(body).get("drain_seconds")
    except (ValueError, AttributeError):
        seconds = None
    if not isinstance(seconds, int | float):
        return "when its clients are gone or after its node.drain_seconds"
    return f"within {seconds:g} s"
