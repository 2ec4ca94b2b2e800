"""Real TLS handshakes with certificates from trustme: telnet over TLS and HTTPS."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting

Doors = tuple[trustme.CA, dict[str, Any], dict[str, Any]]


@pytest.fixture
def doors(tmp_path: Path) -> Doors:
    """(the test CA, telnet's TLS settings, HTTPS's), tests/helpers/tls.py."""
    return tls_doors(tmp_path)


async def test_telnet_over_tls_chats_with_plain_telnet(
    make_server: ServerFactory, doors: Doors
) -> None:
    ca, telnet, _ = doors
    app = await make_server(telnet=telnet)
    assert app.telnet_tls_port is not None and app.telnet_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_tls_port, ssl=trusting(ca), server_hostname="localhost"
    )
    secure = TelnetClient(reader, writer)
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    await secure.login("alice")
    plain = await TelnetClient.connect(app.telnet_port)
    await plain.login("bob")
    plain.send("hello over plain")
    await secure.expect("<bob> hello over plain")
    secure.send("hello over tls")
    await plain.expect("<alice> hello over tls")
    await secure.close()
    await plain.close()


async def test_old_tls_versions_are_refused(make_server: ServerFactory, doors: Doors) -> None:
    """The server answers a TLS 1.1 hello with its `protocol version` alert. The client needs
    security level 0 to offer TLS 1.1 at all: without it OpenSSL 3 refuses before sending
    anything ("no ciphers available"), which is all this test saw on stage. And on stage the
    server cut the connection with its alert unsent: the client saw a reset, not why."""
    ca, telnet, _ = doors
    app = await make_server(telnet=telnet)
    ctx = trusting(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as refused:
        await asyncio.wait_for(  # a hang guard only: the handshake timeout is 10 s
            asyncio.open_connection(
                "127.0.0.1", app.telnet_tls_port, ssl=ctx, server_hostname="localhost"
            ),
            60,
        )
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


async def test_plaintext_logins_can_be_refused(make_server: ServerFactory, doors: Doors) -> None:
    _, telnet, _ = doors
    app = await make_server(telnet={**telnet, "allow_plaintext_login": False})
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    m = await c.expect(r"plaintext logins are disabled here: connect with TLS to port (\d+)")
    assert int(m.group(1)) == app.telnet_tls_port
    await c.lines_for(0.5)
    assert c.reader.at_eof() and "Name:" not in c.buffer
    await c.close()


async def test_https(make_server: ServerFactory, doors: Doors) -> None:
    ca, _, https = doors
    app = await make_server(http=https)
    url = f"https://localhost:{app.http_port}"
    async with httpx.AsyncClient(verify=trusting(ca)) as client:
        r = await client.get(f"{url}/healthz")
        assert r.status_code == 200
        r = await client.post(
            f"{url}/api/v1/users", json={"name": "alice", "password": "pw-123456"}
        )
        assert r.status_code == 201
    async with httpx.AsyncClient() as plain:  # no trust in the test CA: the handshake fails
        with pytest.raises(httpx.ConnectError):
            await plain.get(f"{url}/healthz")


async def test_bad_certificate_file_is_a_config_error(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    from torbit.errors import ConfigError

    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=r"telnet.tls_cert/telnet.tls_key"):
        await make_server(telnet={"tls_cert": missing, "tls_key": missing})
