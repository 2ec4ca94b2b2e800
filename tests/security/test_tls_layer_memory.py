"""What a TLS connection holds in our TLS layer (attack56). asyncio's TLS layer, which every
TLS port runs (frontends/handshake.py, `_TLSLayer`, on uvloop too), reads into a buffer of
256 KiB that each connection keeps from its first byte to its close, zeroed, so resident:
1,000 handshakes held with a record header took 309 MB (57 MB on uvloop's own TLS), so
`limits.max_connections` (20,000) of them, from addresses enough, over 6 GB; and every TLS
session paid the same. The layer reads 32 KiB at a time now."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.tls import tls_layers, tls_ports, tls_server

HELD = 20
RECORD_HEADER = b"\x16\x03\x01\x02\x00"  # a handshake record of 512 bytes, never sent


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("traced")
async def test_a_held_handshake_holds_no_quarter_megabyte(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await tls_server(make_server, tmp_path)
    assert app.telnet is not None
    connections, ports = app.telnet.connections, tls_ports(app)
    before, _ = tracemalloc.get_traced_memory()
    writers = []
    for i in range(HELD):
        _, writer = await asyncio.open_connection("127.0.0.1", ports[i % 3])
        writer.write(RECORD_HEADER)  # the TLS layer takes it: a handshake under way
        writers.append(writer)
    await eventually(lambda: connections.open == HELD)
    await eventually(lambda: tls_layers() == HELD)  # each has read its first bytes
    held, _ = tracemalloc.get_traced_memory()
    for writer in writers:
        writer.close()
    # each 256 KiB and more before; the test's own clients and the gates are a few KB each
    assert (held - before) / HELD < 96 * 1024, (held - before) / HELD
