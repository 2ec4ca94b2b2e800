"""Cluster-wide presence (core/presence.py) under real core services: node "here" with a
peer "there" fed by hand, on a clock the test moves; online counts, lists and join/leave
notices include the users of other nodes. The tables alone: test_presence.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.core.conftest import Core
from tests.core.presence_tables import Clock, send, table
from tests.helpers.sqlite_template import migrated_sqlite
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.away import Away
from torbit.core.events import (
    AwayChanged,
    NodeEvents,
    PresenceBeat,
    PresenceDetails,
    PresenceWanted,
    decode,
    encode,
)
from torbit.core.heartbeat import Heartbeat
from torbit.core.presence import ONLINE, Change, PresenceTable
from torbit.core.presence_details import AWAY_MAX, REALNAME_MAX, Details


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cluster(clock: Clock) -> PresenceTable:
    return PresenceTable("here", expiry=10, clock=clock)


async def test_online_counts_lists_and_notices_include_other_nodes(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    await core.user("alice")
    alice = await core.login("alice", "lobby")
    there = table("there", clock, expiry=10)
    there.local("lobby", "bob", "Bob", True)
    for beat in there.beats():
        changes, _ = cluster.apply(beat)
        for change in changes:
            core.sessions.announce_elsewhere(change)
    assert core.membership.online("lobby") == ["alice", "Bob"]
    assert core.membership.online_count("lobby") == 2
    assert "* Bob joined #lobby" in alice.lines
    rooms = await core.membership.my_rooms("alice")
    assert [(r.room.key, r.online) for r in rooms] == [("lobby", 2)]

    # bob's node dies: he goes offline here after the expiry, and the room is told
    clock.now += 11
    for change in cluster.expire():
        core.sessions.announce_elsewhere(change)
    assert core.membership.online("lobby") == ["alice"]
    assert alice.lines[-1] == "* Bob left #lobby"


async def test_leaving_one_node_while_online_on_another_is_no_leave(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    await core.user("alice")
    await core.user("carol")
    carol = await core.login("carol", "lobby")
    there = table("there", clock)
    there.local("lobby", "alice", "alice", True)
    for beat in there.beats():
        for change in cluster.apply(beat)[0]:
            core.sessions.announce_elsewhere(change)
    assert carol.lines[-1] == "* alice joined #lobby"
    seen = len(carol.lines)
    alice = await core.login("alice", "lobby")  # online there already: no second join
    await core.sessions.logout(alice)  # still online there: no leave
    assert carol.lines[seen:] == []
    assert core.membership.online("lobby") == ["alice", "carol"]
    there.local("lobby", "alice", "alice", False)  # the last session anywhere
    for beat in there.beats():
        for change in cluster.apply(beat)[0]:
            core.sessions.announce_elsewhere(change)
    assert carol.lines[seen:] == ["* alice left #lobby"]


def test_client_details_travel_with_the_users_bounded_and_go_with_them() -> None:
    """What IRC's WHOIS and WHO show of another node's user: sent after the beat that
    brought them, again when they change (`touch`), each field cut to its bound, and
    forgotten with the user; a snapshot sends everyone's."""
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    mine: dict[str, Details] = {"ivan": Details("ivan", "R" * 500, "irc", "", True)}
    b.describe = mine.get

    def deliver() -> int:
        send(b, a)
        events = b.described()
        for e in events:
            decoded = decode(encode(e, "b"))
            assert decoded is not None and isinstance(decoded[0], PresenceDetails)
            a.apply_details(decoded[0])
        return len(events)

    send(a, b)
    deliver()  # b's first beat: its snapshot, with everyone's details (nobody yet)
    b.local("lobby", "ivan", "Ivan", True)
    b.local("dev", "ivan", "Ivan", True)
    assert deliver() == 1
    got = a.details("ivan")
    assert got is not None and got.ident == "ivan" and got.door == "irc" and got.invisible
    assert got.realname == "R" * REALNAME_MAX and got.away == ""
    assert deliver() == 0  # nothing changed: nothing sent
    mine["ivan"] = Details("ivan", "Ivan", "irc", "x" * 1000)
    b.touch("ivan")
    assert deliver() == 1
    got = a.details("ivan")
    assert got is not None and got.away == "x" * AWAY_MAX and not got.invisible
    b.touch("nobody")  # not online there: nothing to send
    assert deliver() == 0
    b.resend()  # a snapshot: everyone's details again
    assert deliver() == 1
    b.local("lobby", "ivan", "Ivan", False)
    deliver()
    assert a.details("ivan") is not None  # still in #dev on b
    b.local("dev", "ivan", "Ivan", False)
    deliver()
    assert a.details("ivan") is None
    # malformed entries are skipped
    a.apply_details(PresenceDetails("b", (("only", "two"),)))


def test_a_case_change_and_a_real_name_told_at_once_update_the_table() -> None:
    """A DetailsChanged from b (core/away.py): a's table names the user in the new case in
    every room and takes the real name; b's own table names it so too, so its next
    snapshot says it. On main the table had no way to hear either but a beat's details."""
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    b.describe = {"ivan": Details("ivan", "Ivan", "irc")}.get
    send(a, b)
    b.local("lobby", "ivan", "ivan", True)
    b.local("dev", "ivan", "ivan", True)
    send(b, a)
    for e in b.described():
        a.apply_details(e)
    b.recase("ivan", "IVAN")
    a.recase("ivan", "IVAN")
    a.set_realname("b", "ivan", "New " * 100)
    assert a.user("ivan") == ("IVAN", ["dev", "lobby"])
    assert a.names("lobby") == ["IVAN"] and a.everyone() == [("ivan", "IVAN")]
    got = a.details("ivan")
    assert got is not None and got.realname == ("New " * 100)[:REALNAME_MAX]
    b.resend()
    c = table("c", clock)
    send(b, c)  # a new node hears the snapshot: the new case
    assert c.user("ivan") == ("IVAN", ["dev", "lobby"])
    a.set_realname("nowhere", "ivan", "x")  # an unknown node: nothing to update


async def test_an_away_change_from_another_node_is_told_here_at_once(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    """An away set on another node (core/away.py's event, through its wire encoding): the
    sessions here sharing one of the user's rooms are told once each, but not those who
    ignore the user nor those elsewhere; WHOIS here says so before that node's next beat."""
    Away(core.subscriptions, core.events)  # its handler is registered with the events
    for name in ("alice", "bob", "carol", "dave"):
        await core.user(name)
    alice = await core.login("alice", "lobby")
    await core.membership.join(alice, "dev")  # shares two rooms with bob: told once
    carol = await core.login("carol", "lobby")
    await core.ignores.ignore("carol", "bob")
    dave = await core.login("dave", "den")
    there = table("there", clock, expiry=10)
    there.local("lobby", "bob", "Bob", True)
    there.describe = {"bob": Details("bob", "Bob", "irc")}.get
    for beat in there.beats():
        cluster.apply(beat)
    for details in there.described():
        cluster.apply_details(details)
    assert core.subscriptions.away_of("bob") is None
    seen = [len(s.lines) for s in (alice, carol, dave)]

    event = AwayChanged("bob", "Bob", "at lunch", ("dev", "lobby"), "there")
    decoded = decode(encode(event, "there"))
    assert decoded is not None and decoded[0] == event
    core.events.apply(decoded[0])
    assert alice.lines[seen[0] :] == ["* Bob is away: at lunch"]
    assert carol.lines[seen[1] :] == [] and dave.lines[seen[2] :] == []
    assert core.subscriptions.away_of("bob") == "at lunch"  # not a beat later
    core.events.apply(AwayChanged("bob", "Bob", "", ("lobby",), "there"))
    assert alice.lines[-1] == "* Bob is back" and core.subscriptions.away_of("bob") is None


class Watching:
    """A MONITOR client, as the core sees it (core/monitor.py's Watcher)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, bool]] = []

    def monitored(self, name: str, online: bool) -> None:
        self.told.append((name, online))

    def monitored_notice(self, user_key: str, text: str) -> None:
        pass


async def test_a_watched_user_is_told_online_and_offline_on_any_node(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    """MONITOR's core: a user coming online here or on another node (its heartbeat, through
    services' handler of presence changes), and going offline everywhere, is told once each;
    leaving one node while online on the other is no change. On main there was no watching."""
    from torbit.services import _presence_changed

    def beat(source: PresenceTable) -> None:
        for changes, _ in send(source, cluster):
            for change in changes:
                _presence_changed(core.subscriptions, core.sessions, change)

    await core.user("alice")
    w = Watching()
    subs = core.subscriptions
    assert subs.monitor(w, "bob") is None and subs.monitor(w, "alice") is None
    there = table("there", clock, expiry=10)
    there.local("lobby", "bob", "Bob", True)
    beat(there)
    assert w.told == [("Bob", True)]
    there.local("den", "bob", "Bob", True)  # another room: still online, nothing to tell
    beat(there)
    assert w.told == [("Bob", True)]

    alice = await core.login("alice", None)  # here, in no room yet: online
    assert w.told[-1] == ("alice", True)
    there.local("lobby", "alice", "alice", True)
    beat(there)
    await core.sessions.logout(alice)  # still online there: no change
    assert w.told[-1] == ("alice", True)
    there.local("lobby", "alice", "alice", False)
    beat(there)
    assert w.told[-1] == ("alice", False)

    clock.now += 11  # bob's node dies: offline after its expiry
    for change in cluster.expire():
        _presence_changed(core.subscriptions, core.sessions, change)
    assert w.told == [("Bob", True), ("alice", True), ("alice", False), ("Bob", False)]
    subs.unmonitor(w, ["bob", "alice"])
    assert subs.monitored_users() == 0


# a user online in no room; a login before the other nodes' details; beats soon after a change


async def test_a_user_online_in_no_room_is_online_on_the_other_nodes(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    """A session in no room (an IRC client in no channel, a WebSocket subscribed to none)
    is online in the table's ONLINE pseudo-room: the other nodes find the user (WHOIS, ISON, MONITOR), with
    their details (their away), in no room; no room is told of it. On main such a user was
    not in the table: `there.user("alice")` was None."""
    from torbit.services import _presence_changed

    await core.user("alice")
    cluster.describe = core.subscriptions.details
    there = table("there", clock, expiry=10)
    for beat in there.beats():  # there's snapshot: nobody
        cluster.apply(beat)
    alice = await core.login("alice", None)  # in no room
    core.subscriptions.set_away("alice", "brb")
    send(cluster, there)
    for details in cluster.described():
        there.apply_details(details)
    assert there.user("alice") == ("alice", [])  # online, in no room
    assert there.everyone() == [("alice", "alice")]
    assert there.names(ONLINE) == ["alice"] and there.count("lobby") == 0
    got = there.details("alice")
    assert got is not None and got.away == "brb"
    await core.sessions.logout(alice)
    send(cluster, there)
    assert there.user("alice") is None

    # the other way: bob in no room there is online here, and no room is told of him
    await core.user("carol")
    carol = await core.login("carol", "lobby")
    w = Watching()
    assert core.subscriptions.monitor(w, "bob") is None
    seen = len(carol.lines)
    there.local(ONLINE, "bob", "Bob", True)
    for changes, _ in send(there, cluster):
        for change in changes:
            _presence_changed(core.subscriptions, core.sessions, change)
    assert w.told == [("Bob", True)]
    assert core.subscriptions.online_name("bob") == "Bob"
    assert core.subscriptions.rooms_elsewhere("bob") == []
    assert carol.lines[seen:] == []
    there.local(ONLINE, "bob", "Bob", False)
    for changes, _ in send(there, cluster):
        for change in changes:
            _presence_changed(core.subscriptions, core.sessions, change)
    assert w.told == [("Bob", True), ("Bob", False)]


def _details_from(there: PresenceTable, core: Core, cluster: PresenceTable) -> None:
    """there's beats and details reach here as the heartbeat would apply them."""
    send(there, cluster)
    for details in there.described():
        decoded = decode(encode(details, "there"))
        assert decoded is not None and isinstance(decoded[0], PresenceDetails)
        cluster.apply_details(decoded[0])
        core.events.apply(decoded[0])  # Away's handler


async def test_a_login_before_the_other_nodes_details_takes_their_away_when_they_come(
    core: Core, cluster: PresenceTable, clock: Clock
) -> None:
    """A user away on another node logs in here before that node's details of them came
    (this node just started, or they logged in there a moment ago): the details, when they
    come, make them away here too, and their sessions and the rooms here are told. An away
    change made since is not undone by details sent before it, nor are details trusted past
    the expiry. On main alice stayed back here while away there."""
    Away(core.subscriptions, core.events)
    for name in ("alice", "carol", "dave"):
        await core.user(name)
    carol = await core.login("carol", "lobby")
    alice = await core.login("alice", "lobby")
    assert core.subscriptions.away_of("alice") is None
    there = table("there", clock, expiry=10)
    mine = {"alice": Details(away="brb"), "dave": Details(away="gone")}
    there.describe = mine.get
    there.local("lobby", "alice", "alice", True)
    _details_from(there, core, cluster)
    assert core.subscriptions.away_of("alice") == "brb"
    assert alice.lines[-1] == "* you are marked away: brb"
    assert carol.lines[-1] == "* alice is away: brb"
    there.touch("alice")  # details again: already settled, nothing told twice
    _details_from(there, core, cluster)
    assert alice.lines.count("* you are marked away: brb") == 1

    # dave changes his away here before there's older details come: his change stands
    await core.login("dave", "lobby")
    core.events.apply(AwayChanged("dave", "dave", "at my desk", ("lobby",), core.events.origin))
    there.local("lobby", "dave", "dave", True)
    _details_from(there, core, cluster)
    assert core.subscriptions.away_of("dave") == "at my desk"
    assert not any("dave is away: gone" in line for line in carol.lines)

    # details that come after the expiry are old news: no node had the user then
    await core.user("erin")
    mine["erin"] = Details(away="zzz")
    erin = await core.login("erin", "lobby")
    clock.now += 11
    there.local("lobby", "erin", "erin", True)
    _details_from(there, core, cluster)
    assert core.subscriptions.away_of("erin") is None
    assert not any("away" in line for line in erin.lines)


async def test_a_change_is_beaten_soon_and_a_burst_of_them_in_one_beat(
    core: Core, cluster: PresenceTable
) -> None:
    """The heartbeat (core/heartbeat.py) beats soon after a change here, and answers a node
    asking for a snapshot soon, not an interval later (an hour here); a burst of changes
    goes out in one beat, not one each. On main nothing left before the interval's beat."""
    beats: list[PresenceBeat] = []
    core.events.on(PresenceBeat, beats.append)  # this node's own, applied here as sent
    heartbeat = Heartbeat(cluster, core.events, interval=3600)

    async def until_sent(n: int) -> None:
        async with asyncio.timeout(10):
            while len(beats) < n:
                await asyncio.sleep(0.01)

    await core.user("u0")
    await core.login("u0", "lobby")
    await until_sent(1)  # the first beat is a snapshot: u0 online, and in #lobby
    assert beats[0].reset and sorted(beats[0].came) == ["@ u0", "lobby u0"]
    for i in range(1, 30):  # changes while that beat may still be on its way
        cluster.local("lobby", f"u{i}", f"u{i}", True)
    await until_sent(2)
    assert len(beats[1].came) == 29 and not beats[1].reset
    core.events.apply(PresenceWanted(""))  # a node started: it gets a snapshot soon
    await until_sent(3)
    assert beats[2].reset and len(beats[2].came) == 31
    await heartbeat.stop()
    assert len(beats) == 4 and beats[3].bye


async def test_a_leave_on_another_node_waits_the_grace_like_a_disconnect_here(
    core: Core, cluster: PresenceTable
) -> None:
    """Other nodes' presence now comes soon (not a heartbeat later, when a reload there
    cancelled out in the beat): a leave there is told after `presence_grace_seconds`, and
    not at all if the user is back by then, as a disconnect here (a page reload)."""
    from torbit.core.sessions import Sessions

    await core.user("alice")
    alice = await core.login("alice", "lobby")
    graceful = Sessions(core.store, core.subscriptions, 100, grace=0.05)
    graceful.announce_elsewhere(Change("lobby", "bob", "Bob", True))
    assert alice.lines[-1] == "* Bob joined #lobby"
    seen = len(alice.lines)
    graceful.announce_elsewhere(Change("lobby", "bob", "Bob", False))  # a reload there
    graceful.announce_elsewhere(Change("lobby", "bob", "Bob", True))
    assert alice.lines[seen:] == []
    graceful.announce_elsewhere(Change("lobby", "carol", "Carol", False))  # later, for good
    async with asyncio.timeout(10):
        while alice.lines[seen:] == []:
            await asyncio.sleep(0.01)
    assert alice.lines[seen:] == ["* Carol left #lobby"]  # bob's leave was never told


@pytest.mark.parametrize("leaves", [False, True])
def test_a_rename_told_at_once_and_the_beats_after_it_agree(leaves: bool) -> None:
    """A guest's NICK alice -> carol on a, told at once (core/away.py): b moves a's entries
    of alice to carol, and a's next beat (alice went, carol came) changes nothing there;
    if carol leaves before that beat, the beat says she went (without `told_renamed` her
    came and went cancelled out, and b kept her for good)."""
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    send(a, b)
    a.local("lobby", "alice", "alice", True)
    send(a, b)
    assert b.names("lobby") == ["alice"]
    a.told_renamed("alice", "carol")  # before a's own entries change, as Guests.rename does
    assert b.rename("a", "alice", "carol", "carol")
    assert b.names("lobby") == ["carol"] and b.user("alice") is None
    assert not b.rename("a", "alice", "carol", "carol")  # once only
    a.local("lobby", "alice", "alice", False)
    a.local("lobby", "carol", "carol", True)
    if leaves:
        a.local("lobby", "carol", "carol", False)
    changes = [c for got, _ in send(a, b) for c in got]
    if leaves:
        assert [(c.user, c.online) for c in changes] == [("carol", False)]
        assert b.names("lobby") == []
    else:
        assert changes == [] and b.names("lobby") == ["carol"]


async def test_a_lapsed_node_is_reclaimed_by_the_first_node_alive_only(
    core: Core, clock: Clock
) -> None:
    """What a dead node left (its guests: core/guests.py) is reclaimed by one survivor, the
    one whose id sorts first among the nodes it knows alive (alone, a node is the first),
    and only once its own beats have been leaving for an expiry: a node cut off from the
    log sees every other node lapse."""
    runs: dict[str, int] = {}

    def survivor(node: str) -> tuple[PresenceTable, Heartbeat]:
        t = table(node, clock, expiry=10)
        runs[node] = 0

        async def reclaim() -> None:
            runs[node] += 1

        return t, Heartbeat(t, core.events, interval=3600, reclaim=reclaim)

    async def beat_and_sweep() -> None:
        for hb in (hb_b, hb_c):
            assert await hb.beat()
            hb.sweep()
        await asyncio.sleep(0)

    (b, hb_b), (c, hb_c) = survivor("node-b"), survivor("node-c")
    dead, alive = table("node-a", clock, expiry=5), table("node-0", clock, expiry=60)
    dead.local("lobby", "ghost", "ghost", True)
    send(dead, b, c)
    send(alive, c)  # c knows node-0, alive and sorting before it; b knows only node-a
    await beat_and_sweep()
    clock.now += 6  # node-a's beats lapse; node-0's do not
    await beat_and_sweep()
    assert runs == {"node-b": 0, "node-c": 0}  # b's beats have not left for an expiry yet
    clock.now += 5
    await beat_and_sweep()
    assert runs == {"node-b": 1, "node-c": 0}  # owed, now paid: by b only
    clock.now += 1
    await beat_and_sweep()
    assert runs["node-b"] == 1  # once a lapse, not every sweep


async def test_a_node_whose_beats_fail_takes_nobody_for_dead(tmp_path: Path, clock: Clock) -> None:
    """A node cut off from the log sees every other node lapse: it must not reclaim their
    guests (they may be online there). Its log here is closed, so every beat fails."""
    migrated_sqlite(tmp_path / "cut.db")
    store = SqlStore(f"sqlite:///{tmp_path}/cut.db")
    await store.open()
    log = SqlLog(store)
    await log.start(lambda *_: None, lambda *_: None)
    await log.close()
    runs: list[float] = []

    async def reclaim() -> None:
        runs.append(clock.now)

    here = table("node-b", clock, expiry=10)
    heartbeat = Heartbeat(here, NodeEvents(log), interval=3600, reclaim=reclaim)
    send(table("node-a", clock, expiry=5), here)
    try:
        for _ in range(5):
            clock.now += 6
            assert not await heartbeat.beat()
            heartbeat.sweep()
            await asyncio.sleep(0)
        assert here.nodes() == [] and runs == []
    finally:
        await store.close()
