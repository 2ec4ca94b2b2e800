"""CHATHISTORY (IRCv3 draft/chathistory) over torbit's history: a room's for its members, a
private conversation's from the user's inbox. Messages are referred to by `msgid=` (the
msgid tag: channel and id, as every door knows them) or `timestamp=`; ignored senders and
what a room held before it was created are left out, as on every door. The answer is a
`chathistory` batch of the messages as they were first sent, with their time and msgid."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from torbit.core.delivery import Delivery
from torbit.core.models import Message as ChatMessage
from torbit.core.names import inbox_channel, is_valid_name, name_key
from torbit.core.numbers import ascii_number
from torbit.errors import Forbidden, InvalidInput, NotFound, RateLimited
from torbit.frontends.irc.render import parse_msgid, parse_server_time, room_name, server_time
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message

MAX_LIMIT: Final = 100  # ISUPPORT CHATHISTORY
SUBCOMMANDS: Final = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")
ONE_MS: Final = timedelta(milliseconds=1)  # server-time's precision
TARGETS_SCAN: Final = 100  # the private messages TARGETS looks through for conversations


class Ref:
    """A message reference: an id in the target's channel, or a time."""

    def __init__(self, id: int | None = None, at: datetime | None = None) -> None:
        self.id = id
        self.at = at


def parse_ref(text: str, channel: str) -> Ref | None:
    kind, _, value = text.partition("=")
    if kind == "msgid":
        parsed = parse_msgid(value)
        if parsed is None or parsed[0] != channel:
            return None
        return Ref(id=parsed[1])
    if kind == "timestamp":
        at = parse_server_time(value)
        return Ref(at=at) if at is not None else None
    return None


async def chathistory(session: IrcSession, msg: Message) -> None:
    sub = msg.params[0].upper()
    if sub not in SUBCOMMANDS:
        session.fail("CHATHISTORY", "INVALID_PARAMS", msg.params[0][:20], "Unknown subcommand")
        return
    if sub == "TARGETS":
        await _targets(session, msg)
        return
    wanted = 4 if sub == "BETWEEN" else 3
    if len(msg.params) < wanted + 1:
        session.fail("CHATHISTORY", "INVALID_PARAMS", sub, "Not enough parameters")
        return
    target = msg.params[1]
    limit_text = msg.params[wanted]
    limit = ascii_number(limit_text, 6)
    if limit is None or not 0 < limit <= MAX_LIMIT:
        session.fail(
            "CHATHISTORY", "INVALID_PARAMS", sub, limit_text[:20], f"limit: 1 to {MAX_LIMIT}"
        )
        return
    name = room_name(target)
    if name is None and not is_valid_name(target):
        session.fail("CHATHISTORY", "INVALID_TARGET", sub, target[:64], "No such channel or nick")
        return
    channel = name_key(name) if name is not None else inbox_channel(session.user_key)
    refs: list[Ref] = []
    for text in msg.params[2:wanted]:
        if sub == "LATEST" and text == "*":
            refs.append(Ref())
            continue
        ref = parse_ref(text, channel)
        if ref is None:
            session.fail("CHATHISTORY", "INVALID_PARAMS", sub, text[:64], "Bad message reference")
            return
        refs.append(ref)
    try:
        messages = await _read(session, sub, target, name, refs, limit)
    except (NotFound, Forbidden, InvalidInput):
        session.fail(
            "CHATHISTORY", "INVALID_TARGET", sub, target[:64], "No history you may read there"
        )
        return
    except RateLimited as e:  # the read budget is spent: the client waits for a batch or this
        session.fail("CHATHISTORY", "MESSAGE_ERROR", sub, target[:64], e.message)
        return
    _batch(session, "chathistory", messages, target)


async def _read(
    session: IrcSession, sub: str, target: str, name: str | None, refs: list[Ref], limit: int
) -> list[ChatMessage]:
    messaging = session.core.messaging

    async def read(
        *,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool = True,
        count: int = limit,
    ) -> list[ChatMessage]:
        # a channel's history (its ban masks matched against this client, as on HTTP: a
        # client that never JOINs is matched here), or the conversation with a user
        if name is not None:
            return await messaging.history(
                session.nick,
                name,
                limit=count,
                before=before,
                after=after,
                since=since,
                until=until,
                newest=newest,
                visitor=session.visitor,
            )
        return await messaging.conversation(
            session.nick,
            target,
            limit=count,
            before=before,
            after=after,
            since=since,
            until=until,
            newest=newest,
        )

    ref = refs[0]
    if sub == "LATEST":
        return await read(after=ref.id, since=_just_after(ref.at))
    if sub == "BEFORE":
        return await read(before=ref.id, until=ref.at)
    if sub == "AFTER":
        return await read(after=ref.id, since=_just_after(ref.at), newest=False)
    if sub == "AROUND":  # the page centred on the message referred to, which it holds
        half = (limit - 1) // 2  # before it; it and the rest from it (ergo's, irctest's)
        earlier = await read(before=ref.id, until=ref.at, count=half) if half else []
        after_id = ref.id - 1 if ref.id is not None else None
        try:
            later = await read(
                after=after_id, since=ref.at, newest=False, count=limit - len(earlier)
            )
        except RateLimited:  # the budget went on the earlier half: what it got is answered
            if not earlier:
                raise
            later = []
        # an ignore answered while the later half was read holds for the earlier one too
        return await messaging.still_shown(session.nick, earlier) + later
    first, second = refs  # BETWEEN: exclusive at both ends, read from the first one
    low, high = (first, second) if _before(first, second) else (second, first)
    between = await read(
        after=low.id,
        before=high.id,
        since=_just_after(low.at),
        until=high.at,
        newest=low is second,
    )
    return between


async def _targets(session: IrcSession, msg: Message) -> None:
    """CHATHISTORY TARGETS <timestamp> <timestamp> <limit>: the channels this connection is
    in and the users of the private conversations among the user's last TARGETS_SCAN
    private messages whose latest message was sent between the two times (both left out),
    earliest first, each with that time. It answered an empty batch, always."""
    if len(msg.params) < 4:
        session.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", "Not enough parameters")
        return
    limit = ascii_number(msg.params[3], 6)
    times = [parse_ref(text, "") for text in msg.params[1:3]]  # no msgid: no channel
    if limit is None or not 0 < limit <= MAX_LIMIT or any(t is None or not t.at for t in times):
        session.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", "timestamp= twice, then 1 to 100")
        return
    low, high = sorted(t.at for t in times if t is not None and t.at is not None)
    messaging = session.core.messaging
    rooms = list(session.rooms.values())
    session.charge(len(rooms) / 10)
    latest: dict[str, tuple[datetime, str]] = {}
    try:
        for room in rooms:
            try:
                last = await messaging.history(
                    session.nick, room.name, limit=1, visitor=session.visitor
                )
            except (NotFound, Forbidden):  # left or banned meanwhile: no history of theirs
                continue
            if last:
                latest[room.key] = (last[-1].sent_at, session.room_display(room.key))
        inbox = await messaging.private_history(session.nick, limit=TARGETS_SCAN)
    except NotFound:  # its account is going (a guest quitting)
        return
    except RateLimited as e:
        session.fail("CHATHISTORY", "MESSAGE_ERROR", "TARGETS", "*", e.message)
        return
    for m in inbox:  # oldest first: each user's latest stays
        other = m.recipient if m.sender_key == session.user_key else m.sender
        if other:
            latest["@" + name_key(other)] = (m.sent_at, other)
    since = _just_after(low) or low  # a time is to the millisecond, a message's finer
    shown = sorted(t for t in latest.values() if since <= t[0] < high)[:limit]
    server = session.server.options.server_name
    batch = f"t{id(shown):x}" if "batch" in session.caps else ""
    tags = {"batch": batch} if batch else {}
    if batch:
        session.send(Message("BATCH", ("+" + batch, "draft/chathistory-targets"), server))
    for at, name in shown:
        session.send(Message("CHATHISTORY", ("TARGETS", name, server_time(at)), server, tags))
    if batch:
        session.send(Message("BATCH", ("-" + batch,), server))


def _just_after(at: datetime | None) -> datetime | None:
    """A millisecond after `at` (server-time's precision). The last time a datetime holds
    (`timestamp=9999-12-31T23:59:59.999Z`) has none after it, and no message is that late:
    it stays itself rather than overflow."""
    if at is None:
        return None
    try:
        return at + ONE_MS
    except OverflowError:
        return at


def _before(a: Ref, b: Ref) -> bool:
    if a.id is not None and b.id is not None:
        return a.id <= b.id
    if a.at is not None and b.at is not None:
        return a.at <= b.at
    return True


def _batch(session: IrcSession, kind: str, messages: list[ChatMessage], *params: str) -> None:
    batch = ""
    server = session.server.options.server_name
    if "batch" in session.caps:
        batch = f"c{id(messages):x}"
        session.send(Message("BATCH", ("+" + batch, kind, *params), server))
    tz = session.core.subscriptions.tz
    for message in messages:
        session.write(session.render(Delivery(message, tz), batch=batch, stamp=True, shared=False))
    if batch:
        session.send(Message("BATCH", ("-" + batch,), server))
