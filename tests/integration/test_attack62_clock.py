"""attack62 on one node (SQLite): a room deleted and made again under its name while the
node holds the store's time it told (attack61: a clock stepped back, or forward and then
back, is held where it stood until the store's catches up). Rows were dated at one instant
through the hold, while a room's end goes by time: its deletion drops the messages sent
before it (`sent_at < at`) and every read shows a room's messages sent at or after its
creation (`Membership.floor`). A message of the deleted room, its deletion and the room
made again all bore the held instant: the deleted private room's lines stayed and were
shown to whoever made a room of that name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register, texts
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, command, create_room, services, telnet
from tests.integration.test_attack61_clock import step_machine_clock
from torbit.core.storeclock import read_clock

STEPS = {
    "back": [-timedelta(minutes=2)],
    "forward-then-back": [timedelta(minutes=2), timedelta(0)],
}


@pytest.mark.parametrize("steps", list(STEPS), ids=list(STEPS))
async def test_a_deleted_private_room_s_lines_never_reach_its_namesake_through_a_hold(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, steps: str
) -> None:
    """alice's private #den, bob its member. The machine's clock steps (2 minutes back, or
    2 forward and then back) and the node reads it at its next feed mark; bob says two
    secrets in #den (HTTP and telnet); alice deletes #den; mallory makes #den and reads it:
    a page of history, `/receive`, a telnet join's history and an IRC join's. On main all
    four showed both secrets (each read, 2 of 2: the deletion's `sent_at < at` kept them,
    the new room's floor showed them); now none."""
    jump = [timedelta(0)]
    step_machine_clock(monkeypatch, jump)
    app = await make_server(chat={"history_on_join": 10})
    core = services(app)
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        await register(alice, "alice", "bob", "mallory")
        await create_room(alice, "den", private=True)
        r = await alice.post("/api/v1/rooms/den/invites", json={"user": "bob"})
        assert r.status_code == 204, r.text
        assert (await bob.put("/api/v1/rooms/den/members/bob")).status_code == 200
        for step in STEPS[steps]:
            jump[0] = step
            await read_clock(core.store, core.clock)  # what the node's next feed mark does
        r = await bob.post("/api/v1/rooms/den/messages", json={"text": "secret h"})
        assert r.status_code == 201, r.text
        bob_tn = await telnet(app, "bob")
        await command(bob_tn, "/join den", r"^\* you are (already )?in #den")
        await command(bob_tn, "secret t", r"<bob> secret t$")
        assert (await alice.delete("/api/v1/rooms/den")).status_code == 204
        await bob_tn.expect("deleted")
        await bob_tn.close()
    async with api(app, "mallory") as mallory:
        await create_room(mallory, "den")
        page = texts((await mallory.get("/api/v1/rooms/den/messages")).json())
        received = texts((await mallory.get("/receive/den/mallory")).json())
    tn = await telnet(app, "mallory")
    await command(tn, "/join den", r"^\* you are (already )?in #den")
    await command(tn, "mallory here", r"<mallory> mallory here$")
    joined_tn = [line for line in tn.seen if "secret" in line]
    await tn.close()
    irc = await RawIrc.connect(app)
    irc.send(f"PASS mallory:{PASSWORD}")
    await irc.register("mallory")
    irc.send("JOIN #den", "PING :after")
    await irc.expect("PONG")
    joined_irc = [line for line in irc.lines if "secret" in line]
    await irc.close()
    print(f"{steps}: page {page}, /receive {received}, telnet {joined_tn}, irc {joined_irc}")
    assert [t for t in page + received if "secret" in t] == []
    assert joined_tn == [] and joined_irc == []
    stored = [m.text for m in await core.message_log.read("den") if "secret" in m.text]
    assert stored == [], stored  # the deletion took them
