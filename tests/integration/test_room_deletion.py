"""Deleting a room (core/roomdeletion.py) on a real server: its owner deletes it from telnet
(`/delroom`) or HTTP (`DELETE /api/v1/rooms/{room}`), the operator with `torbit room del`;
everyone in it leaves at once on every door, told why (telnet's line, IRC's KICK, the
WebSocket's `room_deleted` notice; a long poll ends), and a session left open can neither read
nor send there. A room made again under the name starts empty. On main there was no way to
delete a room: the command, the route and the CLI command were unknown."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import CHEAP_ARGON2
from tests.helpers.http import error_of, texts
from tests.helpers.moderation import (
    Ws,
    api,
    audit,
    command,
    create_room,
    in_hall,
    irc_in_hall,
    open_hall,
    telnet,
)
from torbit.app import App
from torbit.cli import app as cli_app


@pytest.fixture
async def hall(server: App) -> App:
    """alice owns the public room #hall; bob and carol are members; dave is a user."""
    return await open_hall(server, "dave")


async def test_the_owner_deletes_and_every_door_leaves_told_why(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    carol = await irc_in_hall(hall, "carol")
    async with api(hall, "bob") as b:
        assert (await b.post("/send/hall/bob", content="before")).status_code == 201
        assert (await b.get("/receive/hall/bob")).status_code == 200  # cursor at "before"
        poll = asyncio.create_task(b.get("/receive/hall/bob", params={"wait": 30}))
        await asyncio.sleep(0.3)  # the long poll waits

        await command(alice, "/delroom", r"^\* you deleted #hall")
        await bob.expect(r"^\* #hall was deleted by alice$")
        told = await bob_ws.next("notice", "#hall was deleted by alice")
        assert (told["kind"], told["room"], told["by"]) == ("room_deleted", "hall", "alice")
        kick = await carol.expect(" KICK #hall carol ")
        assert kick.startswith(":alice!") and kick.endswith(":#hall was deleted by alice"), kick
        async with asyncio.timeout(5):  # ended at once, not after its 30 seconds
            ended = await poll
        assert ended.status_code == 404, ended.text

        # sessions left open can neither send nor read there, through any door
        await command(bob, "hello?", r"^! you are no longer in a room")
        await command(bob, "/history", r"^! you are not in a room")
        await bob_ws.send(type="send", room="hall", text="still here?", ref="r1")
        assert "no such room #hall" in (await bob_ws.next("error"))["message"]
        carol.send("PRIVMSG #hall :anyone?")
        await carol.expect(" 403 carol #hall ")
        assert (await b.post("/send/hall/bob", content="after")).status_code == 404
        assert (await b.get("/receive/hall/bob")).status_code == 404
        assert (await b.get("/api/v1/rooms/hall/messages")).status_code == 404

    entries = [(e.actor, e.action) for e in await audit(hall, "hall")]
    assert entries[0] == ("alice", "delroom"), entries
    assert await hall.core.store.get_room("hall") is None  # type: ignore[union-attr]
    await bob_ws.close()


async def test_only_the_owner_or_a_server_admin_may_and_the_default_room_stays(
    hall: App,
) -> None:
    async with api(hall, "alice") as alice:
        await create_room(alice, "den", private=True)
        r = await alice.post("/api/v1/rooms/den/invites", json={"user": "bob"})
        assert r.status_code < 300, r.text
    async with api(hall, "bob") as bob:
        assert (await bob.put("/api/v1/rooms/den/members/bob")).status_code == 200
        r = await bob.delete("/api/v1/rooms/den")
        assert "only the owner of #den may /delroom" in error_of(r, 403)
    async with api(hall, "alice") as alice:
        assert (await alice.put("/api/v1/rooms/hall/admins/bob")).status_code < 300
    async with api(hall, "bob") as bob:  # a room admin may not either
        r = await bob.delete("/api/v1/rooms/hall")
        assert "only the owner of #hall may /delroom: you are a room admin" in error_of(r, 403)
    async with api(hall, "dave") as dave:  # a private room dave may not see: no such room
        assert (await dave.delete("/api/v1/rooms/den")).status_code == 404
        assert (await dave.delete("/api/v1/rooms/nowhere")).status_code == 404
    await hall.core.store.set_admin("dave", True)  # type: ignore[union-attr]
    async with api(hall, "dave") as dave:  # a server admin may
        assert (await dave.delete("/api/v1/rooms/den")).status_code == 204
        assert (await dave.delete("/api/v1/rooms/den")).status_code == 404
        assert (await dave.put("/api/v1/rooms/lobby/members/dave")).status_code == 200
        r = await dave.delete("/api/v1/rooms/lobby")
        assert "default room" in error_of(r, 403)
    async with api(hall, "alice") as alice:
        assert (await alice.delete("/api/v1/rooms/hall")).status_code == 204
        assert (await alice.get("/api/v1/rooms/lobby")).status_code == 200


async def test_a_room_made_again_shows_nothing_of_the_old_one(hall: App) -> None:
    async with api(hall, "alice") as alice, api(hall, "bob") as bob:
        for text in ("one", "two"):
            assert (await alice.post("/send/hall/alice", content=text)).status_code == 201
        assert texts((await bob.get("/receive/hall/bob")).json()) == ["one", "two"]
        assert (await alice.put("/api/v1/rooms/hall/bans/carol")).status_code < 300
        assert (await alice.delete("/api/v1/rooms/hall")).status_code == 204

        await create_room(bob, "hall")  # bob owns the new #hall
        assert (await bob.get("/api/v1/rooms/hall/messages")).json()["messages"] == []
        assert (await bob.get("/receive/hall/bob")).json()["messages"] == []
        assert (await bob.post("/send/hall/bob", content="new")).status_code == 201
        async with api(hall, "carol") as carol:  # the old room's ban is gone
            assert (await carol.put("/api/v1/rooms/hall/members/carol")).status_code == 200
            assert texts((await carol.get("/receive/hall/carol")).json()) == ["new"]
        async with api(hall, "alice") as alice_again:  # and so are alice's rights
            r = await alice_again.delete("/api/v1/rooms/hall")
            assert r.status_code == 403, r.text


async def test_deletion_racing_sends_and_joins_leaves_nobody_in_the_old_room(hall: App) -> None:
    bob = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    async with api(hall, "alice") as alice, api(hall, "bob") as b, api(hall, "carol") as c:

        async def send(i: int) -> int:
            return (await b.post("/send/hall/bob", content=f"race {i}")).status_code

        async def join() -> int:
            return (await c.put("/api/v1/rooms/hall/members/carol")).status_code

        async def ws_send(i: int) -> None:
            await bob_ws.send(type="send", room="hall", text=f"ws race {i}")

        for i in range(10):
            bob.send(f"telnet race {i}")
        results = await asyncio.gather(
            *(send(i) for i in range(20)),
            *(ws_send(i) for i in range(10)),
            *(join() for _ in range(5)),
            alice.delete("/api/v1/rooms/hall"),
            *(send(i) for i in range(20, 40)),
            return_exceptions=True,
        )
        deleted = results[35]
        assert isinstance(deleted, httpx.Response) and deleted.status_code == 204, deleted
        await bob.expect(r"^\* #hall was deleted by alice$")
        await bob_ws.next("notice", "#hall was deleted by alice")
        await command(bob, "after", r"^! you are no longer in a room")
        # a join after the deletion made a new #hall (carol's): only what came after it
        room = await hall.core.store.get_room("hall")  # type: ignore[union-attr]
        if room is None:
            await create_room(alice, "hall")
        else:
            assert room.owner == "carol", room
        r = await c.get("/api/v1/rooms/hall/messages") if room else None
        if r is not None:
            assert r.json()["messages"] == [], r.text
        assert not any(
            hall.core.subscriptions.is_listening(s, "hall")  # type: ignore[union-attr]
            for s in hall.core.subscriptions.sessions_of("bob")  # type: ignore[union-attr]
        )
    await bob_ws.close()


async def test_torbit_room_del_reaches_the_running_node(hall: App, tmp_path: Path) -> None:
    await (await telnet(hall, "dave")).close()  # a first login: the default room is made
    bob = await in_hall(hall, "bob")
    config = tmp_path / "cli.toml"
    config.touch()
    env = {"TORBIT_CONFIG": str(config), "TORBIT_STORAGE__URL": hall.settings.storage.url}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})

    def cli(*args: str, stdin: str = "") -> tuple[int, str]:
        r = CliRunner().invoke(cli_app, list(args), input=stdin, env=env)
        return r.exit_code, r.output

    code, out = await asyncio.to_thread(cli, "room", "del", "hall", stdin="n\n")
    assert code == 1 and "Delete room #hall and its messages, for everyone?" in out, out
    code, out = await asyncio.to_thread(cli, "room", "del", "#hall", "--yes")
    assert code == 0 and "deleted room #hall" in out, out
    await bob.expect(r"^\* #hall was deleted by the server's operator$")
    await command(bob, "still?", r"^! you are no longer in a room")
    code, out = await asyncio.to_thread(cli, "room", "del", "hall", "--yes")
    assert code == 1 and "no such room #hall" in out, out
    code, out = await asyncio.to_thread(cli, "room", "del", "lobby", "--yes")
    assert code == 1 and "default room" in out, out
    with contextlib.suppress(Exception):
        await bob.close()
