"""An honest IRC client's PING round trip while another client floods the door with cheap
commands (ircpace, bench/JOURNAL.md): what IRC command pacing buys the others.

One torbit (IRC door, SQLite, cheap argon2, the bench's limits except IRC pacing, which keeps
its defaults unless `--no-pacing`); `honest` PINGs every 100 ms (10 a second: the pacing's rate) for `--seconds` and times each
PONG; `mallory` (if `--flood`, in a process of its own) writes `WHO honest` lines as fast as the socket takes them,
in writes of 200 lines, reading and dropping what comes back, and connects again whenever it
is closed (Excess Flood). `--src DIR` runs another tree's torbit (`python -m torbit` with
PYTHONPATH=DIR, e.g. `git archive main src | tar -x -C /tmp/main`), for before and after.

    flock /tmp/bench.lock .venv/bin/python bench/irc_flood_ping.py --flood --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any

import servers
from servers import HOST, Server, start_torbit

PASSWORD = "bench-password-1"
FLOOD_LINE = b"WHO honest\r\n"


async def login(port: int, nick: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"NICK {nick}\r\nREGISTER * * {PASSWORD}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError(f"{nick}: closed while registering")
        if b" 433 " in line or b"ACCOUNT_EXISTS" in line:  # mallory again: log in instead
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(
                f"PASS {nick}:{PASSWORD}\r\nNICK {nick}\r\nUSER {nick} 0 * :x\r\n".encode()
            )
            continue
        if b" 376 " in line or b" 422 " in line:
            return reader, writer


async def drop(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def mallory(port: int, seconds: float, counts: Any) -> None:
    batch = FLOOD_LINE * 200
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            reader, writer = await login(port, "mallory")
        except (ConnectionError, OSError):
            await asyncio.sleep(0.05)
            continue
        counts[0] += 1
        reading = asyncio.create_task(drop(reader))
        try:
            while time.monotonic() < end and not reading.done():
                if writer.transport.is_closing():
                    break
                writer.write(batch)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        reading.cancel()
        writer.close()


def flood(port: int, seconds: float, counts: Any) -> None:
    """mallory in a process of its own: its loop never delays honest's PONGs."""
    asyncio.run(mallory(port, seconds, counts))


async def honest(port: int, seconds: float) -> list[float]:
    reader, writer = await login(port, "honest")
    rtts: list[float] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        sent = time.perf_counter()
        writer.write(f"PING :t{n}\r\n".encode())
        token = f"t{n}".encode()
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("honest client closed")
            if line.startswith(b":") and b" PONG " in line and line.rstrip().endswith(token):
                break
        rtts.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(0.1)
    writer.close()
    return rtts


async def sitting(server: Server, seconds: float, flooding: bool) -> tuple[list[float], list[int]]:
    port = server.ports["irc"]
    _r, w = await login(port, "honest")  # the account, made once
    w.close()
    counts = multiprocessing.Array("q", 1)  # mallory's connections
    proc = None
    if flooding:
        proc = multiprocessing.Process(target=flood, args=(port, seconds + 1.5, counts))
        proc.start()
        await asyncio.sleep(1.0)  # the flood under way
    rtts = await honest(port, seconds)
    if proc is not None:
        proc.join(10)
    return rtts, [int(counts[0])]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flood", action="store_true")
    ap.add_argument("--no-pacing", action="store_true", help="limits.irc_command_rate = 0")
    ap.add_argument("--src", default="", help="run torbit from this src directory")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    env = {"TORBIT_CHAT__REGISTRATION": "open"}
    if not args.no_pacing:  # servers.torbit_env turns them off for the other benchmarks
        env |= {"TORBIT_LIMITS__IRC_COMMAND_RATE": "10", "TORBIT_LIMITS__IRC_FLOOD_LINES": "1000"}
    command = None
    if args.src:  # a tree before ircpace knows no limits.irc_* (its config refuses them)
        env = {k: v for k, v in env.items() if not k.startswith("TORBIT_LIMITS__IRC_")}
        env["PYTHONPATH"] = args.src
        command = [sys.executable, "-m", "torbit", "serve"]
        full = servers.torbit_env
        servers.torbit_env = lambda *a, **k: {
            key: v for key, v in full(*a, **k).items() if not key.startswith("TORBIT_LIMITS__IRC_")
        }
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        server = start_torbit(command, env=env, doors={"irc": "IRC"})
        try:
            rtts, counts = asyncio.run(sitting(server, args.seconds, args.flood))
        finally:
            server.stop()
            server.cleanup()
        print(
            f"run {i + 1}: load {load:.2f}  PING rtt ms: median {statistics.median(rtts):.2f}"
            f"  p99 {pct(rtts, 99):.2f}  max {max(rtts):.2f}  ({len(rtts)} pings)"
            f"  flood: {counts[0]} connections",
            flush=True,
        )


if __name__ == "__main__":
    main()
