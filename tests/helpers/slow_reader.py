"""A client that stops reading, for the tests of a slow reader's drop (its own receive window
and the server's send buffer for it both kept small), and what the kernel still holds of its
connection."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from torbit.app import App
from torbit.core.names import name_key
from torbit.frontends.line_session import LineSession


def stop_reading(app: App, writer: asyncio.StreamWriter, name: str) -> LineSession[Any]:
    """The client of `writer` (logged in as `name` at the IRC door, else at the telnet door)
    never reads again, with a tiny receive window; and the kernel's send buffer on the
    server's end of its connection is made tiny too, so its output backs up into the door's
    own buffer after a few KB, not after the 256 KB of the door's `send_buffer` (twice its
    128 KiB: tests/security/test_socket_buffers.py). The server's session, returned."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    sessions: list[LineSession[Any]]
    if app.irc is not None and app.irc.clients_of(name_key(name)):
        sessions = list(app.irc.clients_of(name_key(name)))
    else:
        assert app.telnet is not None
        sessions = [s for s in app.telnet.sessions if s.name == name]
    (session,) = sessions
    assert session._writer is not None and session._writer.transport is not None
    server_side = session._writer.transport.get_extra_info("socket")
    server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return session


def kernel_queue(port: int, peer_port: int, *, received: bool = False) -> int | None:
    """Bytes the kernel has queued and unacknowledged on the server's end (local `port`) of
    the connection from `peer_port` (/proc/net/tcp's tx_queue), or with `received` what it
    took in that the server has not read yet (rx_queue); None when it has no such end (any
    state: after our close too, as an orphan holding what the client left unread)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, _, queues = line.split()[1:5]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == peer_port:
            return int(queues.split(":")[int(received)], 16)
    return None


def kernel_holds(port: int, peer_port: int) -> bool:
    """Whether the kernel still has the server's end of the connection from `peer_port`
    (tests/integration/test_stop_unread.py's `server_end_open` asks whether this process
    still has it)."""
    return kernel_queue(port, peer_port) is not None
