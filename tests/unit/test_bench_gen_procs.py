"""The steady fan-out's receivers spread over more than one generator process (bench/loadgen.py,
`--gen-procs`): in stop 62 the one generator process sat at 0.85-0.99 of a core, so its own lag
was what p99 read (bench/JOURNAL.md, "Stop 63: gen63"). Each process logs its share in; the
counts, the loss and the window's CPU are summed over all of them."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import HI, LO, NEVER, RECEIVED, SEEN, Endpoint, ShareTally, measure_fanout, shares
from servers import Server, start
from users import Sink, TelnetUser, User, ignore

RECEIVERS = 30
PROCS = 3


def test_the_receivers_are_divided_among_the_processes_without_gap_or_overlap() -> None:
    assert [len(s) for s in shares(1000, 2)] == [500, 500]
    assert [len(s) for s in shares(7, 3)] == [3, 2, 2]
    assert [len(s) for s in shares(1000, 1)] == [1000]
    for n, k in ((1000, 2), (7, 3), (5, 5), (1001, 4)):
        assert [i for s in shares(n, k) for i in s] == list(range(n))


def test_a_share_counts_into_shared_memory_and_times_from_the_text() -> None:
    slots = multiprocessing.get_context("spawn").RawArray("q", [NEVER, NEVER, 0, 0])
    tally = ShareTally(slots)
    slots[LO], slots[HI] = 10, 20
    chunk = (
        b"[23:50:01] <s000> ^9 1000\r\n"  # before the window: seen, not counted
        b":s000!s000@127.0.0.1 PRIVMSG #bench :^10 2000\r\n"
        b"[23:50:02] <alice> ^up ^ here\r\n"  # `^` in someone else's line
        b"[23:50:01] <s000> ^12 3000\r\n"
        b"[23:50:01] <s000> ^20 4000"  # after the window, and the chunk's end
    )
    tally.take(TelnetUser.__new__(TelnetUser), chunk)
    assert (slots[SEEN], slots[RECEIVED]) == (6, 2)
    # one arrival time for the chunk, less each message's send time as its text says
    a, b = tally.latencies_ns
    assert a - b == 1000


class HalfDeaf(TelnetUser):
    """A receiver of the last process's share (r00020 on) joins another room: its messages
    are lost, and only another process knows it."""

    def __init__(self, name: str, room: str | None = None, sink: Sink = ignore) -> None:
        if name.startswith("r") and int(name[1:]) >= RECEIVERS - RECEIVERS // PROCS:
            room = "elsewhere"
        super().__init__(name, room, sink)


@pytest.fixture
def reference() -> Iterator[Server]:
    server = start("reference")
    try:
        yield server
    finally:
        server.stop()
        server.cleanup()


async def fanout(server: Server, user: type[User]) -> dict[str, object]:
    clients: list[User] = []
    ep = Endpoint(server.ports["telnet"], server.pid, user)
    try:
        return await measure_fanout(
            ep, clients, receivers=RECEIVERS, rate=50.0, seconds=1.0, warmup=0.3, gen_procs=PROCS
        )
    finally:
        for c in clients:
            c.close()


def test_three_processes_count_every_delivery_and_each_its_cpu(reference: Server) -> None:
    r = asyncio.run(fanout(reference, TelnetUser))
    sent = r["sent"]
    assert isinstance(sent, int) and sent > 0
    assert r["received_each"] == [sent * 10] * PROCS
    assert r["received"] == r["expected"] == sent * RECEIVERS
    assert r["loss"] == r["dropped_receivers"] == 0
    assert r["gen_procs"] == PROCS
    each = r["gen_cpu_util_each"]
    assert isinstance(each, list) and len(each) == PROCS
    # the busiest process, and the sum over all of them
    assert r["gen_cpu_util_max"] == max(each)
    assert r["p50_ms"] is not None and r["p99_ms"] is not None
    each_p99 = r["p99_ms_each"]
    assert isinstance(each_p99, list) and len(each_p99) == PROCS and r["p99_ms"] <= max(each_p99)


def test_a_loss_in_another_process_is_the_runs_loss(reference: Server) -> None:
    r = asyncio.run(fanout(reference, HalfDeaf))
    sent = r["sent"]
    assert isinstance(sent, int) and sent > 0
    assert r["received_each"] == [sent * 10, sent * 10, 0]
    assert r["loss"] == sent * 10
    assert r["expected"] == sent * RECEIVERS
