"""A test CA's certificate for every TLS door, a server with TLS on all of them, a client
context trusting that CA, the check that a server hung up, and a count of the TLS layers
alive: shared by the TLS tests (doors, a served process, HSTS, IRC, plain text) and the TLS
handshake attacks (limit, timeout, stop, the layers' memory)."""

from __future__ import annotations

import asyncio
import gc
import ssl
from pathlib import Path
from typing import Any

import trustme

from tests.conftest import ServerFactory
from torbit.app import App
from torbit.frontends import handshake


def tls_doors(tmp_path: Path) -> tuple[trustme.CA, dict[str, Any], dict[str, Any]]:
    """Settings for a TLS telnet/IRC port and HTTPS, with a certificate for 127.0.0.1 and
    localhost from a fresh test CA: (the CA, telnet and IRC, HTTP)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(cert_path)
    cert.private_key_pem.write_to_path(key_path)
    https = {"tls_cert": cert_path, "tls_key": key_path}
    return ca, {"tls_port": 0, **https}, https


async def tls_server(make_server: ServerFactory, tmp_path: Path, **more: object) -> App:
    """A server with TLS on telnet, IRC and HTTP (`tls_doors`); `more` settings besides."""
    _, tls, https = tls_doors(tmp_path)
    return await make_server(telnet=tls, irc=tls, http=https, **more)


def tls_ports(app: App) -> tuple[int, int, int]:
    """The TLS telnet, TLS IRC and HTTPS ports of a `tls_server`."""
    assert app.telnet_tls_port and app.irc_tls_port and app.http_port
    return app.telnet_tls_port, app.irc_tls_port, app.http_port


def tls_layers() -> int:
    """The server's TLS layers alive (frontends/handshake.py): a test's raw sockets use none."""
    return sum(isinstance(o, handshake._TLSLayer) for o in gc.get_objects())


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client's context that verifies the server's certificate against the test CA."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def hung_up(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server hung up on this connection (EOF or reset) within `within` s."""
    try:
        async with asyncio.timeout(within):
            return await reader.read(100) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False
