"""What an IRC connection that never registers can make the server do (attack14,
bench/JOURNAL.md): endless unknown commands, PINGs, `CAP LS` (negotiation never ended),
PRIVMSG, long lines, a `PASS` or SASL guess storm, each from many connections at once.

One torbit (IRC door, SQLite, cheap argon2) with the abuse limits a bench lifts put back to
their defaults for this door (connections per address and their rate, the login input budget,
IRC pacing, the login back-off); the attacker runs in a process of its own, from 127.0.0.2
(the server sees that address; loopback), with `--connections` connections that write their
line as fast as the socket takes it, read everything, and connect again when closed. Counted:
the server's CPU seconds over the attack, connections made, lines the server answered, and
how many lines and seconds one connection got before it was closed. `--src DIR` runs another
tree's torbit (`git archive main src | tar -x -C /tmp/main`), for before and after;
`--inspircd` runs the same attack against Debian's InspIRCd with its shipped limits.

    flock /tmp/bench.lock .venv/bin/python bench/irc_preregistration.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import servers
from procstat import free_port
from servers import HOST, add_src_option, start_torbit, torbit_from

ATTACKER = "127.0.0.2"
GUESS = base64.b64encode(b"\0victim\0wrong-guess").decode()
ATTACKS: dict[str, tuple[bytes, bytes]] = {  # what is sent first, then again and again
    "unknown": (b"", b"FOO bar baz\r\n"),
    "ping": (b"", b"PING :are-you-there\r\n"),
    "cap-ls": (b"", b"CAP LS 302\r\n"),
    "privmsg": (b"", b"PRIVMSG #hall :hello before registering\r\n"),
    "long-line": (b"", b"PRIVMSG #hall :" + b"x" * 9000 + b"\r\n"),
    "pass": (b"", b"PASS victim:wrong-guess\r\n"),
    "sasl": (
        b"CAP LS 302\r\nCAP REQ :sasl\r\n",
        f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {GUESS}\r\n".encode(),
    ),
    "held-cap": (b"CAP LS 302\r\nNICK held\r\nUSER held 0 * :held\r\n", b""),  # then silence
}
# the bench's lifted limits this attack needs at their defaults
DEFAULTS_BACK = {
    "TORBIT_LIMITS__CONNECTIONS_PER_IP",
    "TORBIT_LIMITS__MAX_CONNECTIONS",
    "TORBIT_LIMITS__CONNECTION_RATE",
    "TORBIT_LIMITS__IRC_COMMAND_RATE",
    "TORBIT_LIMITS__IRC_FLOOD_LINES",
    "TORBIT_LIMITS__LOGIN_INPUT_RATE",
    "TORBIT_LIMITS__LOGIN_ADDRESS_FREE_ATTEMPTS",
    "TORBIT_IRC__REGISTRATION_TIMEOUT",
}


async def one_connection(
    port: int, first: bytes, line: bytes, end: float, out: dict[str, Any], rate: float
) -> None:
    """Connect, write, read; the numbers of this connection go into `out`."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(HOST, port, local_addr=(ATTACKER, 0))
    except OSError:
        out["failed"] += 1
        await asyncio.sleep(0.05)
        return
    lines = 0
    refused = False

    async def read() -> None:
        nonlocal lines, refused
        buffered = b""
        while chunk := await reader.read(65536):
            buffered += chunk
            *whole, buffered = buffered.split(b"\n")
            lines += len(whole)
            if any(
                b"new connections" in w
                or b"too many connections" in w
                or b"No more connections" in w
                for w in whole
            ):
                refused = True

    reading = asyncio.create_task(read())
    # as fast as the socket takes it, or `rate` lines a second (within the byte budget)
    batch = line * max(1, 4096 // max(1, len(line))) if line and not rate else line
    try:
        writer.write(first)
        while time.monotonic() < end and not reading.done():
            if batch:
                writer.write(batch)
                await asyncio.wait_for(writer.drain(), max(0.01, end - time.monotonic()))
                if rate:
                    await asyncio.sleep(1 / rate)
            else:
                await asyncio.wait_for(asyncio.shield(reading), max(0.01, end - time.monotonic()))
    except (OSError, TimeoutError):
        pass
    closed_by_server = reading.done()
    writer.close()
    reading.cancel()
    if refused:
        out["refused"] += 1
        return
    out["connections"] += 1
    out["answers"] += lines
    if closed_by_server:
        out["closed"].append((lines, time.monotonic() - started))
    else:
        out["open_at_end"].append((lines, time.monotonic() - started))


async def attack(
    port: int, kind: str, seconds: float, connections: int, rate: float
) -> dict[str, Any]:
    first, line = ATTACKS[kind]
    out: dict[str, Any] = {
        "connections": 0,
        "refused": 0,
        "failed": 0,
        "answers": 0,
        "closed": [],
        "open_at_end": [],
    }
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            await one_connection(port, first, line, end, out, rate)

    await asyncio.gather(*(worker() for _ in range(connections)))
    return out


def attacker(
    port: int, kind: str, seconds: float, connections: int, rate: float, result: Any
) -> None:
    result.update(asyncio.run(attack(port, kind, seconds, connections, rate)))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_attack(
    pid: int, port: int, kind: str, seconds: float, connections: int, rate: float
) -> dict[str, Any]:
    with multiprocessing.Manager() as manager:
        result = manager.dict()
        before = cpu_seconds(pid)
        proc = multiprocessing.Process(
            target=attacker, args=(port, kind, seconds, connections, rate, result)
        )
        proc.start()
        proc.join(seconds + 60)
        cpu = cpu_seconds(pid) - before
        out = dict(result)
    out["cpu"] = cpu
    return out


def inspircd(workdir: Path, timeout: int) -> tuple[subprocess.Popen[bytes], int]:
    """Debian's InspIRCd with its shipped connect-class limits (examples/inspircd.conf)."""
    port = free_port()
    conf = workdir / "inspircd.conf"
    conf.write_text(f"""<server name="bench.torbit.test" description="x" network="bench">
<admin name="b" nick="b" email="b@localhost">
<bind address="{HOST}" port="{port}" type="clients">
<connect name="main" allow="*" timeout="{timeout}" pingfreq="120" hardsendq="1048576"
  softsendq="8192" recvq="8192" threshold="10" commandrate="1000" fakelag="yes"
  localmax="3" globalmax="3" useident="no" resolvehostnames="no" limit="5000"
  maxconnwarn="no">
<path configdir="{workdir}" datadir="{workdir}" logdir="{workdir}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="ircd.log">
""")
    args = ["/usr/sbin/inspircd", "--config", str(conf), "--nofork", "--nopid"]
    if os.geteuid() == 0:
        args.append("--runasroot")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, port


def summary(kind: str, out: dict[str, Any]) -> str:
    closed = out["closed"]
    per = sorted(n for n, _ in closed + out["open_at_end"]) or [0]
    lived = sorted(s for _, s in closed) or [0.0]
    return (
        f"{kind:10} cpu {out['cpu']:6.2f} s  connections {out['connections']:6d}"
        f" (refused {out['refused']}, closed by server {len(closed)}, open at end"
        f" {len(out['open_at_end'])})  answers {out['answers']:8d}"
        f"  per connection median {statistics.median(per):.0f} max {per[-1]}"
        f"  closed after median {statistics.median(lived):.2f} s max {lived[-1]:.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    add_src_option(ap)
    ap.add_argument("--inspircd", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="lines a second per connection (0: as fast as the socket takes them)",
    )
    ap.add_argument("--timeout", type=int, default=60, help="registration timeout, seconds")
    ap.add_argument("attacks", nargs="*", default=list(ATTACKS))
    args = ap.parse_args()
    full = servers.torbit_env
    servers.torbit_env = lambda *a, **k: {
        key: v for key, v in full(*a, **k).items() if key not in DEFAULTS_BACK
    }
    env = {"TORBIT_IRC__REGISTRATION_TIMEOUT": str(args.timeout)}
    command = torbit_from(args.src, env)
    for i in range(args.repeat):
        for kind in args.attacks:
            load = os.getloadavg()[0]
            if args.inspircd:
                workdir = Path(tempfile.mkdtemp(prefix="inspircd-bench-"))
                proc, port = inspircd(workdir, args.timeout)
                try:
                    out = run_attack(
                        proc.pid, port, kind, args.seconds, args.connections, args.rate
                    )
                finally:
                    proc.terminate()
                    proc.wait(10)
                    shutil.rmtree(workdir, ignore_errors=True)
            else:
                server = start_torbit(command, env=env, doors={"irc": "IRC"})
                try:
                    out = run_attack(
                        server.proc.pid,
                        server.ports["irc"],
                        kind,
                        args.seconds,
                        args.connections,
                        args.rate,
                    )
                finally:
                    server.stop()
                    server.cleanup()
            print(f"run {i + 1} load {load:.2f}  {summary(kind, out)}", flush=True)


if __name__ == "__main__":
    main()
