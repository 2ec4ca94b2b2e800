"""Every door's listening socket queues LISTEN_BACKLOG connections while the server is busy
(frontends/listeners.py). asyncio's `create_server(sock=...)` listened again with its
default, 100: with the loop held for a moment (a burst of work, a reconnect storm), the
kernel dropped every SYN past the 101st, and each of those clients waited a second (then 3,
then 7) before trying again: 813 in a 20 s connection storm (stop 50)."""

from __future__ import annotations

import errno
import select
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from torbit.app import App

PAST_THE_OLD_BACKLOG = 300  # connections started while nothing accepts
WITHIN = 10.0  # seconds to wait for their handshakes: a dropped SYN is tried again at 1, 3, 7


def somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


def handshakes_completed(port: int, count: int) -> int:
    """Start `count` connects to `port` and count those the kernel completed, all on this
    thread: the caller's event loop, where the server runs, accepts none meanwhile."""
    socks: list[socket.socket] = []
    poller = select.poll()
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            socks.append(s)
            code = s.connect_ex(("127.0.0.1", port))
            assert code in (0, errno.EINPROGRESS), errno.errorcode.get(code, code)
            poller.register(s.fileno(), select.POLLOUT)
        by_fd = {s.fileno(): s for s in socks}
        done: set[int] = set()
        deadline = time.monotonic() + WITHIN
        while len(done) < count and time.monotonic() < deadline:
            for fd, _ in poller.poll(100):
                if by_fd[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    done.add(fd)
                poller.unregister(fd)
        return len(done)
    finally:
        for s in socks:
            s.close()


@pytest.mark.skipif(somaxconn() <= PAST_THE_OLD_BACKLOG, reason="net.core.somaxconn too small")
@pytest.mark.parametrize("door", ["telnet_port", "irc_port", "http_port"])
async def test_connections_queue_past_100_while_the_server_is_busy(
    make_server: ServerFactory, door: str
) -> None:
    app: App = await make_server(irc={"enabled": True})
    port = getattr(app, door)
    assert port is not None
    # the loop is held by this call: the server accepts nothing until it returns
    assert handshakes_completed(port, PAST_THE_OLD_BACKLOG) == PAST_THE_OLD_BACKLOG
