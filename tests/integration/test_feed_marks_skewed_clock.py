"""A node whose clock runs behind the CLI's (attack57). The CLI waits for every node seen
alive, by the age of its mark in the store (core/feedmarks.py); the marks were dated by each
node's own clock and aged by the CLI's: a node 30 s behind looked stopped 15 s ago, and the
CLI answered "password of bob changed", exit 0, before that node had applied anything, bob's
session there still open. The marks are dated and aged by the store's clock now."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.cli import cli
from tests.helpers.http import register
from tests.helpers.moderation import api, services
from tests.integration.test_cli_waits import env_of
from tests.integration.test_mute_skewed_clock import skew_clock
from tests.security.conftest import telnet_login

SKEW = timedelta(seconds=30)


async def test_the_cli_waits_for_a_node_whose_clock_runs_behind(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skew_clock(monkeypatch, -SKEW)  # the node's wall clock (its marks are the store's time)
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
    bob = await telnet_login(app, "bob")
    env = env_of(app, tmp_path)

    # the node is alive, but does not get to read the feed for now
    store = services(app).store
    real = store.revocations_after
    go = asyncio.Event()

    async def held(*args: Any) -> Any:
        await go.wait()
        return await real(*args)

    monkeypatch.setattr(store, "revocations_after", held)
    async with asyncio.timeout(60):
        done = await asyncio.to_thread(cli, env, "user", "passwd", "bob", "--password-stdin",
                                       "--wait", "0.5", stdin="another-pw\n")  # fmt: skip
    # the node had not applied it: the CLI must not say it had
    assert done.returncode == 2, done
    assert "not confirmed within 0.5 s by 1 node(s)" in done.stderr, done
    go.set()
    await bob.expect("your password was changed")
    await bob.close()
