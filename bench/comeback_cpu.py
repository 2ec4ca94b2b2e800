"""What bringing a returning telnet user back costs (core/comeback.py): the server's CPU per
logout of a user talking in a room (the room marked read: its newest messages read, the
cursor moved), and per login of a returning user (the last room looked up; its unread
messages counted), against the same run of another tree (`--torbit-cmd`, e.g. main's).

    python bench/comeback_cpu.py --users 500 [--back-in-den] [--torbit-cmd "..."]

N users register, each /join #den (the last room they go into) and stay; a talker says 10
lines there; everyone disconnects at once (the logout window: until the server is idle);
the talker says 10 more; everyone logs in again, 50 at a time (the login window): where the
login lands, or with `--back-in-den` until in #den (main's users /join it, as they had to).
One JSON line: server CPU ms per logout and per login (every thread), the login rate, the
load."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import time
from functools import partial
from typing import Any

from login_cpu import thread_cpu
from procstat import raise_open_files_limit, settle
from servers import start_torbit
from users import DEFAULT_LOGINS, TelnetUser, User, login_many


def cpu(pid: int) -> float:
    return sum(thread_cpu(pid).values())


async def measure(port: int, pid: int, n: int, back_in: str | None) -> dict[str, Any]:
    clients: list[User] = []
    names = [f"u{i:05d}" for i in range(n)]
    talker = (
        await login_many(port, [partial(TelnetUser, "talker", "den")], clients, DEFAULT_LOGINS)
    )[0]
    crowd = await login_many(
        port, [partial(TelnetUser, u, "den") for u in names], clients, DEFAULT_LOGINS
    )
    talker.say_all([f"before {i}".encode() for i in range(10)])
    await settle(pid)
    cpu0 = cpu(pid)
    for u in crowd:
        u.close()
    await asyncio.sleep(0.2)
    await settle(pid)
    logout = cpu(pid) - cpu0
    talker.say_all([f"while away {i}".encode() for i in range(10)])
    await settle(pid)
    cpu1 = cpu(pid)
    t0 = time.monotonic()
    again: list[User] = []
    await login_many(port, [partial(TelnetUser, u, back_in) for u in names], again, DEFAULT_LOGINS)
    wall = time.monotonic() - t0
    await settle(pid)
    login = cpu(pid) - cpu1
    for c in [*clients, *again]:
        c.close()
    return {
        "users": n,
        "back_in": back_in,
        "logout_ms": round(1000 * logout / n, 3),
        "login_ms": round(1000 * login / n, 3),
        "logins_per_s": round(n / wall, 1),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--back-in-den", action="store_true", help="log in until in #den")
    parser.add_argument("--torbit-cmd", default="", help="instead of `.venv/bin/torbit serve`")
    args = parser.parse_args()
    raise_open_files_limit()
    server = start_torbit(shlex.split(args.torbit_cmd) or None, login_timeout=600)
    try:
        back_in = "den" if args.back_in_den else None
        result = asyncio.run(measure(server.port, server.pid, args.users, back_in))
    finally:
        server.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
