"""A test CA's certificate for every TLS door, and the check that a server hung up: shared by
the TLS handshake attacks (limit, timeout, stop)."""

from __future__ import annotations

import asyncio
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


async def hung_up(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server hung up on this connection (EOF or reset) within `within` s."""
    try:
        async with asyncio.timeout(within):
            return await reader.read(100) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False
