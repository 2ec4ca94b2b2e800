"""Cluster-wide presence (core/presence.py): tables of two or three nodes exchanging their
beats by hand, on a clock the test moves. The table under the core services:
test_presence_nodes.py."""

from __future__ import annotations

from tests.core.presence_tables import Clock, send, table
from torbit.core.presence import Change


def test_a_user_on_another_node_counts_once_however_many_nodes_have_them() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    a.local("lobby", "alice", "Alice", True)
    b.local("lobby", "bob", "bob", True)
    b.local("lobby", "alice", "Alice", True)
    send(a, b)
    send(b, a)
    assert a.names("lobby") == b.names("lobby") == ["Alice", "bob"]
    assert a.count("lobby") == b.count("lobby") == 2
    assert a.elsewhere("lobby", "alice") and a.elsewhere("lobby", "bob")
    assert not a.elsewhere("lobby", "carol")
    # alice leaves b: still online in lobby, on a
    b.local("lobby", "alice", "Alice", False)
    [(changes, ask)] = send(b, a)
    assert changes == [] and not ask
    assert a.names("lobby") == ["Alice", "bob"]
    assert not a.elsewhere("lobby", "alice")


def test_a_user_is_found_by_name_with_their_rooms_on_every_node_until_gone() -> None:
    """What IRC's WHOIS, ISON, USERHOST and WHO nick ask of another node's users."""
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    b.local("lobby", "bob", "Bob", True)
    b.local("dev", "bob", "Bob", True)
    a.local("ops", "bob", "Bob", True)  # bob on both nodes
    assert a.user("bob") == ("Bob", ["ops"])
    send(b, a)
    assert a.user("bob") == ("Bob", ["dev", "lobby", "ops"])
    assert a.user("carol") is None
    a.local("ops", "bob", "Bob", False)
    b.local("lobby", "bob", "Bob", False)
    send(b, a)
    assert a.user("bob") == ("Bob", ["dev"])
    clock.now += 60  # b goes silent: forgotten with its users
    a.expire()
    assert a.user("bob") is None


def test_changes_travel_as_deltas_and_a_quiet_node_sends_an_empty_beat() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    for n in range(50):
        a.local("lobby", f"u{n}", f"u{n}", True)
    send(a, b)  # the first beat: a full snapshot
    a.local("lobby", "u1", "u1", False)
    a.local("dev", "u2", "u2", True)
    a.local("dev", "u3", "u3", True)
    a.local("dev", "u3", "u3", False)  # came and went between two beats: not sent at all
    [beat] = a.beats()
    assert not beat.reset
    assert beat.came == ("dev u2",) and beat.went == ("lobby u1",)
    b.apply(beat)
    assert b.count("lobby") == 49 and b.names("dev") == ["u2"]
    [quiet] = a.beats()
    assert quiet.came == quiet.went == () and quiet.seq == beat.seq + 1
    assert b.apply(quiet) == ([], False)


def test_changes_in_the_cluster_are_reported_once() -> None:
    clock = Clock()
    a, b, c = table("a", clock), table("b", clock), table("c", clock)
    b.local("lobby", "alice", "alice", True)
    c.local("lobby", "alice", "alice", True)
    [(came, _)] = send(b, a)
    assert came == [Change("lobby", "alice", "alice", True)]
    [(again, _)] = send(c, a)
    assert again == []  # already online here, through b
    b.local("lobby", "alice", "alice", False)
    [(left_b, _)] = send(b, a)
    assert left_b == []  # still on c
    c.local("lobby", "alice", "alice", False)
    [(gone, _)] = send(c, a)
    assert gone == [Change("lobby", "alice", "alice", False)]
    # a local change is reported only when it changes the cluster's presence
    assert a.local("lobby", "bob", "bob", True) == Change("lobby", "bob", "bob", True)
    b.local("lobby", "carol", "carol", True)
    send(b, a)
    assert a.local("lobby", "carol", "carol", True) is None


def test_a_silent_node_is_forgotten_after_its_expiry() -> None:
    clock = Clock()
    a, b = table("a", clock, expiry=15), table("b", clock, expiry=6)
    b.local("lobby", "bob", "bob", True)
    b.local("dev", "bob", "bob", True)
    a.local("lobby", "alice", "alice", True)
    send(b, a)
    assert a.nodes() == ["b"]
    clock.now += 5.9  # b's own expiry (6 s) rules, not a's
    assert a.expire() == []
    send(b, a)  # a beat renews it
    clock.now += 5.9
    assert a.expire() == [] and a.count("lobby") == 2
    clock.now += 0.2  # b is silent (killed) past its expiry
    gone = a.expire()
    assert sorted((c.room, c.user, c.online) for c in gone) == [
        ("dev", "bob", False),
        ("lobby", "bob", False),
    ]
    assert a.names("lobby") == ["alice"] and a.count("dev") == 0 and a.nodes() == []


def test_a_node_stopping_cleanly_is_dropped_at_once() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    b.local("lobby", "bob", "bob", True)
    send(b, a)
    changes, _ = a.apply(b.goodbye())
    assert changes == [Change("lobby", "bob", "bob", False)] and a.nodes() == []


def test_a_missed_beat_or_an_unknown_node_asks_for_a_snapshot_that_repairs_the_table() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    b.local("lobby", "bob", "bob", True)
    b.local("lobby", "ben", "ben", True)
    b.beats()  # lost: a never hears the snapshot
    b.local("lobby", "bea", "bea", True)
    b.local("lobby", "ben", "ben", False)
    [(_, ask)] = send(b, a)
    assert ask  # a beat from a node a does not know
    assert a.names("lobby") == ["bea"]  # what the delta said; bob is missing
    b.local("lobby", "bo", "bo", True)
    [(_, again)] = send(b, a)
    assert not again  # asked already: not again before the expiry
    b.resend()  # b heard the request (PresenceWanted)
    send(b, a)
    assert a.names("lobby") == ["bea", "bo", "bob"]
    # a gap in a known node's beats asks again, once the earlier request is old enough
    clock.now += 20
    b.beats()
    [(_, gap)] = send(b, a)
    assert gap


def test_a_snapshot_in_chunks_replaces_what_was_known_without_flapping() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock, chunk=3)
    names = [f"u{n}" for n in range(8)]
    for name in names:
        b.local("lobby", name, name, True)
    beats = b.beats()
    assert [len(x.came) for x in beats] == [3, 3, 2]
    assert [x.reset for x in beats] == [True, False, False]
    assert [x.more for x in beats] == [True, True, False]
    for x in beats:
        a.apply(x)
    assert a.count("lobby") == 8
    # b's state changes while a misses it; the next snapshot brings a exactly up to date,
    # reporting only the real differences
    b.beats()  # lost
    b.local("lobby", "u0", "u0", False)
    b.local("lobby", "new", "new", True)
    b.resend()
    changes = [c for x in b.beats() for c in a.apply(x)[0]]
    assert sorted((c.user, c.online) for c in changes) == [("new", True), ("u0", False)]
    assert a.names("lobby") == sorted([*names[1:], "new"])


def test_more_changes_than_entries_become_a_snapshot() -> None:
    clock = Clock()
    a, b = table("a", clock), table("b", clock, chunk=4)
    for n in range(10):
        b.local("lobby", f"u{n}", f"u{n}", True)
    send(b, a)
    for n in range(8):  # most leave before the next beat: the list left is the smaller message
        b.local("lobby", f"u{n}", f"u{n}", False)
    [beat] = b.beats()
    assert beat.reset and beat.came == ("lobby u8", "lobby u9") and beat.went == ()
    a.apply(beat)
    assert a.names("lobby") == ["u8", "u9"]


def test_a_nodes_own_beats_are_ignored() -> None:
    clock = Clock()
    a = table("a", clock)
    a.local("lobby", "alice", "alice", True)
    for beat in a.beats():
        assert a.apply(beat) == ([], False)
    assert a.count("lobby") == 1 and a.nodes() == []
