"""Guests in the core, without a socket: accounts that live as long as their connection, the
rooms they found (ownerless, run by their admins, gone once empty), what they may write to
whom, renaming, and a room or inbox that never shows what an earlier one of its name held."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tests.core.conftest import Core, Recorder
from tests.helpers.sqlite_template import migrated_sqlite
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core import guests as guests_module
from torbit.core.accounts import Accounts
from torbit.core.events import NodeEvents
from torbit.core.guests import Guests, Swept
from torbit.core.hashing import PasswordHashing
from torbit.core.heartbeat import Heartbeat
from torbit.core.limits import RateLimiter
from torbit.core.models import Role
from torbit.core.mutes import Mutes
from torbit.core.presence import PresenceTable
from torbit.core.throttle import NETWORK_SHARE
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)


@pytest.fixture
def guests(core: Core) -> Guests:
    return Guests(core.store, core.subscriptions, core.sessions, core.membership, Mutes())


async def guest(core: Core, guests: Guests, nick: str, room: str | None = None) -> Recorder:
    await guests.admit(nick)
    return await core.login(nick, room)


async def test_a_guest_holds_its_name_while_connected_and_no_password_opens_it(
    core: Core, guests: Guests
) -> None:
    await core.user("tina")
    with pytest.raises(Conflict):
        await guests.admit("Tina")  # a registered name
    with pytest.raises(Forbidden):
        await guests.admit("NickServ")  # a reserved one
    with pytest.raises(InvalidInput):
        await guests.admit("no spaces")
    user = await guests.admit("gus")
    assert user.is_guest
    with pytest.raises(Conflict):
        await guests.admit("GUS")  # another guest's
    accounts = Accounts(
        core.store,
        registration_open=True,
        min_password_length=1,
        hashing=PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
    )
    for password in ("", "!guest", "x"):
        with pytest.raises(AuthenticationFailed):
            await accounts.authenticate("gus", password)
    with pytest.raises(Conflict):
        await accounts.register("gus", "secret-pw")
    await guests.release("gus")
    assert await core.store.get_user("gus") is None
    await accounts.register("gus", "secret-pw")  # free again
    await guests.release("gus")  # an account is never released as a guest
    assert await core.store.get_user("gus") is not None


async def test_a_guests_room_has_no_owner_and_its_admins_run_it(core: Core, guests: Guests) -> None:
    await core.user("tina")
    gus = await guest(core, guests, "gus", "den")
    room = await core.membership.room("den")
    assert room.owner is None
    assert await core.membership.roles(room) == {"gus": Role.ADMIN}
    tina = await core.login("tina", "den")
    await core.moderation.op("gus", "den", "tina")  # the owner's right, in an ownerless room
    await core.moderation.update("gus", "den", private=True)
    assert "* gus made tina an admin of #den" in tina.lines
    await core.moderation.deop("tina", "den", "gus")  # admins of an ownerless room are peers
    with pytest.raises(Forbidden):
        await core.moderation.kick("gus", "den", "tina")
    del gus


async def test_the_default_room_keeps_its_owner_rights_for_server_admins(
    core: Core, guests: Guests
) -> None:
    await core.user("root", admin=True)
    await core.user("tina")
    await core.login("root")
    await core.login("tina")
    await core.moderation.op("root", "lobby", "tina")
    with pytest.raises(Forbidden):
        await core.moderation.update("tina", "lobby", private=True)


async def test_released_guests_take_their_empty_rooms_with_them(core: Core, guests: Guests) -> None:
    await core.user("tina")
    gus = await guest(core, guests, "gus", "den")
    await core.membership.join(gus, "hall")
    await core.messaging.send("gus", "den", "den's first message")
    tina = await core.login("tina", "hall")  # an account stays a member of #hall
    await core.sessions.logout(gus)
    await guests.release("gus")
    assert await core.store.get_room("den") is None
    hall = await core.store.get_room("hall")
    assert hall is not None and hall.owner is None
    # a new #den shows nothing of the old one
    ann = await guest(core, guests, "ann", "den")
    assert ann.texts() == []
    assert await core.messaging.history("ann", "den") == []
    assert await core.messaging.receive("ann", "den") == []
    del tina


async def test_leaving_an_ownerless_room_last_deletes_it(core: Core, guests: Guests) -> None:
    gus = await guest(core, guests, "gus", "den")
    await core.membership.leave("gus", "den")
    assert await core.store.get_room("den") is None
    await core.membership.join(gus, "lobby")
    await core.membership.leave("gus", "lobby")  # the default room stays
    assert await core.store.get_room("lobby") is not None
    del gus


async def test_a_guest_writes_to_an_account_only_in_answer(core: Core, guests: Guests) -> None:
    await core.user("tina")
    tina = await core.login("tina")
    gus = await guest(core, guests, "gus")
    await guest(core, guests, "ann")
    await core.messaging.send_private("gus", "ann", "guests write to guests")
    with pytest.raises(Forbidden):
        await core.messaging.send_private("gus", "tina", "spam")
    await core.messaging.send_private("tina", "gus", "hello guest")
    await core.messaging.send_private("gus", "tina", "hello back")
    assert tina.texts()[-1] == "<gus> hello back"
    del gus


async def test_a_guest_inbox_never_shows_an_earlier_guests_messages(
    core: Core, guests: Guests
) -> None:
    await core.user("tina")
    gus = await guest(core, guests, "gus")
    await core.messaging.send_private("tina", "gus", "for the first gus")
    await core.sessions.logout(gus)
    await guests.release("gus")
    await guest(core, guests, "gus")
    assert await core.messaging.private_history("gus") == []
    assert await core.messaging.conversation("gus", "tina") == []
    with pytest.raises(Forbidden):  # the answer rule starts again too
        await core.messaging.send_private("gus", "tina", "remember me?")


async def test_a_guest_renamed_keeps_its_rooms_and_rights(core: Core, guests: Guests) -> None:
    await core.user("tina")
    gus = await guest(core, guests, "gus", "den")
    tina = await core.login("tina", "den")
    name = await guests.rename(gus, "gus", "gustav")
    assert name == "gustav" and gus.user_key == "gustav"
    assert "* gus is now known as gustav" in tina.lines
    assert await core.store.get_user("gus") is None
    room = await core.membership.room("den")
    assert await core.membership.roles(room) == {"gustav": Role.ADMIN}
    assert "gustav" in core.membership.online("den")
    await core.messaging.send("gustav", "den", "same room, new name")
    assert gus.texts()[-1] == "<gustav> same room, new name"
    with pytest.raises(Conflict):
        await guests.rename(gus, "gustav", "tina")
    with pytest.raises(NotFound):
        await core.moderation.kick("gustav", "den", "gus")


async def test_a_guest_cannot_take_a_name_that_reads_like_a_taken_or_reserved_one(
    core: Core, guests: Guests
) -> None:
    """Without it a guest passed for an account in every chat line: `aIice` (capital i)."""
    await core.user("alice")
    await core.user("mary")
    for lookalike in ("aIice", "a1ice", "rnary"):
        with pytest.raises(Conflict):
            await guests.admit(lookalike)
    await guests.admit("bill")
    with pytest.raises(Conflict):
        await guests.admit("biII")  # another guest's too
    for reserved in ("ADMlN", "r00t", "moderator", "N1ckServ"):  # the accounts' and guests' lists
        with pytest.raises(Forbidden):
            await guests.admit(reserved)
    with pytest.raises(Forbidden):
        await guests.rename(await core.login("bill", None), "bill", "r00t")
    assert (await guests.admit("alice_")).is_guest  # an IRC client's next choice stays free
    assert [u.key for u in await core.store.users_named_like("aiice", "")] == []


async def test_a_guest_joins_the_default_room_beside_a_look_alike_made_first(
    core: Core, guests: Guests
) -> None:
    """The default room is exempt from the skeleton rule for everyone: a guest's first join
    of it, with only `Iobby` (capital i) in the store, was refused as reading like it."""
    await core.user("tina")
    await core.login("tina", "Iobby")
    gus = await guest(core, guests, "gus", "lobby")
    room = await core.membership.room("lobby")
    assert room.owner is None  # the server's, not the guest's founding
    assert await core.membership.roles(room) == {}
    assert "gus" in core.membership.online("lobby")
    assert await core.store.get_room("iobby") is not None
    del gus


async def test_the_sweep_deletes_a_dead_nodes_guests_and_keeps_a_cut_off_ones(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nodes a, b and c share the store. c died: its guests are online nowhere and its lease
    lapsed. b is cut off from the log: a hears of none of its users, but b renews its lease
    through the store, and its guests, still connected there, stay until that lapses too
    (on main a deleted them at once). The sweep reads pages of guests (two here), and never
    an account."""
    monkeypatch.setattr(guests_module, "SWEEP_PAGE", 2)
    start = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    clock = [start]

    def node(name: str) -> Guests:
        return Guests(
            core.store, core.subscriptions, core.sessions, core.membership, Mutes(),
            node=name, now=lambda: clock[0],
        )  # fmt: skip

    a, b, c = node("node-a"), node("node-b"), node("node-c")
    await core.user("acct")
    for nick in ("a_on", "a_off"):
        await a.admit(nick)
    for nick in ("b1", "b2"):
        await b.admit(nick)
    for nick in ("c1", "c2", "c3"):
        await c.admit(nick)
    await c.lease()  # c's last, before it died
    clock[0] = start + timedelta(minutes=10)
    await a.lease()
    await b.lease()

    def online(key: str) -> bool:  # what a's presence table says
        return key == "a_on"

    swept = await a.sweep_stale(online, start + timedelta(minutes=5))
    assert swept == Swept(deleted=4, kept=2)  # a_off: a's own, not online here
    left = {u.key for u in await core.store.list_users()}
    assert left == {"acct", "a_on", "b1", "b2"}

    swept = await a.sweep_stale(online, start + timedelta(minutes=15))  # b's lease lapsed
    assert swept == Swept(deleted=2, kept=0)
    assert {u.key for u in await core.store.list_users()} == {"acct", "a_on"}


async def test_a_node_whose_beats_fail_still_renews_its_lease(core: Core, tmp_path: Path) -> None:
    """Cut off from the log (closed here: every beat fails), a node goes on renewing its
    lease through the store every interval: what keeps its guests from the others' sweeps."""
    migrated_sqlite(tmp_path / "cut.db")
    elsewhere = SqlStore(f"sqlite:///{tmp_path}/cut.db")  # the log's own, closed
    await elsewhere.open()
    log = SqlLog(elsewhere)
    await log.start(lambda *_: None, lambda *_: None)
    await log.close()
    await elsewhere.close()
    here = Guests(
        core.store, core.subscriptions, core.sessions, core.membership, Mutes(), node="node-a"
    )
    renewals: list[datetime] = []

    async def lease() -> None:
        await here.lease()
        renewals.append(datetime.now(UTC))

    table = PresenceTable("node-a", expiry=10)
    heartbeat = Heartbeat(table, NodeEvents(log), interval=0.01, lease=lease)
    started = datetime.now(UTC)
    await heartbeat.start()
    running = asyncio.create_task(heartbeat.run())
    try:
        async with asyncio.timeout(60):  # a hang guard, not a measure
            while len(renewals) < 3:
                await asyncio.sleep(0.01)
        assert not await heartbeat.beat()  # the log refuses the beats
        assert not heartbeat.connected()  # a reclaim running over several sweeps stops
        assert await core.store.nodes_seen_since(started) == ["node-a"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await heartbeat.stop()


def per_address_guests(core: Core, per_address: int) -> Guests:
    limiter = RateLimiter(per_address / 60.0, per_address)
    return Guests(
        core.store, core.subscriptions, core.sessions, core.membership, Mutes(),
        per_address=limiter,
    )  # fmt: skip


async def test_guests_from_the_64s_of_one_ipv6_48_are_bounded_together(core: Core) -> None:
    """An IPv6 attacker with a /48 has 65,536 /64s, each its own `guests_per_address`
    bucket: they are now also counted together, NETWORK_SHARE times as many per /48. Another
    /48 has its own; the bucket of one /64 still holds within it."""
    guests = per_address_guests(core, 2)
    limit = 2 * NETWORK_SHARE
    for i in range(limit):  # one guest from each of as many /64s
        await guests.admit(f"g{i}", f"2001:db8:7:{i:x}::1")
    with pytest.raises(RateLimited, match="guests from your address"):
        await guests.admit("past", f"2001:db8:7:{limit:x}::1")
    assert await core.store.get_user("past") is None
    await guests.admit("other", "2001:db8:8::1")  # another /48
    await guests.admit("other2", "2001:db8:8::2")
    with pytest.raises(RateLimited):  # that /64's own two are spent
        await guests.admit("other3", "2001:db8:8::3")


TEREDO = ("2001:0:4136:e378:8000:63bf:3fff:fdf6", "2001:0:cb00:7101:8000:63bf:3fff:fdf6")


@pytest.mark.parametrize(
    "ipv6", ["2002:c000:209::1", "2002:c000:209:ffff::9", "64:ff9b::c000:209", *TEREDO]
)
async def test_a_6to4_nat64_or_teredo_guest_counts_as_its_ipv4_address(
    core: Core, ipv6: str
) -> None:
    """A 6to4 address (2002::/16) is the /48 of one IPv4 address, and NAT64 (64:ff9b::/96)
    writes one in its last 32 bits: each counts as that IPv4 address, as an IPv4-mapped one
    does, not as a fresh /64 (6to4 gave one IPv4 client 65,536 buckets). So does Teredo
    (2001:0::/32, the client's address inverted in the last 32 bits): its /64 is the relay
    server's, so one client had a fresh bucket per server (both above are 192.0.2.9)."""
    guests = per_address_guests(core, 2)
    await guests.admit("v4", "192.0.2.9")
    await guests.admit("mapped", "::ffff:192.0.2.9")
    with pytest.raises(RateLimited, match="guests from your address"):
        await guests.admit("tunneled", ipv6)
