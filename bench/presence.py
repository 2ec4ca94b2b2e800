"""What cluster-wide presence costs (core/presence.py), without a broker: the bytes of a
node's beats and the CPU of building and applying them, for N users on one node, each in
`--rooms` rooms. Medians of `--repeats` runs, and the worst.

    .venv/bin/python -m bench.presence --users 20000 --rooms 2 --churn 200
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from torbit.core.events import PresenceBeat, decode, encode
from torbit.core.presence import PresenceTable


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), max(runs)


def node(users: int, rooms: int) -> PresenceTable:
    t = PresenceTable("sender", expiry=15)
    for u in range(users):
        for r in range(rooms):
            t.local(f"room{(u + r) % 500}", f"user{u}", f"User{u}", True)
    return t


def wire(beats: list[PresenceBeat]) -> list[str]:
    return [encode(b, "0123456789abcdef0123456789abcdef") for b in beats]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--rooms", type=int, default=2, help="rooms each user is online in")
    p.add_argument("--churn", type=int, default=200, help="users logging in and out a beat")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()

    sender = node(a.users, a.rooms)
    snapshot = wire(sender.beats())
    print(f"{a.users} users x {a.rooms} rooms on one node")
    print(
        f"full snapshot: {len(snapshot)} beats, {sum(map(len, snapshot)) / 1e6:.2f} MB, "
        f"largest {max(map(len, snapshot)) / 1e3:.1f} kB"
    )
    idle = wire(sender.beats())
    print(f"idle heartbeat: {len(idle[0])} bytes")

    def churn() -> list[str]:
        for u in range(a.churn):  # half log out, half (others) log in
            online = u % 2 == 0
            for r in range(a.rooms):
                sender.local(f"room{(u + r) % 500}", f"user{u}", f"User{u}", not online)
        return wire(sender.beats())

    beat = churn()
    print(f"a beat with {a.churn} users in or out: {sum(map(len, beat)) / 1e3:.1f} kB")

    def apply_snapshot() -> None:
        receiver = PresenceTable("receiver", expiry=15)
        for text in snapshot:
            decoded = decode(text)
            assert decoded is not None and isinstance(decoded[0], PresenceBeat)
            receiver.apply(decoded[0])

    med, worst = timed(apply_snapshot, a.repeats)
    print(f"decode + apply the full snapshot: {med * 1e3:.1f} ms median, {worst * 1e3:.1f} worst")
    med, worst = timed(lambda: wire(node(a.users, a.rooms).beats()), a.repeats)
    print(
        f"build a node's table + encode its snapshot: {med * 1e3:.1f} ms median, {worst * 1e3:.1f} worst"
    )
    med, worst = timed(churn, a.repeats)
    print(
        f"record + encode a beat of {a.churn} changes: {med * 1e3:.2f} ms median, {worst * 1e3:.2f} worst"
    )

    receiver = PresenceTable("receiver", expiry=15)
    for text in snapshot:
        decoded = decode(text)
        assert decoded is not None and isinstance(decoded[0], PresenceBeat)
        receiver.apply(decoded[0])
    idle_beat = sender.beats()[0]
    med, worst = timed(lambda: receiver.apply(idle_beat), a.repeats * 100)
    print(f"apply an idle beat: {med * 1e6:.1f} us median")
    med, worst = timed(lambda: receiver.count("room7"), a.repeats * 100)
    print(f"online count of a room: {med * 1e6:.2f} us median")
    med, worst = timed(lambda: receiver.names("room7"), a.repeats * 10)
    print(f"online names of a room ({receiver.count('room7')}): {med * 1e6:.1f} us median")


if __name__ == "__main__":
    main()
