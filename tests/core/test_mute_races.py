"""A mute and an unmute of one user racing (alice and her room admin carol at once, on any
door or node): the store keeps the one written last, and every node's copy the one whose
event came last. When the unmute's write came after the mute's, but its event before, the
store had no mute while every node refused bob, and a second unmute said "bob is not
muted": nobody could lift it but its end (attack58, up to 30 days)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.core.conftest import Core
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import eventually
from torbit.core.guests import Guests
from torbit.core.models import AuditEntry, Mute
from torbit.errors import Forbidden, NotFound


async def test_an_unmute_overtaking_the_mute_it_lifted_leaves_nobody_stuck(core: Core) -> None:
    await hall(core)
    # alice's mute is written, then held at its audit entry while carol's unmute runs whole
    held, go = asyncio.Event(), asyncio.Event()
    add_audit = core.store.add_audit

    async def audit(entry: AuditEntry) -> AuditEntry:
        if entry.action == "mute":
            held.set()
            await go.wait()
        return await add_audit(entry)

    async def muting() -> None:
        await core.moderation.mute("alice", "hall", "bob", 600)

    core.store.add_audit = audit  # type: ignore[method-assign]
    mute = asyncio.create_task(muting())
    await held.wait()
    assert await core.moderation.unmute("carol", "hall", "bob") == "bob"
    go.set()
    await mute
    # the unmute's write came last, its event first: the store has no mute, and neither has
    # any node's copy (this one's) once the mute's event is read back from the store (mute58;
    # attack58 found bob refused on every node, and the unmute he needed answered "not muted")
    assert not await core.store.active_mutes(datetime.now(UTC))
    assert not core.mutes.silenced("hall", "bob")
    await core.messaging.send("bob", "hall", "may I speak?")
    with pytest.raises(NotFound, match="bob is not muted in #hall"):
        await core.moderation.unmute("alice", "hall", "bob")


async def hall(core: Core) -> None:
    """#hall of alice's, where carol is a room admin and bob a member."""
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    await core.moderation.create("alice", "hall")
    for name in ("bob", "carol"):
        await core.membership.become_member(name, "hall")
    await core.moderation.op("alice", "hall", "carol")


async def store_and_node(core: Core) -> tuple[datetime | None, datetime | None]:
    """bob's mute in #hall as the store kept it and as this node keeps it."""
    now = datetime.now(UTC)
    kept = [m.until for m in await core.store.active_mutes(now) if m.user_key == "bob"]
    return (kept[0] if kept else None), held_here(core)


def audited(action: str, actor: str) -> Callable[[AuditEntry], bool]:
    return lambda entry: entry.action == action and entry.actor == actor


@pytest.mark.parametrize("held", ["carol", "alice"])
async def test_two_mutes_at_once_leave_every_node_with_the_one_the_store_kept(
    core: Core, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    """carol mutes bob for 10 minutes, alice for 600, at once (two doors or nodes): the one
    held between its write and its event (at its audit entry) is written first and heard
    last. On main the store kept the other (alice's 600 when carol's was held) and every
    node the held one (10): bob spoke after 10 minutes, and a node restarted later muted him
    again for the rest."""
    await hall(core)
    minutes = {"carol": 10, "alice": 600}
    other = "alice" if held == "carol" else "carol"
    gate = HeldCall(monkeypatch, core.store, "add_audit", when=audited("mute", held))
    first = asyncio.create_task(act(core, held, minutes[held]))
    await gate.until_reached()
    last = await core.moderation.mute(other, "hall", "bob", minutes[other])
    gate.let_go()
    await first  # answered once its event was applied here, and read back
    kept, here = await store_and_node(core)
    assert kept == last  # the store kept the write that came last: `other`'s
    assert here == kept
    with pytest.raises(Forbidden, match=f"for {minutes[other]} more minutes"):
        await core.messaging.send("bob", "hall", "hello")


async def test_an_unmute_written_first_but_heard_last_leaves_the_mute_the_store_kept(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob muted 5 minutes; carol unmutes him (written, held before its event) while alice
    mutes him for 600: the store keeps alice's 600, and on main every node lifted it on
    the unmute's event: bob spoke for ten hours, but not on a node restarted meanwhile."""
    await hall(core)
    await core.moderation.mute("alice", "hall", "bob", 5)
    gate = HeldCall(monkeypatch, core.store, "add_audit", when=audited("unmute", "carol"))

    async def unmuting() -> str:
        return await core.moderation.unmute("carol", "hall", "bob")

    unmute = asyncio.create_task(unmuting())
    await gate.until_reached()
    until = await core.moderation.mute("alice", "hall", "bob", 600)
    gate.let_go()
    assert await unmute == "bob"
    await eventually(lambda: core.mutes.silenced("hall", "bob"))  # the unmute's read back
    assert await store_and_node(core) == (until, until)
    with pytest.raises(Forbidden, match="for 600 more minutes"):
        await core.messaging.send("bob", "hall", "hello")


async def test_rounds_of_acts_at_once_end_with_the_store_and_the_node_agreeing(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of two acts on bob's mute, one held between its write and its event while the
    other runs whole: every pair of mute (10 or 600 minutes) and unmute, either one held.
    On main the node ended with the held act's mute while the store kept the other's."""
    await hall(core)
    acts: list[tuple[str, int]] = [("carol", 10), ("alice", 600), ("carol", 0), ("alice", 0)]
    disagreed, rounds = [], 0
    for first, second in itertools.permutations(acts, 2):
        if first[0] == second[0]:
            continue  # one moderator's acts come in order
        rounds += 1
        await core.moderation.mute("alice", "hall", "bob", 1)  # something to unmute
        action = "mute" if first[1] else "unmute"
        gate = HeldCall(monkeypatch, core.store, "add_audit", when=audited(action, first[0]))
        held = asyncio.create_task(act(core, *first))
        await gate.until_reached()
        await act(core, *second)
        gate.let_go()
        await held
        monkeypatch.undo()
        kept, _ = await store_and_node(core)
        try:
            await eventually(agrees(core, kept), timeout=5)
        except TimeoutError:
            disagreed.append((first, second, kept, held_here(core)))
    assert not disagreed, f"{len(disagreed)} of {rounds} rounds: {disagreed}"


async def act(core: Core, actor: str, minutes: int) -> None:
    """A mute of bob for `minutes`, or with 0 an unmute (which may find none: its write
    removed nothing)."""
    if minutes:
        await core.moderation.mute(actor, "hall", "bob", minutes)
        return
    with contextlib.suppress(NotFound):
        await core.moderation.unmute(actor, "hall", "bob")


def agrees(core: Core, kept: datetime | None) -> Callable[[], bool]:
    """This node keeps the mute the store `kept`."""
    return lambda: held_here(core) == kept


def held_here(core: Core) -> datetime | None:
    """bob's mute in #hall as this node keeps it."""
    return core.mutes.until("hall", "bob", datetime.now(UTC))


async def two_unmutes_at_once(core: Core, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """carol's unmute of `name` in #hall held at its audit entry while alice's runs whole:
    alice is told `name` is not muted, and carol's, let go, answers that it lifted it."""
    gate = HeldCall(monkeypatch, core.store, "add_audit", when=audited("unmute", "carol"))

    async def unmuting() -> str:
        return await core.moderation.unmute("carol", "hall", name)

    first = asyncio.create_task(unmuting())
    await gate.until_reached()
    try:
        with pytest.raises(NotFound, match=f"{name} is not muted in #hall"):
            await core.moderation.unmute("alice", "hall", name)
    finally:
        gate.let_go()
        assert await first == name


async def unmuted_by(core: Core) -> list[str]:
    """Who #hall's audit says unmuted someone, newest first."""
    return [e.actor for e in await core.store.list_audit("hall", 10) if e.action == "unmute"]


async def test_of_two_unmutes_at_once_one_lifts_the_mute_and_the_other_finds_none(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """carol's unmute removes bob's mute from the store, then is held before its event
    (at its audit entry) while alice's unmute runs whole (two doors, or two nodes whose
    events are on their way): the store has none, this node still holds it. On main both
    answered done (attack58's answer for a mute the store has not); unmute59: one lifts it,
    the other is told bob is not muted, and he is free once the first's event is applied."""
    await hall(core)
    await core.moderation.mute("alice", "hall", "bob", 600)
    await two_unmutes_at_once(core, monkeypatch, "bob")
    assert await store_and_node(core) == (None, None)
    await core.messaging.send("bob", "hall", "may I speak?")
    assert await unmuted_by(core) == ["carol"]


async def test_a_mute_no_read_found_is_still_lifted_by_an_unmute(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """attack58's case with the mute's read back failing (the store down a moment): carol's
    unmute removed the row before alice's mute event came, so this node holds a mute no
    read of the store found. unmute59 keeps attack58's answer for it: an unmute lifts it."""
    await hall(core)
    gate = HeldCall(monkeypatch, core.store, "add_audit", when=audited("mute", "alice"))
    mute = asyncio.create_task(act(core, "alice", 600))
    await gate.until_reached()
    assert await core.moderation.unmute("carol", "hall", "bob") == "bob"
    active_mutes = core.store.active_mutes

    async def failing(now: datetime, of: tuple[str, str] | None = None) -> list[Mute]:
        if of is not None:
            raise ConnectionError("the store is down")
        return await active_mutes(now)

    monkeypatch.setattr(core.store, "active_mutes", failing)
    gate.let_go()
    await mute
    assert core.mutes.silenced("hall", "bob")  # the event's mute stands: its read failed
    assert await core.moderation.unmute("alice", "hall", "bob") == "bob"
    assert not core.mutes.silenced("hall", "bob")
    await core.messaging.send("bob", "hall", "may I speak?")


async def test_of_two_unmutes_at_once_of_a_renamed_guest_one_finds_none(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """heal59: the guest gus, muted 600 minutes in #hall, renames itself gustav: the rename
    carries the mute it read from the store, but held it here as no read had found it. Of
    two unmutes at once of gustav (carol's held between its write and its event) both
    answered done, as attack58's answer for a mute the store has not. Now the carried mute
    is backed: one lifts it, the other is told gustav is not muted, the room hears it once."""
    await hall(core)
    guests = Guests(core.store, core.subscriptions, core.sessions, core.membership, core.mutes)
    await guests.admit("gus")
    gus = await core.login("gus", "hall")
    bob = await core.login("bob", "hall")
    await core.moderation.mute("alice", "hall", "gus", 600)
    assert await guests.rename(gus, "gus", "gustav") == "gustav"
    assert core.mutes.silenced("hall", "gustav")
    await two_unmutes_at_once(core, monkeypatch, "gustav")
    assert not core.mutes.silenced("hall", "gustav")
    await core.messaging.send("gustav", "hall", "may I speak?")
    assert await unmuted_by(core) == ["carol"]
    told = [line for line in bob.lines if "may speak in #hall again" in line]
    assert told == ["* gustav may speak in #hall again"]
