"""An account deleted by the CLI while a node starts (attack57). The node loaded the store's
mutes, then took its place in the store's feed at the newest row: a `torbit user del bob`
between the two deleted bob's mute from the store and told the nodes through a row this
node passed over, so its copy kept the mute, and whoever registered "bob" next was muted in
#hall for what was left of it. The mutes are read once the node reads the feed now."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.cli import cli
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import register
from tests.helpers.moderation import api, mute, open_hall
from tests.integration.test_cli_waits import env_of
from torbit.app import App
from torbit.core.revocation import Revocations


async def test_an_account_deleted_while_the_node_starts_leaves_no_mute_to_its_name(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_server(data_dir=tmp_path / "node")
    await open_hall(first)
    await mute(first, "bob", 30)
    env = env_of(first, tmp_path)
    await first.stop()

    # the node's start held where it takes its place in the feed, while the CLI deletes bob
    start = HeldCall(monkeypatch, Revocations, "start")
    starting: asyncio.Future[App] = asyncio.ensure_future(make_server(data_dir=tmp_path / "node"))
    await start.until_reached(60)
    async with asyncio.timeout(60):
        done = await asyncio.to_thread(cli, env, "user", "del", "bob", "--yes", "--wait", "0.2")
    assert "deleted user bob" in done.stdout, done
    start.let_go()
    again = await starting

    async with api(again, "alice") as alice:
        await register(alice, "bob")  # another bob
    async with api(again, "bob") as bob:
        assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "a new bob"})
    assert r.status_code == 201, (r.status_code, r.text)
