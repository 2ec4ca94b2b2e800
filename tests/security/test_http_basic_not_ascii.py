"""`Authorization: Basic` followed by bytes that are not ASCII (`Basic \\xff`, `Basic é`), no
account needed: every authenticated route answered 500 and wrote ~11 KB of tracebacks to
the log per request (377 KB/s from one address: the operator's log rotated away in
minutes), and a WebSocket handshake was accepted (101) and its connection dropped without a
word. base64 of text that is not ASCII raises a ValueError of its own, which parse_basic did
not catch. Now such credentials are malformed ones: 401 in the error shape, and a WebSocket
is told so and closed (1008) as for any failed login; nothing is logged.

The door's other header parsers (Bearer tokens, the metrics token, Origin, Sec-Fetch-Site,
Host, X-Forwarded-For, X-Forwarded-Proto) are fed the same bytes here too: each answers as
it does for any other wrong value."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import error_of, register
from tests.security.conftest import closed, ws_from
from tests.security.http_attack import ATTACKER, client_from
from torbit.app import App

# header bytes as a client sends them: latin-1, UTF-8 and lone continuation bytes
NOT_ASCII = [b"\xff", b"\xc3\xa9t\xc3\xa9", b"\xe9t\xe9", b"\x80\x80"]
ROUTES = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/rooms"),
    ("GET", "/receive/lobby/alice"),
    ("POST", "/send/lobby/alice"),
]
METRICS_TOKEN = "scrape-me-please-0123456789"


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name} {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("raw", NOT_ASCII, ids=["ff", "utf8", "latin1", "continuation"])
async def test_basic_credentials_not_ascii_are_refused_with_401(
    server: App, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    caplog.set_level(logging.INFO)
    async with client_from(server, ATTACKER) as c:
        await register(c, "alice")
        for method, path in ROUTES:
            r = await c.request(method, path, headers={b"Authorization": b"Basic " + raw})
            assert error_of(r, 401, "unauthenticated") == "malformed Basic credentials", path
            assert "www-authenticate" in r.headers
    assert not errors_logged(caplog)


async def test_a_websocket_with_such_credentials_is_told_and_closed(
    server: App, caplog: pytest.LogCaptureFixture
) -> None:
    """It was accepted (101), then its connection dropped with nothing said."""
    caplog.set_level(logging.INFO)
    for raw in ("Basic \xff", "Basic \xc3\xa9t\xc3\xa9"):  # websockets writes them as latin-1
        ws = await ws_from(server, {"Authorization": raw})
        code, reason, frames = await closed(ws)
        assert (code, reason) == (1008, "authentication failed")
        assert frames == [
            {"type": "error", "code": "unauthenticated", "message": "malformed Basic credentials"}
        ]
    assert not errors_logged(caplog)


async def test_the_other_headers_read_take_such_bytes_as_wrong_values(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Each answered as for any other wrong value, nothing logged. The peer is a trusted
    proxy, so that X-Forwarded-For and X-Forwarded-Proto are read."""
    caplog.set_level(logging.INFO)
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1/32"], "metrics_token": METRICS_TOKEN}
    )
    for raw in NOT_ASCII:
        async with client_from(app, ATTACKER) as c:
            checks: list[tuple[str, str, dict[bytes, bytes], int]] = [
                ("GET", "/api/v1/me", {b"Authorization": b"Bearer " + raw}, 401),
                ("GET", "/receive/lobby/alice", {b"Authorization": b"Bearer " + raw}, 401),
                ("GET", "/api/v1/me", {b"Authorization": b"B" + raw + b"sic eDp5"}, 401),
                ("GET", "/api/v1/me", {b"X-Forwarded-For": b"1.2.3.4, " + raw}, 401),
                ("GET", "/api/v1/me", {b"X-Forwarded-Proto": raw}, 401),
                ("POST", "/api/v1/sessions", {b"Origin": b"http://" + raw}, 403),
                ("POST", "/api/v1/sessions", {b"Sec-Fetch-Site": raw}, 403),
                # from elsewhere (through the proxy), with a wrong metrics token
                ("GET", "/metrics", {b"X-Forwarded-For": b"192.0.2.1", b"Authorization": raw}, 403),
                ("GET", "/metrics", {b"Host": raw, b"X-Forwarded-For": b"192.0.2.1"}, 403),
            ]
            for method, path, headers, status in checks:
                r = await c.request(method, path, headers=headers, content=b"")
                error_of(r, status)
            handshake = await c.get(
                "/api/v1/ws",
                headers={
                    b"Origin": b"http://" + raw,
                    b"Upgrade": b"websocket",
                    b"Connection": b"Upgrade",
                    b"Sec-WebSocket-Key": b"dGhlIHNhbXBsZSBub25jZQ==",
                    b"Sec-WebSocket-Version": b"13",
                },
            )
            error_of(handshake, 403, "forbidden")
    assert not errors_logged(caplog)
