"""A join must not tell a private room the user may not know of from a free name (probe51
p7). On every door, once a user's create budget was spent (or their `rooms_per_user`), a
free name's join answered "slow down" (or "too many rooms") while a private room's answered
"no such room", uncharged, as fast as the client could ask. Now both answers are alike and
cost alike, as `create`'s "taken" does."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import irc_user
from tests.helpers.moderation import api, create_room
from torbit.app import App


async def _hidden_room(app: App, *names: str) -> None:
    """alice owns the private #hid; `names` are registered and not invited."""
    async with api(app, "alice") as alice:
        await register(alice, "alice", *names)
        await create_room(alice, "hid", private=True)


async def test_a_spent_create_budget_answers_alike_on_http_and_irc(
    make_server: ServerFactory,
) -> None:
    """A free name's join creates the room, charged to `create_rate`; once that is spent it
    answered "slow down" (429, IRC 437) while the private room answered 404 (IRC 473)."""
    app = await make_server(
        limits={"create_rate": 0.0001, "create_burst": 1, "join_rate": 0, "irc_command_rate": 0}
    )
    await _hidden_room(app, "mallory")
    async with api(app, "mallory") as m:
        assert (await m.put("/api/v1/rooms/mine/members/mallory")).status_code == 200
        for room in ("hid", "free"):
            r = await m.put(f"/api/v1/rooms/{room}/members/mallory", json={"key": "k"})
            assert "rooms created" in error_of(r, 429), (room, r.text)
    irc = await irc_user(app, "mallory", sasl_username="mallory", sasl_password=PASSWORD)
    for channel in ("#hid", "#free"):
        await irc.rawmsg("JOIN", channel, "k")
        refused = await irc.expect("437", "mallory", channel)
        assert "rooms created" in refused.params[-1], refused.params
    assert not [m for m in irc.seen if m.command == "473"]


async def test_a_full_room_allowance_answers_alike(make_server: ServerFactory) -> None:
    """At `rooms_per_user`, a free name's join answered "too many rooms" and a private
    room's "no such room"."""
    app = await make_server(limits={"rooms_per_user": 1})
    await _hidden_room(app, "mallory")
    async with api(app, "mallory") as m:
        assert (await m.put("/api/v1/rooms/lobby/members/mallory")).status_code in (200, 201)
        for room in ("hid", "free"):
            r = await m.put(f"/api/v1/rooms/{room}/members/mallory")
            assert "too many rooms" in error_of(r, 403), (room, r.text)
