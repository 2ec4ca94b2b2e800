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
from tests.helpers.http import register
from tests.helpers.moderation import api, create_room
from tests.integration.test_cli_waits import env_of
from torbit.app import App
from torbit.core.revocation import Revocations


async def test_an_account_deleted_while_the_node_starts_leaves_no_mute_to_its_name(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_server(data_dir=tmp_path / "node")
    async with api(first, "alice") as alice:
        await register(alice, "alice", "bob")
        await create_room(alice, "hall")
    async with api(first, "bob") as bob:
        assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
    async with api(first, "alice") as alice:
        r = await alice.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 30})
        assert r.status_code == 200, r.text
    env = env_of(first, tmp_path)
    await first.stop()

    # the node's start held where it takes its place in the feed, while the CLI deletes bob
    real = Revocations.start
    reached, go = asyncio.Event(), asyncio.Event()

    async def held(self: Revocations) -> None:
        reached.set()
        await go.wait()
        await real(self)

    monkeypatch.setattr(Revocations, "start", held)
    starting: asyncio.Future[App] = asyncio.ensure_future(make_server(data_dir=tmp_path / "node"))
    async with asyncio.timeout(60):
        await reached.wait()
    async with asyncio.timeout(60):
        done = await asyncio.to_thread(cli, env, "user", "del", "bob", "--yes", "--wait", "0.2")
    assert "deleted user bob" in done.stdout, done
    go.set()
    again = await starting

    async with api(again, "alice") as alice:
        await register(alice, "bob")  # another bob
    async with api(again, "bob") as bob:
        assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "a new bob"})
    assert r.status_code == 201, (r.status_code, r.text)
