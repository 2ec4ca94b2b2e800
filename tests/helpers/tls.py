"""A test CA's certificate for every TLS door, a client context trusting that CA, and the check
that a server hung up: shared by the TLS tests (doors, a served process, HSTS, IRC) and the
TLS handshake attacks (limit, timeout, stop)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import trustme


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
