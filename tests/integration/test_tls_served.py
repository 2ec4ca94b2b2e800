"""TLS through a real `torbit serve`, which runs on uvloop. The other TLS tests run on asyncio's
own loop, where the TLS doors always worked. Under uvloop the client's hello reached the
handshake gate before the TLS layer took the connection, was dropped, and the handshake
waited for its timeout (frontends/handshake.py): most TLS telnet and IRC connections to a
real server never got through (0 of 8 in a row on main), and some HTTPS ones."""

from __future__ import annotations

import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.tls import tls_doors, trusting
from tests.integration.test_cli_and_process import TORBIT, env, wait_for_ports  # noqa: F401 (a fixture)
from torbit.testing.ports import free_port

CONNECTIONS = 8
GUARD_S = 5.0  # each handshake takes milliseconds; a lost hello waits the 10 s timeout


@pytest.fixture
def tls_served(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> Iterator[tuple[int, int, int, ssl.SSLContext]]:
    ca, _, https = tls_doors(tmp_path)  # the certificate files, given to every door
    telnet_tls, irc_tls = free_port(), free_port()
    env = {
        **env,
        "TORBIT_TELNET__TLS_PORT": str(telnet_tls),
        "TORBIT_IRC__TLS_PORT": str(irc_tls),
        **{
            f"TORBIT_{door}__{k.upper()}": v
            for door in ("TELNET", "IRC", "HTTP")
            for k, v in https.items()
        },
    }
    p = subprocess.Popen([*TORBIT, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    wait_for_ports(p, telnet_tls, irc_tls, int(env["TORBIT_HTTP__PORT"]))
    yield telnet_tls, irc_tls, int(env["TORBIT_HTTP__PORT"]), trusting(ca)
    p.kill()
    p.wait()
    assert p.stderr is not None
    p.stderr.close()


def first_words(port: int, ctx: ssl.SSLContext, say: bytes, until: bytes) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        s.sendall(say)
        got = b""
        while until not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        return got


def test_every_tls_connection_gets_through_on_every_door(
    tls_served: tuple[int, int, int, ssl.SSLContext],
) -> None:
    telnet_tls, irc_tls, https, ctx = tls_served
    health = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    for _ in range(CONNECTIONS):
        assert b"Name:" in first_words(telnet_tls, ctx, b"", b"Name:")
        assert b"CAP * LS" in first_words(irc_tls, ctx, b"CAP LS 302\r\n", b"CAP * LS")
        assert first_words(https, ctx, health, b"\r\n").startswith(b"HTTP/1.1 200")


def test_an_old_tls_hello_gets_the_protocol_version_alert_on_every_door(
    tls_served: tuple[int, int, int, ssl.SSLContext],
) -> None:
    """Under uvloop too: on stage the TLS layer cut the connection with its alert unsent,
    so a TLS 1.1 client saw a reset (or EOF), not why it was refused."""
    telnet_tls, irc_tls, https, ctx = tls_served
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL 3 sends no TLS 1.1 hello at all
    for port in (telnet_tls, irc_tls, https):
        with pytest.raises(ssl.SSLError) as refused:
            first_words(port, ctx, b"", b"\n")
        assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", port
