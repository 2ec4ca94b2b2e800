"""Hostile input drill: while honest users chat over telnet and HTTP, attackers send random
bytes, IAC storms and endless lines to the telnet port, open connections that never send
anything, dribble HTTP request headers a byte at a time (slowloris), send endless headers and
oversized bodies. The server must not crash, its memory must stay bounded, connections that
never finish logging in or sending a request must be closed, and every honest user must get
every honest message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.drills.clients import Honest, basic_header, last_lines_arrive, register_http
from tests.drills.harness import PASSWORD, Report, ServerProcess, load_average, percentile
from torbit.frontends.http.guard import HEAD_TIMEOUT as HTTP_HEAD_TIMEOUT

ROOM = "honest"
HOST = "127.0.0.1"
IAC, SB, SE = 255, 250, 240
AYT = 246


@dataclass
class Stats:
    """What one kind of attack did; `outcomes` counts how its connections ended."""

    connections: int = 0
    bytes_sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


async def _send(writer: asyncio.StreamWriter, data: bytes, stats: Stats) -> None:
    writer.write(data)
    stats.bytes_sent += len(data)
    await writer.drain()


async def _connect(
    port: int, stats: Stats
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A new connection, or None (counted) if the server would not take one."""
    try:
        conn = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    except (OSError, TimeoutError):
        stats.outcomes["connect failed"] += 1
        await asyncio.sleep(0.1)
        return None
    stats.connections += 1
    return conn


async def _ending(reader: asyncio.StreamReader, within: float) -> str:
    """How a connection the server should end ended: "closed by server" within `within`
    seconds, "closed late" within half as long again (the server's loop or the drill's own
    stalled under the attack: still bounded, and shown in the summary), else "still open".
    What the server sends before is read and thrown away. A reset counts as a close: a
    server that closes a socket with unread bytes in it (a slowloris's next byte) sends one,
    and the client may read it instead of the end of the stream."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with asyncio.timeout(within * 1.5):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return "still open"
    except OSError:
        pass
    return "closed by server" if loop.time() - start <= within else "closed late"


def _count_endings(stats: Stats, endings: list[str]) -> None:
    stats.outcomes.update(endings)
    stats.outcomes["still open"] += 0  # shown as "0 still open" when none is


async def random_bytes(port: int, stop: asyncio.Event, stats: Stats, rng: random.Random) -> None:
    """Connections full of random bytes (with line ends now and then), read or not."""
    while not stop.is_set():
        if (conn := await _connect(port, stats)) is None:
            continue
        writer = conn[1]
        try:
            for _ in range(rng.randint(1, 40)):
                chunk = rng.randbytes(rng.randint(1, 16384))
                if rng.random() < 0.5:
                    chunk += b"\r\n"
                await _send(writer, chunk, stats)
            stats.outcomes["ended by us"] += 1
        except OSError:
            stats.outcomes["closed by server"] += 1
        finally:
            writer.transport.abort()


def iac_blob(rng: random.Random, size: int) -> bytes:
    """Telnet commands only: negotiations of random options, subnegotiations full of junk,
    AYT (which the server answers) and escaped 0xFF."""
    out = bytearray()
    while len(out) < size:
        kind = rng.random()
        if kind < 0.5:
            out += bytes((IAC, rng.choice((251, 252, 253, 254)), rng.randrange(256)))
        elif kind < 0.7:
            junk = rng.randbytes(rng.randint(0, 200)).replace(b"\xff", b"\xff\xff")
            out += bytes((IAC, SB, rng.randrange(256))) + junk + bytes((IAC, SE))
        elif kind < 0.9:
            out += bytes((IAC, AYT))
        else:
            out += b"\xff\xff" * rng.randint(1, 100)
    return bytes(out)


async def iac_storm(port: int, stop: asyncio.Event, stats: Stats, rng: random.Random) -> None:
    """Megabytes of telnet commands on connections that never read the replies."""
    blob = iac_blob(rng, 256 * 1024)
    while not stop.is_set():
        if (conn := await _connect(port, stats)) is None:
            continue
        writer = conn[1]
        try:
            for _ in range(16):
                await asyncio.wait_for(_send(writer, blob, stats), 10)
            stats.outcomes["ended by us"] += 1
        except (OSError, TimeoutError):
            stats.outcomes["closed by server or stalled"] += 1
        finally:
            writer.transport.abort()


async def _log_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
    """Log in on the telnet door as `name` (registered over HTTP by the drill)."""
    await asyncio.wait_for(reader.readuntil(b"Name: "), 10)
    writer.write(name.encode() + b"\r\n")
    await asyncio.wait_for(reader.readuntil(b"Password: "), 10)
    writer.write(PASSWORD.encode() + b"\r\n")
    await asyncio.wait_for(reader.readuntil(b"Welcome"), 10)


async def endless_line(
    port: int, stop: asyncio.Event, stats: Stats, user: str = "evil", megabytes: int = 1
) -> None:
    """A telnet line that never ends, from a logged-in user (before login the small login
    budget would make it a login timeout): `megabytes` without a line end, then one. The
    server reads it at the connection's input budget (limits.input_rate: 1 MB takes a few
    seconds), skipping it as it comes, and says once that it was too long."""
    while not stop.is_set():
        if (conn := await _connect(port, stats)) is None:
            continue
        reader, writer = conn
        try:
            await _log_in(reader, writer, user)
            for _ in range(megabytes * 16):
                await _send(writer, b"A" * 65536, stats)
            await _send(writer, b"\r\n", stats)
            reply = await asyncio.wait_for(reader.readuntil(b"line too long"), 30)
            stats.outcomes["told: line too long" if reply else "?"] += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            stats.outcomes["closed by server"] += 1
        finally:
            writer.transport.abort()


async def half_open(port: int, count: int, stats: Stats, within: float) -> None:
    """Connections that never send a byte; how many the server closes within `within`."""
    conns = [c for _ in range(count) if (c := await _connect(port, stats)) is not None]
    _count_endings(stats, await asyncio.gather(*(_ending(r, within) for r, _ in conns)))
    for _, w in conns:
        w.transport.abort()


async def slowloris(
    port: int, count: int, stats: Stats, within: float, interval: float = 0.5
) -> None:
    """HTTP requests whose headers come a byte every `interval` seconds and never end."""
    head = b"GET /api/v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    async def one() -> str | None:
        if (conn := await _connect(port, stats)) is None:
            return None  # counted as "connect failed"
        reader, writer = conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        closing = asyncio.ensure_future(_ending(reader, within))
        try:
            for byte in head:
                await _send(writer, bytes((byte,)), stats)
                await asyncio.sleep(interval / 4)
            while not closing.done() and loop.time() < deadline:
                await _send(writer, b"a", stats)
                await asyncio.wait([closing], timeout=interval)
        except OSError:
            pass
        ending = await closing
        writer.transport.abort()
        return ending

    endings = await asyncio.gather(*(one() for _ in range(count)))
    _count_endings(stats, [e for e in endings if e is not None])


async def _status(reader: asyncio.StreamReader) -> str:
    line = await asyncio.wait_for(reader.readline(), 15)
    parts = line.split()
    return parts[1].decode() if len(parts) > 1 else "no answer"


async def endless_header(port: int, stats: Stats, megabytes: int = 16) -> None:
    """One request header that never ends, sent as fast as the server takes it."""
    if (conn := await _connect(port, stats)) is None:
        return
    reader, writer = conn
    try:
        await _send(writer, b"GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nX-Big: ", stats)
        for _ in range(megabytes * 16):
            await asyncio.wait_for(_send(writer, b"b" * 65536, stats), 10)
        stats.outcomes["all sent"] += 1
    except (OSError, TimeoutError):
        stats.outcomes["cut off by server"] += 1
    with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
        stats.outcomes[f"HTTP {await _status(reader)}"] += 1
    writer.transport.abort()


async def oversized_bodies(port: int, user: str, stop: asyncio.Event, stats: Stats) -> None:
    """POST /send bodies far over the limit: one announced by Content-Length, one streamed
    chunked without announcing anything."""
    auth = basic_header(user)
    while not stop.is_set():
        for chunked in (False, True):
            if (conn := await _connect(port, stats)) is None:
                continue
            reader, writer = conn
            size = 8 << 20
            framing = (
                b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % size
            )
            try:
                await _send(
                    writer,
                    b"POST /send/%s/%s HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: %s\r\nContent-Type: text/plain\r\n%s\r\n"
                    % (ROOM.encode(), user.encode(), auth.encode(), framing),
                    stats,
                )
                piece = b"z" * 65536
                if chunked:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                for _ in range(size // 65536):
                    await asyncio.wait_for(_send(writer, piece, stats), 5)
            except (OSError, TimeoutError):
                pass  # the server stopped reading, or hung up: see what it said
            try:
                stats.outcomes[f"HTTP {await _status(reader)}"] += 1
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                stats.outcomes["no answer"] += 1
            writer.transport.abort()


async def hostile_drill(
    server: ServerProcess,
    *,
    seconds: float = 15.0,
    honest: int = 10,
    attackers: int = 4,
    half_open_count: int = 100,
    slowloris_count: int = 50,
    seed: int | None = None,
    max_rss_growth: int = 200 << 20,
    other: ServerProcess | None = None,
) -> Report:
    """`attackers` connections of each streaming kind at a time for `seconds`; the half-open
    and slowloris connections are held until the server closes them (or `seconds` + 15 s).
    With `other` (a second node of the cluster) the attack is on `server` only while half the
    honest telnet users and the HTTP one are on `other`: what the attacked node sends must
    still cross the broker to them, and theirs come back."""
    rng = random.Random(seed)
    started = time.monotonic()
    nodes = [server] if other is None else [server, other]
    for node in nodes:
        await asyncio.to_thread(node.start)
    await register_http(server.http_url, ["web", "evil"])
    honest_users = Honest(ROOM, [f"honest{i:02d}" for i in range(honest)], "web")
    await honest_users.connect(*(node.telnet_port for node in nodes))
    await server.settle()
    rss_before, fds_before = server.rss(), server.fds()
    rss_before_b = other.rss() if other else 0
    stop, quiet = asyncio.Event(), asyncio.Event()
    talkers = [asyncio.create_task(honest_users.talk(u, quiet, 0.1)) for u in honest_users.users]
    talkers.append(asyncio.create_task(honest_users.talk_http(nodes[-1].http_url, quiet, 0.1)))
    load_during = load_average()
    stats: dict[str, Stats] = {
        k: Stats()
        for k in (
            "random bytes",
            "IAC storm",
            "endless line",
            "half-open telnet",
            "half-open http",
            "slowloris",
            "endless header",
            "oversized body",
        )
    }
    hold = seconds + 15
    # half-open and slowloris connections are closed by the server's 20 s head timeout, so
    # their window must be well past it (hold alone left 5 s, not enough on a loaded 2-core
    # machine: at a load average of 20, 21 of 25 slowloris were still open after 25 s); one
    # closed later still is counted "closed late", not "still open" (CI, 2026-12-03: 1 of 25
    # on a two-node cluster whose honest users saw a p99 of 1.7 s)
    half_open_hold = max(hold, HTTP_HEAD_TIMEOUT + 20)
    attacks = []
    for i in range(attackers):
        sub = random.Random(rng.random())
        attacks += [
            random_bytes(server.telnet_port, stop, stats["random bytes"], sub),
            iac_storm(server.telnet_port, stop, stats["IAC storm"], sub),
        ]
        if i == 0:
            attacks += [
                endless_line(server.telnet_port, stop, stats["endless line"]),
                oversized_bodies(server.http_port, "evil", stop, stats["oversized body"]),
                endless_header(server.http_port, stats["endless header"]),
                half_open(
                    server.telnet_port, half_open_count, stats["half-open telnet"], half_open_hold
                ),
                half_open(
                    server.http_port, half_open_count, stats["half-open http"], half_open_hold
                ),
                slowloris(server.http_port, slowloris_count, stats["slowloris"], half_open_hold),
            ]
    tasks = [asyncio.create_task(a) for a in attacks]
    peak = server.rss()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.5)
        for node in nodes:
            node.check_alive()
        peak = max(peak, server.rss())
    stop.set()
    # the attacks end by themselves (each bounded by its window); this is a safety net, with
    # room for connecting hundreds of sockets on a loaded machine before the windows start
    while not all(t.done() for t in tasks) and loop.time() < end + half_open_hold + 60:
        await asyncio.sleep(0.5)
        for node in nodes:
            node.check_alive()
        peak = max(peak, server.rss())
    for t in tasks:
        t.cancel()
    failures = [
        r
        for r in await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    ]
    quiet.set()
    await asyncio.gather(*talkers)
    await last_lines_arrive([honest_users])
    for node in nodes:
        node.check_alive()
    missing = honest_users.missing()
    dropped = honest_users.dropped()
    honest_users.abort()
    await asyncio.sleep(1)
    await server.settle()
    rss_after, fds_after = server.rss(), server.fds()
    rss_after_b = other.rss() if other else 0
    for node in nodes:
        node.stop()
    latencies = sorted(honest_users.latencies_ms)
    summary = "; ".join(
        f"{k}: {s.connections} conns, {s.bytes_sent / 2**20:.1f} MB, "
        + ", ".join(f"{n} {o}" for o, n in sorted(s.outcomes.items()))
        for k, s in stats.items()
    )
    return Report(
        drill="hostile-input",
        deployment=server.deployment.name,
        load=f"{honest} telnet + 1 http honest users at 10 msg/s each"
        + (", half of them (and the http one) on a second node" if other else ""),
        faults=f"{sum(s.connections for s in stats.values())} hostile connections, "
        f"{sum(s.bytes_sent for s in stats.values()) / 2**20:.0f} MB",
        acknowledged=len(honest_users.acked),
        lost=missing,
        rss_before=rss_before,
        rss_after=rss_after,
        fds_before=fds_before,
        fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra={
            "honest_dropped": dropped,
            "honest_errors": len(honest_users.errors),
            "rss_peak_mb": round(peak / 2**20, 1),
            "rss_growth_ok": peak - rss_before < max_rss_growth,
            "delivered": honest_users.delivered(),
            "latency_ms_p50_p99": f"{percentile(latencies, 0.5) or 0:.1f}/"
            f"{percentile(latencies, 0.99) or 0:.1f}",
            "load_during": load_during,
            **(
                {
                    "nodes": 2,
                    "node_b_rss_mb": f"{rss_before_b / 2**20:.1f}->{rss_after_b / 2**20:.1f}",
                }
                if other
                else {}
            ),
            "attacker_failures": len(failures),
            "attacks": summary,
        },
    )
