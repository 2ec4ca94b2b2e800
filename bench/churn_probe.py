"""What an honest user sees while hostile clients churn connections from another address
(churn, bench/JOURNAL.md): the attacks of bench/irc_preregistration.py and
bench/http_reconnect_storm.py, with a probe on 127.0.0.1 beside them.

One torbit (telnet, IRC and HTTP doors, SQLite, cheap argon2) with the connection limits,
the login input budget, IRC pacing and the login back-off at their defaults (as the two
attack benches run it). The probe logs in a telnet user and an IRC user into one room, then
every PERIOD each says `^SEQ` there and the time until the other door's user sees it is
that message's round trip; every second a fresh connection logs in (telnet and IRC in turn)
and the time from connect to being in the room is a login time. Both are taken for
`--before` seconds, then during the attack, which runs in a process of its own from
127.0.0.2. Counted: the server's CPU seconds over the attack, the attacker's connections and
refusals, the probe's messages seen and logins done.

    flock /tmp/bench.lock .venv/bin/python bench/churn_probe.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

import servers
from http_reconnect_storm import storm
from irc_preregistration import DEFAULTS_BACK, attack, cpu_seconds
from servers import HOST, add_src_option, start_torbit, torbit_from
from users import IrcUser, TelnetUser, TorbitIrcUser, User, login

PERIOD = 0.2  # seconds between the probe's messages
ROOM = "probe"
ATTACKS = ("irc-sasl", "irc-fast", "http-storm")


def run_attacker(kind: str, ports: dict[str, int], seconds: float, out: Any) -> None:
    """The attack, in its own process: what it counted goes into `out`."""
    if kind == "http-storm":
        statuses = asyncio.run(storm(ports["http"], "/readyz", seconds, 20))
        out.update(
            connections=sum(statuses.values()),
            refused=statuses.get("429", 0) + statuses.get("503", 0),
        )
        return
    sasl = kind == "irc-sasl"
    result = asyncio.run(
        attack(
            ports["irc"],
            "sasl" if sasl else "unknown",
            seconds,
            100 if sasl else 20,
            10.0 if sasl else 0.0,
        )
    )
    out.update(connections=result["connections"] + result["refused"], refused=result["refused"])


class Probe:
    """The honest users and what they measured, per phase."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.sent: dict[int, float] = {}
        self.rtts: list[float] = []
        self.logins: list[float] = []
        self.failed_logins = 0
        self.seq = 0

    def _seen(self, _user: User, lines: bytes) -> None:
        now = time.perf_counter()
        for line in lines.split(b"\n"):
            i = line.rfind(b"^")
            if i < 0:
                continue
            token = line[i + 1 :].split(b" ", 1)[0].strip()
            if token.isdigit() and (sent := self.sent.pop(int(token), None)) is not None:
                self.rtts.append((now - sent) * 1000)

    async def setup(self) -> tuple[User, User]:
        telnet = await login(self.ports["telnet"], lambda: TelnetUser("probet", ROOM, self._seen))
        irc = await login(self.ports["irc"], lambda: TorbitIrcUser("probei", ROOM, self._seen))
        for made in (  # the accounts the login probes log in to (registered now)
            await login(self.ports["irc"], lambda: TorbitIrcUser("probel", None)),
            await login(self.ports["telnet"], lambda: TelnetUser("probeu", ROOM)),
        ):
            made.close()
        return telnet, irc

    async def talk(self, users: tuple[User, User], seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.seq += 1
            user = users[self.seq % 2]
            self.sent[self.seq] = time.perf_counter()
            user.say(b"^%d" % self.seq)
            await asyncio.sleep(PERIOD)

    async def log_ins(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            make: Callable[[], User]
            if n % 2:
                port = self.ports["telnet"]
                make = lambda: TelnetUser("probeu", ROOM)  # noqa: E731
            else:
                port = self.ports["irc"]
                make = lambda: IrcUser("probel", ROOM, password="probel:bench-password")  # noqa: E731
            started = time.perf_counter()
            try:
                user = await login(port, make, max_wait=10)
                self.logins.append((time.perf_counter() - started) * 1000)
                user.close()
            except Exception:
                self.failed_logins += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    def phase(self) -> dict[str, Any]:
        out = {
            "rtt": sorted(self.rtts),
            "logins": sorted(self.logins),
            "lost": len(self.sent),
            "failed": self.failed_logins,
        }
        self.rtts, self.logins, self.sent, self.failed_logins = [], [], {}, 0
        return out


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def show(name: str, phase: dict[str, Any]) -> str:
    rtt, logins = phase["rtt"], phase["logins"]
    return (
        f"{name}: rtt n={len(rtt)} p50 {pct(rtt, 0.5):.1f} p99 {pct(rtt, 0.99):.1f}"
        f" max {max(rtt, default=float('nan')):.1f} ms lost {phase['lost']};"
        f" login n={len(logins)} p50 {pct(logins, 0.5):.1f}"
        f" max {max(logins, default=float('nan')):.1f} ms failed {phase['failed']}"
    )


async def sitting(ports: dict[str, int], pid: int, kind: str, before: float, seconds: float) -> str:
    probe = Probe(ports)
    users = await probe.setup()
    await asyncio.gather(probe.talk(users, before), probe.log_ins(before))
    quiet = probe.phase()
    with multiprocessing.Manager() as manager:
        out = manager.dict()
        proc = multiprocessing.Process(target=run_attacker, args=(kind, ports, seconds, out))
        cpu0 = cpu_seconds(pid)
        proc.start()
        await asyncio.gather(probe.talk(users, seconds), probe.log_ins(seconds))
        await asyncio.get_running_loop().run_in_executor(None, proc.join, 60.0)
        cpu = cpu_seconds(pid) - cpu0
        counted = dict(out)
    await asyncio.sleep(0.5)  # the last messages' echoes
    during = probe.phase()
    for user in users:
        user.close()
    return (
        f"{kind:10} cpu {cpu:5.2f} s  attacker connections {counted.get('connections', 0)}"
        f" refused {counted.get('refused', 0)} ({counted.get('refused', 0) / seconds:.0f}/s)\n"
        f"    {show('before', quiet)}\n    {show('during', during)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    add_src_option(ap)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--before", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("attacks", nargs="*", default=list(ATTACKS))
    args = ap.parse_args()
    full = servers.torbit_env
    lifted = DEFAULTS_BACK | {"TORBIT_LIMITS__CONNECTION_RATE"}
    servers.torbit_env = lambda *a, **k: {
        key: v for key, v in full(*a, **k).items() if key not in lifted
    }
    env: dict[str, str] = {}
    command = torbit_from(args.src, env)
    for i in range(args.repeat):
        for kind in args.attacks:
            load = os.getloadavg()[0]
            server = start_torbit(command, env=env, doors={"irc": "IRC", "http": "HTTP"})
            try:
                text = asyncio.run(
                    sitting(server.ports, server.proc.pid, kind, args.before, args.seconds)
                )
            finally:
                server.stop()
                server.cleanup()
            print(f"run {i + 1} load {load:.2f}  {text}", flush=True)


if __name__ == "__main__":
    assert HOST == "127.0.0.1"  # the probe; the attackers are on ATTACKER (127.0.0.2)
    main()
