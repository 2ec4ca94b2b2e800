"""attack2_58: many CLI `--wait`s at once (tidy58). Each writes its own rows, then one
barrier row, and waits for every node alive to pass its barrier: 40 of them at once (as
`StoreFeed`, what the CLI runs) and 4 real `torbit user passwd --wait` processes must each
be confirmed by the running node, none waiting out its bound, and write one barrier each
(the feed grows by two rows a run, no more; the purge of old rows takes them as any)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.moderation import api, services
from tests.integration.test_cli_waits import env_of
from torbit.core.feedmarks import BARRIER, StoreFeed

AT_ONCE = 40
PROCESSES = 4


async def test_many_waits_at_once_are_each_confirmed_by_the_node(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    store = services(app).store
    before = await store.last_revocation()

    async def one() -> list[object]:
        feed = StoreFeed(store, lambda: datetime.now(UTC))
        await feed.revoke(BARRIER)  # a row of its own that revokes nothing
        late: list[object] = list(await feed.confirmed(bound=60))
        return late

    async with asyncio.timeout(120):
        answers = await asyncio.gather(*(one() for _ in range(AT_ONCE)))
    assert answers == [[]] * AT_ONCE  # every wait confirmed, none named the node
    assert await store.last_revocation() - before == 2 * AT_ONCE

    async with api(app, "alice") as a:
        await register(a, "alice", *(f"u{i}" for i in range(PROCESSES)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update(env_of(app, tmp_path))
    before = await store.last_revocation()

    def passwd(i: int) -> subprocess.CompletedProcess[str]:
        args = ["user", "passwd", f"u{i}", "--password-stdin", "--wait", "60"]
        return subprocess.run(
            [sys.executable, "-m", "torbit", *args],
            env=env,
            input=f"new-password-{i}\n",
            capture_output=True,
            text=True,
            timeout=200,
        )

    async with asyncio.timeout(240):
        done = await asyncio.gather(*(asyncio.to_thread(passwd, i) for i in range(PROCESSES)))
    for i, run in enumerate(done):
        assert run.returncode == 0 and f"password of u{i} changed" in run.stdout, run
        assert "not confirmed" not in run.stderr, run
    # a revocation and a barrier each
    assert await store.last_revocation() - before == 2 * PROCESSES
