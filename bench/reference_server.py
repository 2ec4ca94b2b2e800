"""A bare fan-out chat server: the yardstick torbit's telnet front door is measured against.

It does only what any line-based fan-out server must do, with the same per-recipient cost as
torbit (format once, encode once, `transport.write` the same bytes to each listener, drop a
listener whose write buffer passes 256 KB) and nothing else: no telnet negotiation (only "Are
You There", the benchmark's loop-stall probe, is answered), no auth, no storage. Its login
dialog is the shortest one the load generator understands:

    server: "Name: "            client: "NAME\\r\\n"
    server: "Welcome NAME\\r\\n* you are in #lobby (N people here)\\r\\n"

After that a line is a message to the current room, `/join ROOM` switches rooms, and every
message goes to everyone in the room, sender included, as `[HH:MM:SS] <name> text\\r\\n`.

    python bench/reference_server.py --port 0      # prints "LISTENING <port>" first
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import cast

import uvloop

from procstat import raise_open_files_limit

MAX_OUTPUT_BUFFER = 256 * 1024  # bytes queued per client before it is dropped (as torbit)
MAX_LINE = 8192  # a client sending a longer line is dropped: bounded reading, even here
AYT = b"\xff\xf6"  # telnet "Are You There": the load generator's loop-stall probe


class Room:
    """The connections listening to one room."""

    __slots__ = ("clients", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.clients: set[Client] = set()

    def broadcast(self, data: bytes) -> None:
        """The hot path: the same bytes to every listener, dropping the ones that fall behind."""
        slow: list[Client] = []
        for c in self.clients:
            t = c.transport
            t.write(data)
            if t.get_write_buffer_size() > MAX_OUTPUT_BUFFER:
                slow.append(c)
        for c in slow:
            c.drop()


class Server:
    """All rooms, by case-folded name."""

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}

    def room(self, name: str) -> Room:
        key = name.lower()
        r = self.rooms.get(key)
        if r is None:
            r = self.rooms[key] = Room(name)
        return r


class Client(asyncio.Protocol):
    """One telnet connection: a name line, then messages and `/join`."""

    transport: asyncio.Transport

    def __init__(self, server: Server) -> None:
        self.server = server
        self.name: str | None = None
        self.room: Room | None = None
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(b"Name: ")

    def data_received(self, data: bytes) -> None:
        if AYT in data:  # the only telnet the reference speaks, answered as torbit does
            data = data.replace(AYT, b"")
            self.transport.write(b"\r\n[yes]\r\n")
        if self.buf:
            data = self.buf + data
        lines = data.split(b"\n")
        self.buf = lines.pop()
        if len(self.buf) > MAX_LINE:
            self.drop()
            return
        for raw in lines:
            self.line(raw.rstrip(b"\r").decode("utf-8", "replace"))

    def line(self, text: str) -> None:
        if self.name is None:
            self.name = text.strip() or "anonymous"
            self.transport.write(f"Welcome {self.name}\r\n".encode())
            self.enter("lobby")
        elif text.startswith("/join "):
            self.enter(text[6:].strip() or "lobby")
        elif text.startswith("/"):
            self.transport.write(b"! unknown command\r\n")
        elif text and self.room is not None:
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            self.room.broadcast(f"[{stamp}] <{self.name}> {text}\r\n".encode())

    def enter(self, name: str) -> None:
        if self.room is not None:
            self.room.clients.discard(self)
        self.room = self.server.room(name)
        self.room.clients.add(self)
        online = len(self.room.clients)
        here = f"{online} {'person' if online == 1 else 'people'} here"  # torbit's words
        self.transport.write(f"* you are in #{self.room.name} ({here})\r\n".encode())

    def drop(self) -> None:
        """Forget the client and close the socket without flushing what it did not read."""
        if self.room is not None:
            self.room.clients.discard(self)
            self.room = None
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.room is not None:
            self.room.clients.discard(self)
            self.room = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    state = Server()
    server = await loop.create_server(lambda: Client(state), host, port, backlog=4096)
    actual = server.sockets[0].getsockname()[1]
    print(f"LISTENING {actual}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    for room in state.rooms.values():
        for c in list(room.clients):
            c.drop()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = p.parse_args(argv)
    raise_open_files_limit()
    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
