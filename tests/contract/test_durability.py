"""An acknowledged message survives the process being killed: a child publishes from many
tasks and prints each acked id; it is SIGKILLed mid-stream and every printed id must be in the
database when it is opened again."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import defaultdict

from tests.contract.conftest import empty, running

CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Draft

async def main(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    log = SqlLog(store)
    await log.start(lambda m: None)

    async def publisher(i: int) -> None:
        while True:
            draft = Draft(channel=f"room{i % 3}", sender=f"u{i}", text="x",
                          sent_at=datetime.now(UTC))
            (m,) = await log.publish([draft])
            sys.stdout.write(f"{m.channel} {m.id}\\n")
            sys.stdout.flush()

    await asyncio.gather(*(publisher(i) for i in range(20)))

asyncio.run(main(sys.argv[1]))
"""

ACKS_BEFORE_KILL = 1500


async def test_acked_messages_survive_sigkill(store_url: str) -> None:
    async with running(store_url) as (store, _):  # migrated, and emptied for PostgreSQL
        await empty(store)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        store_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(lines) < ACKS_BEFORE_KILL:
                line = await child.stdout.readline()
                if not line:
                    raise AssertionError((await child.stderr.read()).decode())
                lines.append(line)
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = await child.communicate()
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)

    acked: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        if line.endswith(b"\n"):  # a line cut short by the kill proves nothing
            channel, id = line.decode().split()
            acked[channel].add(int(id))
    assert sum(map(len, acked.values())) >= ACKS_BEFORE_KILL

    async with running(store_url) as (_, log):
        for channel, ids in acked.items():
            stored = [m.id for m in await log.read(channel, limit=1_000_000)]
            assert ids <= set(stored), f"acked but lost in {channel}: {sorted(ids - set(stored))}"
            assert stored == list(range(1, len(stored) + 1))
