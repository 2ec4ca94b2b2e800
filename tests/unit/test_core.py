"""The core without I/O: names, formatting, the telnet command table and the hub's fan-out."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torbit.core.delivery import Delivery, Names, Run
from torbit.core.format import format_message
from torbit.core.hub import Hub
from torbit.core.models import Message, MessageKind
from torbit.core.names import check_name, is_valid_name
from torbit.core.text import clean_text
from torbit.errors import InvalidInput, TooLarge
from torbit.frontends.telnet.commands import COMMANDS, TABLE, help_lines, parse_command

T = datetime(2026, 11, 28, 15, 4, 5, tzinfo=UTC)


def msg(
    id: int = 1,
    sender: str = "alice",
    text: str = "hello",
    channel: str = "lobby",
    kind: MessageKind = MessageKind.TEXT,
    recipient: str | None = None,
) -> Message:
    return Message(
        id=id, channel=channel, sender=sender, text=text, sent_at=T, kind=kind, recipient=recipient
    )


def test_names() -> None:
    assert is_valid_name("Torbit-Room_1.x")
    assert check_name("Torbit-Room-1") == check_name("torbit-room-1") == "torbit-room-1"
    for bad in ["", "a" * 33, "has space", "ünï", "@bob", "#room", "a/b"]:
        assert not is_valid_name(bad)
        with pytest.raises(InvalidInput):
            check_name(bad)


def test_message_format() -> None:
    utc = ZoneInfo("UTC")
    assert format_message(msg(), utc) == "[15:04:05] <alice> hello"
    assert (
        format_message(msg(kind=MessageKind.ACTION, text="waves"), utc)
        == "[15:04:05] * alice waves"
    )
    to_bob = msg(channel="@bob", kind=MessageKind.PRIVATE, recipient="bob")
    assert format_message(to_bob, utc) == "[15:04:05] (private) <alice> hello"
    copy = msg(channel="@alice", kind=MessageKind.PRIVATE, recipient="bob")
    assert format_message(copy, utc) == "[15:04:05] (private to bob) <alice> hello"
    assert format_message(msg(), ZoneInfo("Europe/Paris")) == "[16:04:05] <alice> hello"


def test_clean_text_removes_terminal_controls() -> None:
    assert clean_text("hi \x1b[31mred\x07  ", 100) == "hi \ufffd[31mred\ufffd"
    with pytest.raises(InvalidInput):
        clean_text("   ", 100)
    with pytest.raises(TooLarge):
        clean_text("é" * 51, 100)


@given(st.text())
def test_clean_text_never_lets_control_characters_through(text: str) -> None:
    try:
        out = clean_text(text, 10_000)
    except (InvalidInput, TooLarge):
        return
    assert not any((ord(c) < 32 and c != "\t") or 0x7F <= ord(c) <= 0x9F for c in out)


def test_command_table() -> None:
    command, args = parse_command("/msg bob hello there  you")
    assert command is COMMANDS["msg"] and args == ("bob", "hello there  you")
    assert parse_command("/JOIN lobby")[1] == ("lobby",)
    with pytest.raises(InvalidInput, match="usage: /join ROOM"):
        parse_command("/join")
    assert parse_command("/join den beer")[1] == ("den", "beer")  # a join key
    with pytest.raises(InvalidInput, match=r"usage: /join ROOM \[KEY\]"):
        parse_command("/join a b c")
    with pytest.raises(InvalidInput, match="unknown command /nope"):
        parse_command("/nope")
    assert len(help_lines()) == len(COMMANDS) == len(TABLE)  # one row per command
    assert any(line.startswith("/msg USER TEXT") for line in help_lines())


def test_every_row_of_the_command_table_has_a_handler_and_a_help_line() -> None:
    lines = help_lines()
    for command, line in zip(TABLE, lines, strict=True):
        assert callable(command.handler), command.name
        assert line.startswith(command.usage) and command.help in line


class FakeSession:
    """A session is an interface of the core; this one records what it is given."""

    def __init__(self, user: str) -> None:
        self.user_key = user
        self.ignores: AbstractSet[str] = frozenset()
        self.got: list[Delivery] = []
        self.notes: list[str] = []
        self.revoked: list[str] = []

    def deliver(self, delivery: Delivery) -> None:
        self.got.append(delivery)

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        self.notes.append(text)

    def close(self, reason: str) -> None:
        pass

    def revoke(self, reason: str) -> None:
        self.revoked.append(reason)


def test_hub_fans_out_once_encoded_and_respects_ignores() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a, b, c = FakeSession("alice"), FakeSession("bob"), FakeSession("carol")
    for s in (a, b, c):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    hub.set_ignores("carol", frozenset({"alice"}))
    hub.dispatch(msg())
    assert len(a.got) == len(b.got) == 1 and not c.got
    assert a.got[0] is b.got[0]  # one Delivery, one encoding, for everyone
    assert a.got[0].line == b"[15:04:05] <alice> hello\r\n"
    assert a.got[0].line is b.got[0].line


class RunSession(FakeSession):
    """A session that takes a run of messages in one call, as the telnet door does."""

    def __init__(self, user: str) -> None:
        super().__init__(user)
        self.runs: list[Run] = []

    def deliver_all(self, run: Run) -> None:
        self.runs.append(run)
        self.got.extend(run.deliveries)


def test_hub_hands_a_run_over_in_one_call_shared_and_in_order() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a, b = RunSession("alice"), RunSession("bob")
    plain = FakeSession("carol")  # no deliver_all: one call per message
    for s in (a, b, plain):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    run = [msg(id=i, text=f"m{i}") for i in range(1, 6)]
    assert hub.dispatch_run(run) == 15
    assert len(a.runs) == len(b.runs) == 1 and a.runs[0] is b.runs[0]
    assert [d.message.id for d in a.got] == [d.message.id for d in plain.got] == [1, 2, 3, 4, 5]
    assert a.runs[0].lines == b"".join(f"[15:04:05] <alice> m{i}\r\n".encode() for i in range(1, 6))
    assert a.runs[0].lines is b.runs[0].lines  # joined once for everyone
    assert hub.delivered == 15


def test_a_runs_lines_are_each_messages_line_whatever_the_kind_and_time() -> None:
    tz = ZoneInfo("Europe/Paris")
    later = datetime(2026, 11, 28, 15, 4, 6, tzinfo=UTC)
    messages = [
        msg(id=1),
        Message(2, "lobby", "bob", "waves", T, MessageKind.ACTION),
        Message(3, "lobby", "bob", "a notice", later, MessageKind.NOTICE),
        Message(4, "lobby", "Alice", "é ünïcode", later),
        Message(5, "lobby", "carol", "back to T", T),
    ]
    run = Run(messages, tz)
    one_by_one = [Delivery(m, tz).line for m in messages]
    assert run.lines == b"".join(one_by_one)
    assert b"[16:04:06] -bob- a notice\r\n" in run.lines
    assert [d.line for d in run.deliveries] == one_by_one  # still there when asked one by one


class LinesSession(FakeSession):
    """A telnet-like session that only writes a run's joined lines."""

    def __init__(self, user: str) -> None:
        super().__init__(user)
        self.written: list[bytes] = []

    def deliver_all(self, run: Run) -> None:
        self.written.append(run.lines)


def test_a_run_only_telnet_sessions_take_makes_no_delivery_per_message() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a, b = LinesSession("alice"), LinesSession("bob")
    for s in (a, b):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    made: list[Delivery] = []
    real_init = Delivery.__init__

    def counted(self: Delivery, message: Message, tz: ZoneInfo) -> None:
        made.append(self)
        real_init(self, message, tz)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Delivery, "__init__", counted)
        assert hub.dispatch_run([msg(id=i, text=f"m{i}") for i in (1, 2, 3)]) == 6
    assert made == []
    assert (
        a.written
        == b.written
        == [b"[15:04:05] <alice> m1\r\n[15:04:05] <alice> m2\r\n[15:04:05] <alice> m3\r\n"]
    )


def test_hub_run_respects_ignores_per_message() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a, b, c = RunSession("alice"), RunSession("bob"), RunSession("carol")
    for s in (a, b, c):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    hub.set_ignores("carol", frozenset({"bob"}))
    hub.dispatch(msg(id=1))  # the fan-out is built before the ignore changes below
    hub.set_ignores("bob", frozenset({"alice"}))
    run = [msg(id=2), msg(id=3, sender="bob"), msg(id=4)]
    assert hub.dispatch_run(run) == 3 + 1 + 2
    assert [d.message.id for d in a.got] == [1, 2, 3, 4] and len(a.runs) == 1
    assert [d.message.id for d in b.got] == [1, 3] and not b.runs  # ignores alice now
    assert [d.message.id for d in c.got] == [1, 2, 4] and not c.runs  # ignores bob


def test_hub_run_to_a_session_being_shown_history() -> None:
    hub = Hub(ZoneInfo("UTC"))
    live, held, caught_up = RunSession("alice"), RunSession("bob"), RunSession("carol")
    for s in (live, held, caught_up):
        hub.attach(s, s.user_key, frozenset())
    hub.enter(live, "lobby")
    hub.enter(held, "lobby", hold=True)
    hub.enter(caught_up, "lobby", hold=True)
    hub.release(caught_up, "lobby", after_id=2)  # its history showed up to 2
    hub.dispatch_run([msg(id=i) for i in (1, 2, 3, 4)])
    assert [d.message.id for d in live.got] == [1, 2, 3, 4]
    assert held.got == [] and [d.message.id for d in caught_up.got] == [3, 4]
    hub.release(held, "lobby", after_id=1)
    assert [d.message.id for d in held.got] == [2, 3, 4]
    hub.dispatch_run([msg(id=5), msg(id=6)])  # both live now: runs in one call
    assert [d.message.id for d in held.got][-2:] == [5, 6] and len(held.runs) == 1
    assert [d.message.id for d in caught_up.got][-2:] == [5, 6] and len(caught_up.runs) == 1


def test_hub_forgets_a_session_that_left_between_messages() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a, b = FakeSession("alice"), FakeSession("bob")
    for s in (a, b):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    hub.dispatch(msg(id=1))
    hub.exit(b, "lobby")
    hub.dispatch_run([msg(id=2), msg(id=3)])
    hub.enter(b, "lobby")
    hub.dispatch(msg(id=4))
    assert [d.message.id for d in a.got] == [1, 2, 3, 4]
    assert [d.message.id for d in b.got] == [1, 4]


def test_hub_holds_live_messages_while_history_is_shown() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a = FakeSession("alice")
    hub.attach(a, "alice", frozenset())
    hub.enter(a, "lobby", hold=True)
    hub.dispatch(msg(id=5))
    hub.dispatch(msg(id=6))
    assert a.got == []
    hub.release(a, "lobby", after_id=5)  # history ended at 5: only 6 is new
    assert [d.message.id for d in a.got] == [6]
    hub.dispatch(msg(id=7))
    assert [d.message.id for d in a.got] == [6, 7]


def test_hub_drops_live_messages_the_history_already_showed() -> None:
    """With Kafka the history read can find messages the node's consumer has not handed out
    yet: they come live after the release, and must not be shown twice."""
    hub = Hub(ZoneInfo("UTC"))
    a = FakeSession("alice")
    hub.attach(a, "alice", frozenset())
    hub.enter(a, "lobby", hold=True)
    hub.release(a, "lobby", after_id=7)  # history ended at 7; nothing held yet
    for id in (6, 7, 8, 7, 9):
        hub.dispatch(msg(id=id))
    assert [d.message.id for d in a.got] == [8, 7, 9]  # past the history, all is live


def test_hub_shares_ignores_between_sessions_of_a_user() -> None:
    hub = Hub(ZoneInfo("UTC"))
    a1, a2 = FakeSession("alice"), FakeSession("alice")
    hub.attach(a1, "alice", frozenset({"bob"}))
    hub.attach(a2, "alice", frozenset())
    hub.enter(a1, "@alice")
    hub.enter(a2, "@alice")
    hub.enter(a1, "lobby")
    hub.enter(a2, "lobby")
    assert a1.ignores is a2.ignores and "bob" in a2.ignores
    assert hub.online("lobby") == ["alice"] and hub.user_sessions_in("lobby", "alice") == 2
    assert hub.online("@alice") == []  # an inbox is one user's: no "online" kept for it
    hub.detach(a1)
    assert hub.presence("alice") is not None
    assert hub.user_sessions_in("lobby", "alice") == 1
    assert sorted(hub.detach(a2)) == ["@alice", "lobby"]
    assert hub.presence("alice") is None
    assert hub.online("lobby") == []


def test_hub_cleanup_touches_only_the_sessions_own_channels() -> None:
    """A vanishing session costs O(its own channels), not O(channels on the node): counted
    by which channels `exit` is asked about."""
    hub = Hub(ZoneInfo("UTC"))
    others = [FakeSession(f"u{i}") for i in range(200)]
    for i, s in enumerate(others):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, f"@u{i}")
        hub.enter(s, f"room{i}")
    me = FakeSession("me")
    hub.attach(me, "me", frozenset())
    for channel in ("@me", "room1", "lobby"):
        hub.enter(me, channel)
    asked: list[str] = []
    real_exit = hub.exit

    def counting_exit(session: FakeSession, channel: str) -> bool:
        asked.append(channel)
        return real_exit(session, channel)

    hub.exit = counting_exit  # type: ignore[method-assign,assignment]
    assert sorted(hub.detach(me)) == ["@me", "lobby"]  # room1 still has u1
    assert sorted(asked) == ["@me", "lobby", "room1"]
    assert hub.listener_count("room1") == 1 and hub.channels_of(me) == []


class FanSession(RunSession):
    """A session whose door takes one message for many sessions in one call (`fan`), as the
    telnet door does: the door records each call and the targets it was given."""

    def __init__(self, user: str, door: Door) -> None:
        super().__init__(user)
        self.door = door
        self.delivers = 0

    @property
    def fan(self) -> tuple[Door, object]:
        return (self.door, self)

    def deliver(self, delivery: Delivery) -> None:
        self.delivers += 1
        super().deliver(delivery)


class Door:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (message id, targets)
        self.runs: list[tuple[list[int], int]] = []  # (message ids, targets)

    def fan(self, targets: tuple[object, ...], d: Delivery) -> None:
        self.calls.append((d.message.id, len(targets)))
        for s in targets:
            assert isinstance(s, FanSession)
            s.got.append(d)

    def fan_run(self, targets: tuple[object, ...], run: Run) -> None:
        self.runs.append(([m.id for m in run.messages], len(targets)))
        for s in targets:
            assert isinstance(s, FanSession)
            s.got.extend(run.deliveries)


def test_hub_hands_a_message_to_a_doors_sessions_in_one_call() -> None:
    """A session that ignores no one and offers `fan` is not called per message: its door
    is, once, with all such sessions; the others still get `deliver`, ignores honoured."""
    hub = Hub(ZoneInfo("UTC"))
    door, other = Door(), Door()
    fanned = [FanSession(f"u{i}", door) for i in range(5)]
    elsewhere = FanSession("w0", other)
    ignorer = FanSession("carol", door)
    plain = FakeSession("dave")
    for s in (*fanned, elsewhere, ignorer, plain):
        hub.attach(s, s.user_key, frozenset())
        hub.enter(s, "lobby")
    hub.set_ignores("carol", frozenset({"bob"}))
    assert hub.dispatch(msg(id=1)) == 8
    assert hub.dispatch(msg(id=2, sender="bob")) == 7
    assert door.calls == [(1, 5), (2, 5)] and other.calls == [(1, 1), (2, 1)]
    assert all(s.delivers == 0 for s in (*fanned, elsewhere))
    assert ignorer.delivers == 1 and [d.message.id for d in ignorer.got] == [1]
    assert [d.message.id for d in plain.got] == [1, 2]
    hub.set_ignores("u0", frozenset({"bob"}))  # now ignores someone: off the one call
    assert hub.dispatch(msg(id=3, sender="bob")) == 6
    assert door.calls[-1] == (3, 4) and fanned[0].delivers == 0
    assert [d.message.id for d in fanned[0].got] == [1, 2]
    assert [d.message.id for d in fanned[1].got] == [1, 2, 3]
    # a run goes to the door too, in one call for its sessions that ignore no one; the
    # others still get deliver_all, one call each (ignores honoured)
    assert hub.dispatch_run([msg(id=4), msg(id=5)]) == 16
    assert door.runs == [([4, 5], 4)] and other.runs == [([4, 5], 1)]
    assert all(not s.runs for s in (*fanned[1:], elsewhere))
    assert len(fanned[0].runs) == len(ignorer.runs) == 1
    assert [d.message.id for d in fanned[1].got] == [1, 2, 3, 4, 5]
    assert [d.message.id for d in plain.got] == [1, 2, 3, 4, 5]
