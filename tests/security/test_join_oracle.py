"""A join must not tell a private room the user may not know of from a free name (probe51
p7). Telnet's `/join NAME KEY` answered "no such room #NAME" for a hidden private room and
"no such room #NAME, so KEY cannot be its key" for a free name, uncharged: 200 probes in 4 s
found every private room. And on every door, once a user's create budget was spent (or their
`rooms_per_user`), a free name's join answered "slow down" (or "too many rooms") while a
private room's answered "no such room", uncharged, as fast as the client could ask. Now both
answers are alike and cost alike, as `create`'s "taken" does."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import irc_user
from tests.helpers.moderation import api, command, create_room, telnet
from torbit.app import App

BURST = 6


async def _hidden_room(app: App, *names: str) -> None:
    """alice owns the private #hid; `names` are registered and not invited."""
    async with api(app, "alice") as alice:
        await register(alice, "alice", *names)
        await create_room(alice, "hid", private=True)


async def test_a_join_key_answers_alike_for_a_private_room_and_a_free_name(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"join_rate": 0.0001, "join_burst": BURST})
    await _hidden_room(app, "mallory")
    mallory = await telnet(app, "mallory")  # landing in #lobby spends one join
    hidden = await command(mallory, "/join hid k", r"^! ")
    free = await command(mallory, "/join free k", r"^! ")
    assert hidden.replace("hid", "NAME") == free.replace("free", "NAME"), (hidden, free)
    assert "cannot be its key" in free
    # each probe is a join attempt: probing the private room spends the budget, and then
    # the free name answers as it does
    answers = [await command(mallory, "/join hid k", r"^! ") for _ in range(BURST)]
    assert "slow down: too many rooms joined or left" in answers[-1], answers
    await command(mallory, "/join free k", r"^! slow down: too many rooms joined or left")
    await mallory.close()


async def test_a_join_key_still_admits_an_invite_exception(make_server: ServerFactory) -> None:
    """The keyed lookup asks the room's invite exceptions, as the join itself does."""
    app = await make_server()
    await _hidden_room(app, "bob")
    alice = await telnet(app, "alice")
    await command(alice, "/join hid", r"^\* you are in #hid")
    await command(alice, "/set key s3cret", r"join key")
    await command(alice, "/invex bob", r"^\* bob!\*@\* is on the invite exception list")
    bob = await telnet(app, "bob")
    await command(bob, "/join hid wrong", r"^! #hid needs its join key")
    await command(bob, "/join hid s3cret", r"^\* you are in #hid")
    for client in (alice, bob):
        await client.close()


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


async def test_the_classic_routes_answer_alike_and_charge_nothing(
    make_server: ServerFactory,
) -> None:
    """The classic routes make no room: a free name is a 404 that costs nothing. A private
    room's refusal was charged as a free name's join elsewhere is, so once the create
    budget was spent it answered 429 where a free name still answered 404 (the second pass
    of stop 51: all 5 private rooms among 200 names in 0.3 s, default limits)."""
    app = await make_server(limits={"create_rate": 0.0001, "create_burst": 1, "join_rate": 0})
    await _hidden_room(app, "mallory")
    async with api(app, "mallory") as m:
        assert (await m.put("/api/v1/rooms/mine/members/mallory")).status_code == 200  # spent
        for _ in range(3):
            for room in ("hid", "free"):
                sent = await m.post(f"/send/{room}/mallory", content="anyone?")
                read = await m.get(f"/receive/{room}/mallory")
                for r in (sent, read):
                    text = error_of(r, 404)
                    assert text.replace(room, "NAME").startswith("no such room #NAME"), text
