"""The telnet door's room commands: joining (one room talked in at a time), leaving,
listing rooms, a room's history and topic."""

from __future__ import annotations

import asyncio
from datetime import UTC

from torbit.core.format import counted, format_error, topic_credit
from torbit.core.models import Room, RoomInfo
from torbit.core.names import check_name, name_key
from torbit.errors import NotFound, ServiceUnavailable, TorbitError
from torbit.frontends.telnet.command_session import (
    MAX_HISTORY,
    CommandSession,
    count,
    current,
    info,
    room_arg,
    show_messages,
)

ROOMS_PAGE = 50
LIST_PAGES = 50  # pages of rooms one /list walks at most, as IRC's LIST


async def join(session: CommandSession, args: tuple[str, ...]) -> None:
    name = room_arg(args[0])
    key = check_name(name, "room name")
    old = session.room
    if old is not None and not session.core.subscriptions.is_listening(session, old.key):
        session.room = old = None
    if old is not None and old.key == key:
        info(session, f"you are already in #{old.name}")
        return
    join_key = args[1] if len(args) > 1 else ""
    if join_key:
        await _room_for_key(session, name, join_key)
    # read up to the switch if its join passed nothing unread over and all it was shown has
    # left (a backlog the client never takes is dropped with it, after the switch)
    old_shown_all = session.shown_all and not session.unsent()
    room, session.shown_all = await session.core.membership.join_reading(session, name, join_key)
    session.room = room
    if old is not None:
        session.core.comeback.left(session.user_key, old.key, read=old_shown_all)
        await session.core.membership.stop_listening(session, old.key, switch=True)
    if join_key and not room.settings.join_key:
        info(
            session,
            f"#{room.name} has no join key, {join_key!r} was not needed (a room name"
            " has no spaces): room admins set one with /set key KEY",
        )


async def land(session: CommandSession, default_room: str, *, returning: bool) -> None:
    """A login's room: a returning user's is the one they were in when they left, told so
    with how many messages came since (core/comeback.py); anyone else's, the default room. A
    room they cannot go back to (kicked, banned, deleted meanwhile) is said, and the default
    room joined instead."""
    core = session.core
    last = await core.comeback.return_to(session.name) if returning else None
    try:
        room, session.shown_all = await core.membership.join_reading(session, last or default_room)
    except ServiceUnavailable:
        raise
    except TorbitError as e:
        if last is None:
            raise
        session.send_line(format_error(f"you could not go back to #{last}: {e.message}"))
        session.room, session.shown_all = await core.membership.join_reading(session, default_room)
        return
    session.room = room
    if last is not None:
        unread = await core.comeback.missed(session.name, room)
        if unread or room.key != name_key(default_room):  # not "nothing new" every login
            _missed(session, room, unread)


def _missed(session: CommandSession, room: Room, unread: int | None) -> None:
    """The line under a returning user's join: where they are back, and what they missed
    (the join's history shows the newest of it, and how to see the rest)."""
    if unread is None:  # never read there: nothing to count from
        info(session, f"back in #{room.name}, where you left off")
        return
    shown = session.core.membership.rules.history_on_join
    new = counted(unread, "new message") if unread else "nothing new"
    more = ""
    if unread > shown:
        more = f" (the last {shown} above; /history {min(unread, MAX_HISTORY)} shows more)"
    info(session, f"back in #{room.name}, where you left off: {new} since{more}")


async def _room_for_key(session: CommandSession, name: str, join_key: str) -> None:
    """A KEY is for a room that exists: `/join bad room!` (a room name with a space, a
    person's mistake) created #bad with `room!` taken as its key and ignored, and `/join
    plans s3cret` created #plans open to all. Neither is what was meant, and a stray room
    stays listed and counts against `rooms_per_user`: nothing is created, and the reply says
    both readings. (IRC's `JOIN #a key` is its syntax, and stays.) A private room the user
    may not know of gets the same answer as a free name (core/membership.py `keyed_room`):
    "no such room" alone told the private rooms apart, uncharged."""
    visitor = getattr(session, "visitor", None)  # as membership.join asks it
    if not await session.core.membership.keyed_room(session.name, name, visitor):
        raise NotFound(
            f"no such room #{name}, so {join_key!r} cannot be its key: /join {name} creates it"
            " (then /set key KEY); a room name has no spaces"
        ) from None


async def leave(session: CommandSession, args: tuple[str, ...]) -> None:
    name = room_arg(args[0]) if args else current(session).name
    room = await session.core.membership.leave(session.name, name, by=session)
    if session.room is not None and session.room.key == room.key:
        session.room = None
    info(session, f"you left #{room.name}; /join a room to talk")


def _room_line(i: RoomInfo) -> str:
    """One room in /rooms and /list alike, in the order every door lists rooms (IRC's LIST,
    the HTTP room list): name, members (and how many are in it now), topic. "online" read as
    "logged in", which the count is not: a member online in another room is not in it."""
    topic = f" - {i.room.topic}" if i.room.topic else ""
    return f"  #{i.room.name}  {counted(i.members, 'member')}, {i.online} in the room now{topic}"


async def rooms(session: CommandSession, args: tuple[str, ...]) -> None:
    after = check_name(room_arg(args[0]), "room name") if args else None
    page = await session.core.membership.rooms(session.name, after=after, limit=ROOMS_PAGE)
    if not page.rooms and after is None:
        info(session, "no rooms yet: /join ROOM creates one")
        return
    if not page.rooms:
        info(session, f"no rooms after #{room_arg(args[0])}")
        return
    info(
        session,
        counted(len(page.rooms), "room") + (f" after #{room_arg(args[0])}:" if args else ":"),
    )
    for i in page.rooms:
        session.send_line(_room_line(i))
    if page.next_after is not None:
        info(session, f"more: /rooms {page.next_after}")


async def list_(session: CommandSession, args: tuple[str, ...]) -> None:
    """Every public room at once (as IRC's LIST), with how many are online and its topic:
    charged to `limits.walk_rate`, the loop let go between pages."""
    session.core.membership.check_walk(session.name)
    after: str | None = None
    shown = 0
    for _ in range(LIST_PAGES):  # bounded work per /list
        page = await session.core.membership.rooms(session.name, after=after, limit=ROOMS_PAGE)
        for i in page.rooms:
            if not i.room.private:
                session.send_line(_room_line(i))
                shown += 1
        after = page.next_after
        if after is None:
            break
        await asyncio.sleep(0)
    info(session, counted(shown, "public room") if shown else "no public rooms yet")


async def history(session: CommandSession, args: tuple[str, ...]) -> None:
    room = current(session)
    n = count(args, "/history [N]")
    messages = await session.core.messaging.history(session.name, room.name, limit=n)
    if not messages:
        info(session, f"no messages to show in #{room.name}")
        return
    show_messages(session, messages, "message", f" of #{room.name}")


async def topic(session: CommandSession, args: tuple[str, ...]) -> None:
    """`/topic` alone shows the topic to anyone in the room, as IRC's TOPIC does; clearing
    it takes `/topic off`."""
    room = current(session)
    if not args:
        room = await session.core.membership.visible_room(session.name, room.name)
        credit = topic_credit(room, session.core.subscriptions.tz or UTC)
        info(
            session,
            f"topic of #{room.name}: {room.topic}{credit}"
            if room.topic
            else f"#{room.name} has no topic",
        )
        return
    text = "" if args[0].lower() == "off" else args[0]
    session.room = await session.core.moderation.update(session.name, room.name, topic=text)
