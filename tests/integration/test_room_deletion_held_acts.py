"""Acts under way while their room is deleted and made again, on a real server (roomdel56):
each act, sent over HTTP, passes its checks against alice's public #hall and is held at its
store write; alice deletes #hall (HTTP DELETE, or the operator with `torbit room del`),
carol makes a private #hall and says a secret there; then the act is let go. It must not
land in carol's room. On main every one did, by the room's name: dave's held join made him
a member of carol's private room (200) and let him read her secret, alice's invitation let
dave in, her topic and key became carol's room's, her privacy change made it public, her
kick and ban put bob out of it, her op and voice were bob's there; her mute of bob stayed
in carol's room to its end (mute56), and a node started meanwhile silenced him there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import CHEAP_ARGON2
from tests.helpers.held_calls import HeldCall
from tests.helpers.moderation import api, create_room, in_hall, open_hall, services
from torbit.app import App
from torbit.cli import app as cli_app

SECRET = "carol's secret"
Act = Callable[[httpx.AsyncClient], Coroutine[Any, Any, httpx.Response]]

ACTS: dict[str, tuple[str, str, Act]] = {  # store method held, who acts, the act
    "join": ("add_member", "dave", lambda c: c.put("/api/v1/rooms/hall/members/dave")),
    "invite": ("add_invite", "alice", lambda c: c.post("/api/v1/rooms/hall/invites", json={"user": "dave"})),
    "topic": ("update_room", "alice", lambda c: c.patch("/api/v1/rooms/hall", json={"topic": "alice's", "private": False})),
    "key": ("update_room", "alice", lambda c: c.patch("/api/v1/rooms/hall/settings", json={"join_key": "alices"})),
    "kick": ("expel", "alice", lambda c: c.delete("/api/v1/rooms/hall/members/bob")),
    "ban": ("expel", "alice", lambda c: c.put("/api/v1/rooms/hall/bans/bob")),
    "op": ("set_room_admin", "alice", lambda c: c.put("/api/v1/rooms/hall/admins/bob")),
    "voice": ("set_voice", "alice", lambda c: c.put("/api/v1/rooms/hall/voices/bob")),
    "mute": ("set_mute", "alice", lambda c: c.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 10})),
}  # fmt: skip


def operator_deletes(app: App, tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    config.touch()
    env = {"TORBIT_CONFIG": str(config), "TORBIT_STORAGE__URL": app.settings.storage.url}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    r = CliRunner().invoke(cli_app, ["room", "del", "hall", "--yes"], env=env)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("by", ["owner", "cli"])
@pytest.mark.parametrize("act", list(ACTS))
async def test_an_act_held_while_its_room_is_deleted_and_made_again_stays_out_of_the_new_one(
    server: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, act: str, by: str
) -> None:
    hall = await open_hall(server, "dave")
    store = services(hall).store
    method, actor, send = ACTS[act]
    async with api(hall, actor) as c, api(hall, "alice") as alice, api(hall, "carol") as carol:
        held = HeldCall(monkeypatch, store, method, once=True)  # the act's write; others pass
        acting = asyncio.create_task(send(c))
        await held.until_reached()
        if by == "owner":
            assert (await alice.delete("/api/v1/rooms/hall")).status_code == 204
        else:
            await asyncio.to_thread(operator_deletes, hall, tmp_path)
        await create_room(carol, "hall", private=True)
        assert (await carol.post("/api/v1/rooms/hall/invites", json={"user": "bob"})).is_success
        async with api(hall, "bob") as bob:
            assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await carol.post("/api/v1/rooms/hall/messages", json={"text": SECRET})
        assert r.status_code == 201, r.text
        held.let_go()  # only now: it lands after all of that
        answer = await acting
        assert answer.status_code == 404, (act, answer.status_code, answer.text)

        room = await store.get_room("hall")
        assert room is not None and room.owner == "carol" and room.private, room
        assert room.topic == "" and room.settings.join_key == "", room
        assert await store.list_members("hall") == ["bob", "carol"]
        assert await store.list_bans("hall") == [] and await store.invited_rooms("dave") == []
        assert await store.list_room_admins("hall") == [] and await store.list_voiced("hall") == []
        assert await store.active_mutes(datetime.now(UTC)) == []
        async with api(hall, "dave") as dave:
            r = await dave.get("/api/v1/rooms/hall/messages")
            assert r.status_code == 404 and SECRET not in r.text, r.text
            assert (await dave.put("/api/v1/rooms/hall/members/dave")).status_code == 404


async def test_once_torbit_room_del_answers_no_old_member_writes_into_the_room_made_again(
    server: App, tmp_path: Path
) -> None:
    """bob stays in #hall on telnet; the operator deletes it, carol makes it again at once
    and bob says a line. The CLI answered before the node had read its feed (polled twice
    a second): the node still held bob for a member of #hall and stored his line, which
    carol's new room showed (read after the node told bob of the deletion). It answers
    once every node has applied the deletion now (core/feedmarks.py, as `user del`)."""
    hall = await open_hall(server, "dave")
    bob = await in_hall(hall, "bob")
    await asyncio.to_thread(operator_deletes, hall, tmp_path)
    async with api(hall, "carol") as carol:
        await create_room(carol, "hall")
        bob.send("leak from the old room")
        await bob.expect(r"^\* #hall was deleted by the server's operator$")
        r = await carol.get("/api/v1/rooms/hall/messages")
        assert r.status_code == 200 and "leak" not in r.text, r.text
    await bob.close()
