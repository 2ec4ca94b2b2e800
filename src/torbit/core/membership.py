"""Rooms and membership: finding a room, creating one, becoming a member (a room is also
created on first join), listening to a room with its recent history first, leaving, listing
rooms and members. Who may see and join a room (private rooms, bans) is asked of `access`;
what owners and admins do is in moderation.py. Parts of it live beside it, as mixins over
its state: room_lookup.py (finding a room as a user may see it, their standing there),
room_listings.py (listings, rosters, who is online) and joinchecks.py. A membership's
voice (it may speak in the room when it is moderated) is the membership's: it ends with it.

Gaining or ending a membership and creating a room are rate limited per user (`ActionLimits`),
and `rooms_per_user` counts the rooms a user owns as well as those they belong to, so
creating rooms and leaving them does not get round it (joinchecks.py, with the join key and
member limit). A user's own checks and changes run one at a time on a node, so parallel
requests cannot all pass the same check.

A room created by a guest (core/guests.py) has no owner: its founder becomes its first room
admin, as a channel's creator is its operator on IRC. A room nobody owns and nobody belongs to
is deleted (the default room excepted), so guests' rooms go when their people do; a room
shows only the messages sent since it was created, so a new room never shows an old one's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core import access
from torbit.core.banmasks import RoomMasks, Visitor
from torbit.core.delivery import Delivery, Notice, NoticeKind, Session
from torbit.core.events import MembershipEnded, NodeEvents, Parted
from torbit.core.format import counted, topic_credit
from torbit.core.joinchecks import JoinChecks, RoomRules, reads_like, taken
from torbit.core.keylocks import KeyLocks, SharedTurns
from torbit.core.limits import ActionLimits, ReadBudget
from torbit.core.maskgate import MaskGate
from torbit.core.membercache import MemberCache
from torbit.core.models import Message, Room, Standing
from torbit.core.names import check_name, check_new_room_name, name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.room_listings import RoomListings
from torbit.core.roomroles import RoomRoles
from torbit.core.roomsettings import SettingsCache
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.core.tasks import cancel_and_wait
from torbit.core.text import clean_reason
from torbit.errors import Conflict, Forbidden, LooksAlike, NotFound, ServiceUnavailable

MAX_SHARED_ROOMS = 10_000  # rooms whose Room object joining sessions share


class Membership(JoinChecks, RoomListings):
    def __init__(
        self,
        store: Store,
        log: MessageLog,
        subscriptions: Subscriptions,
        sessions: Sessions,
        rules: RoomRules,
        limits: ActionLimits | None = None,
        *,
        events: NodeEvents,
        reads: ReadBudget | None = None,
        retention: timedelta | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        store_time: Callable[[], datetime] | None = None,
    ) -> None:
        """`retention`: `chat.retention_hours`, past which no read shows a message (`floor`)
        by `store_time` (the store's time, `StoreClock.now`; None: `now`, which dates rooms)."""
        self._store = store
        self._log = log
        self._subs = subscriptions
        self._sessions = sessions
        self.rules = rules
        self.limits = limits or ActionLimits()
        self._reads = reads or ReadBudget()  # Messaging's: the history on joining pays too
        self.retention = retention
        self._now = now
        self.store_time = store_time or now  # floor59: not this node's wall clock
        self._locks = KeyLocks()
        self._room_locks = KeyLocks()  # joins of rooms with a member limit
        # a user's rights in rooms: an action on them (a kick, a mute, a deop) and a guest's
        # rename, which copies them to the new name, take turns (core/guests.py)
        self.rights = SharedTurns()
        # an actor's rights in one room (room key, user key): its actions there take them
        # together, a deop, kick or ban of it alone (core/room_authority.py `in_role`)
        self.role_turns = SharedTurns()
        self.known = MemberCache(events)  # memberships this node knows of (membercache.py)
        self.settings = SettingsCache(store, events)  # rooms' settings (roomsettings.py)
        self.ban_masks = RoomMasks(store, events)  # rooms' ban masks (banmasks.py)
        self.room_roles = RoomRoles(store, events)  # rooms' admins and voices (roomroles.py)
        self._mask_gate = MaskGate(store, self.ban_masks, events, now)  # HTTP's (maskgate.py)
        # the Room last handed to a joining session, per room: the next join with an equal
        # one gets the same object (a session keeps its room: ~200 bytes each, not shared)
        self._joined_rooms: dict[str, Room] = {}
        self._origin = events.origin
        self._events = events
        self._tasks: set[asyncio.Task[None]] = set()
        events.on(MembershipEnded, self._on_left)

    def deletion(self, room_key: str) -> tuple[datetime, datetime] | None:
        """The room lately deleted under this key: its creation and the deletion's time."""
        return self._subs.deletion(room_key)

    def floor(self, created_at: datetime) -> datetime:
        """The oldest a message of a channel made at `created_at` (a room, an account's
        inbox) may be to be shown or counted, on every read (Messaging's too): the later of
        its creation (older: a deleted namesake's, where the log keeps them) and the start of
        the retention (older: expired, though the log may hold it until the next purge round,
        up to 60 s, or on Kafka until the broker drops its segment, about an hour)."""
        if self.retention is None:
            return created_at
        return max(created_at, self.store_time() - self.retention)

    def check_walk(self, user: str) -> None:
        """Charge a walk of every room or every user online (LIST, WHO by mask, telnet's
        /list) to `limits.walk_rate`: RateLimited past it. A six-byte line walked up to
        50,000 rooms, as often as a client sent it."""
        self.limits.walks.check(name_key(user), "room lists or user searches")

    async def create(self, user: str, room_name: str, private: bool = False) -> Room:
        """A new room owned by the user, who becomes its first member. A taken name gets the
        same answer whatever the room is and whoever may see it: no oracle for private rooms."""
        key = check_new_room_name(room_name)
        user_key = name_key(user)
        self.limits.creates.check(user_key, "rooms created")
        async with self._locks.hold(user_key):
            recount = await self.check_room_limit(user, key)
            try:
                room = await self._store.create_room(
                    Room(name=room_name, created_at=self._now(), owner=user, private=private)
                )
            except LooksAlike:
                raise reads_like(room_name) from None
            except Conflict:
                raise taken(room_name) from None
            self.ban_masks.none_yet(room)
            await self._add(room.key, user_key, created=True)
            if recount:
                await self._still_within_rooms(user, room, created=True)
        return room

    async def become_member(
        self,
        user: str,
        room_name: str,
        join_key: str = "",
        *,
        visitor: Visitor | None = None,
        makes_rooms: bool = True,
    ) -> Room:
        """Make the user a member, creating the room on first join (the creator owns it; the
        default room is the server's; a guest's room has no owner, the guest is its admin).
        A private room admits only its invitees, owner, server admins and a `visitor` (the
        client, as masks see it) matching one of its invite exceptions; no room admits the
        banned, nor a `visitor` matching one of its ban masks (and none of its ban
        exceptions), member or not. A room's join key and member limit (core/roomsettings.py) hold
        for everyone but its invitees, owner and server admins; joins near the limit take
        turns on this node, and a join that another node's join overtook takes itself back.
        A private room's refusal pays what a free name's join would (`_charge_as_created`);
        `makes_rooms` False: the caller's free names are an uncharged NotFound (classic.py)."""
        key = check_name(room_name, "room name")
        user_key = name_key(user)
        room, standing = await self._store.room_and_standing(key, user_key)
        invex = False
        if room is not None:
            invex = await access.invited_by_mask(self.ban_masks, standing, room, user_key, visitor)
            try:
                access.admit(standing, user, room, room_name, invex=invex)
            except NotFound:
                if makes_rooms:  # else a free name's join is a NotFound that costs nothing
                    await self._charge_as_created(user, key)
                raise
            if standing.member:
                if visitor is not None:  # a member matching a mask is put out (maskgate.py)
                    await self._mask_gate.check(user, room, visitor)
                return room
            await access.check_masks(self.ban_masks, standing, room, user_key, visitor)
        self.limits.joins.check(user_key, "rooms joined or left")  # wrong keys count too
        if room is not None:
            self._check_key(room, standing, user_key, join_key)
        async with self._locks.hold(user_key):
            recount = await self.check_room_limit(user, key)
            founded = created = False
            if room is None:
                room, standing, founded = await self._create_on_join(user, room_name)
                created = founded or (room.owner is not None and name_key(room.owner) == user_key)
                if founded or created:
                    self.ban_masks.none_yet(room)
                else:  # another's, made a moment ago: a mask may be on it already
                    await access.check_masks(self.ban_masks, standing, room, user_key, visitor)
                self._check_key(room, standing, user_key, join_key)
            by_right = await access.by_right(self.ban_masks, standing, room, user_key, visitor)
            if self._limited(room, standing, user_key):
                async with self._room_locks.hold(room.key):
                    await self._check_full(room)
                    added = await self._store.add_member(room.key, user_key, by_right=by_right)
                    if added:
                        await self._still_room_for(room, user_key)
            else:
                added = await self._add(room.key, user_key, created, by_right=by_right)
            if added and not founded:
                by_mask = visitor if invex else None
                await self._still_admitted(
                    user, room_name, room.key, by_mask, by_right, room.created_at
                )
            if recount and (added or created):
                await self._still_within_rooms(user, room, created=created)
            if founded:  # a guest's room: no owner, its founder is its first admin
                await self._store.set_room_admin(room.key, user_key, True)
                await self.room_roles.changed(room.key)
            if standing.invited:
                await self._store.remove_invite(room.key, user_key)
            if added and standing.admin and not founded:  # kept by an older version's leave
                await self._store.set_room_admin(room.key, user_key, False)
                await self.room_roles.changed(room.key)
        return room

    async def _charge_as_created(self, user: str, key: str) -> None:
        """A join of a private room the user may not know of pays what a free name's join,
        which creates the room, pays, and is refused by the same limits first: its "no such
        room" is then no oracle for private rooms, not even once the user's limits are spent
        (a free name answered "slow down" there, a private room "no such room", uncharged)."""
        user_key = name_key(user)
        self.limits.joins.check(user_key, "rooms joined or left")
        await self.check_room_limit(user, key)
        if key != name_key(self.rules.default_room):
            self.limits.creates.check(user_key, "rooms created")

    async def keyed_room(self, user: str, room_name: str, visitor: Visitor | None = None) -> bool:
        """Whether a join with a key names a room the user may join: one that exists, and
        that they may know of (or that one of its invite exceptions lets their client in).
        False alike for a free name and for a private room they may not know of, charged
        alike as a join attempt: telnet's `/join NAME KEY` creates nothing, and its answer
        must not tell the two apart (as `create`'s "taken" does not)."""
        key = check_name(room_name, "room name")
        user_key = name_key(user)
        room, standing = await self._store.room_and_standing(key, user_key)
        if room is not None:
            if standing.may_see(room, user_key):
                return True
            if await access.invited_by_mask(self.ban_masks, standing, room, user_key, visitor):
                return True
        self.limits.joins.check(user_key, "rooms joined or left")
        return False

    async def _create_on_join(self, user: str, room_name: str) -> tuple[Room, Standing, bool]:
        """The room, the user's standing in it and whether they founded a guest's room."""
        key = check_new_room_name(room_name)
        record = await self._store.get_user(name_key(user))
        guest = record is not None and record.is_guest
        default = key == name_key(self.rules.default_room)
        owner = None if default or guest else user
        if not default:  # a guest's rooms too (each a Kafka topic, kept after the room)
            self.limits.creates.check(name_key(user), "rooms created")
        created_at = self._now()
        new = Room(name=room_name, created_at=created_at, owner=owner)
        try:
            if guest and not default:  # the default room is the server's, as for anyone
                try:
                    return await self._store.create_room(new), Standing(), True
                except LooksAlike:
                    raise
                except Conflict:  # someone else created it first: join it as anyone would
                    room = await self.room(room_name)
                    return room, await access.admission(self._store, user, room, room_name), False
            # the server's default room: made even beside a look-alike someone made first
            room = await self._store.ensure_room(new, unlike=not default)
        except LooksAlike:
            raise reads_like(room_name) from None
        if room.created_at != created_at or room.owner != owner:  # someone else was first
            return room, await access.admission(self._store, user, room, room_name), False
        return room, Standing(), False

    async def join(
        self, session: Session, room_name: str, join_key: str = "", *, history: bool = True
    ) -> Room:
        """Become a member and listen: recent history first, then live messages, no gaps.
        `history=False`: none, for a client that asks for it itself (read and paid for
        nothing otherwise)."""
        return (await self._join(session, room_name, join_key, history=history))[0]

    async def join_reading(
        self, session: Session, room_name: str, join_key: str = ""
    ) -> tuple[Room, bool]:
        """`join`, and whether its history showed all the user had not read in the room
        (after their read cursor, the one `/receive` moves): a session that reads the room
        as it is shown (telnet's) may mark it read when it stops only then (comeback.py). A
        join shows the newest `history_on_join` messages, fewer once the read budget is
        spent: marked read past the rest, they were lost to `/receive`."""
        return await self._join(session, room_name, join_key, history=True, reading=True)

    async def _join(
        self,
        session: Session,
        room_name: str,
        join_key: str,
        *,
        history: bool,
        reading: bool = False,
    ) -> tuple[Room, bool]:
        generation = self.known.generation
        masks_seen = self.ban_masks.generation
        user = self._sessions.name_of(session)
        visitor: Visitor | None = getattr(session, "visitor", None)  # Session's docstring
        room = self._shared(await self.become_member(user, room_name, join_key, visitor=visitor))
        announce = self._sessions.last_here(session, room.key)
        await self._subs.listen(session, room.key, hold=True)
        self._subs.name_room(room.key, room.name)
        shown: list[Message] = []
        everything = caught_up = False  # `shown` is all the room has; all the user had unread
        try:
            if history and self.rules.history_on_join:
                shown, everything = await self._history(user, room)
            # asked once the history is read, only when some membership ended or a mask was
            # set meanwhile: a kick or ban while this session was not yet listening did not
            # stop it, and one while the history was read stopped the listening but not the
            # page, which held what was posted after the kick was answered (attack53)
            if self.known.generation != generation and not await self.is_member(user, room.key):
                await access.admission(self._store, user, room, room_name)  # banned, hidden
                raise Forbidden(f"you are no longer a member of #{room.name}")
            # a mask set meanwhile did not put it out (and puts out the member it made:
            # maskgate.py)
            if visitor is not None and self.ban_masks.generation != masks_seen:
                await self._mask_gate.check(user, room, visitor)
            if reading:
                caught_up = everything or await self._reaches_cursor(user, room, shown)
        except BaseException:  # not left half-joined: the client is told, and may try again
            await self._subs.stop_listening(session, room.key)
            raise
        try:
            online = self._subs.online_count(room.key)
            where = {"room": room.key, "room_name": room.name}
            session.notify(
                Notice(
                    f"you are in #{room.name} ({counted(online, 'person', 'people')} here)",
                    NoticeKind.JOINED,
                    **where,
                ),
                room.key,
            )
            if room.topic:
                credit = topic_credit(room, self._subs.tz)
                topic = Notice(
                    f"topic: {room.topic}{credit}", NoticeKind.TOPIC_IS, detail=room.topic, **where
                )
                session.notify(topic, room.key)
            for m in shown:
                if m.sender_key not in session.ignores:
                    session.deliver(Delivery(m, self._subs.tz))
        finally:
            self._subs.release(session, room.key, shown[-1].id if shown else None)
        if announce:
            name = self._sessions.name_of(session)
            joined = Notice(
                f"{name} joined #{room.name}",
                NoticeKind.JOIN,
                room=room.key,
                room_name=room.name,
                user=name,
            )
            self._sessions.announce_back(room.key, joined, session)
        return room, caught_up

    async def _history(self, user: str, room: Room) -> tuple[list[Message], bool]:
        """The newest messages shown on joining, as many as the user's read budget has left
        (a member comes back into a room as often as it likes: no join rate is asked), and
        whether they are all the room has (fewer came than were asked for)."""
        key = name_key(user)
        granted = self._reads.share(key, self.rules.history_on_join)
        history: list[Message] = []
        try:
            if granted:
                history = await self._log.read(room.key, limit=granted, newest=True)
        finally:
            self._reads.settle(key, granted, len(history))
        floor = self.floor(room.created_at)  # older: a namesake's or expired (`floor`)
        return [m for m in history if m.sent_at >= floor], len(history) < granted

    async def _reaches_cursor(self, user: str, room: Room, shown: list[Message]) -> bool:
        """Whether `shown`, the room's newest messages that may be shown, reach back to the
        user's read cursor: no message after the cursor and before the oldest of them (after
        it, when none was shown) may be shown (`floor`). The newest such one is read: as the
        history's reads, it takes the messages that follow it to be no older, so when it is
        hidden all before it are. The one message read for it is not shown, so not paid, as
        comeback.py's look for where to mark read."""
        cursor = await self._store.get_cursor(name_key(user), room.key)
        if shown and cursor is not None and shown[0].id <= cursor:
            return True
        before = shown[0].id if shown else None
        passed = await self._log.read(room.key, after=cursor, before=before, limit=1, newest=True)
        return not passed or passed[0].sent_at < self.floor(room.created_at)

    def _shared(self, room: Room) -> Room:
        same = self._joined_rooms.get(room.key)
        if same == room:
            return same
        if len(self._joined_rooms) >= MAX_SHARED_ROOMS:
            self._joined_rooms.clear()
        self._joined_rooms[room.key] = room
        return room

    async def stop_listening(
        self, session: Session, room_key: str, reason: str = "", *, switch: bool = False
    ) -> None:
        """The session stops receiving the room; the user stays a member (see `leave`).
        `switch`: to talk in another room (telnet's /join), said as such: not "left"."""
        reason = await self._sessions.leave_reason(room_key, session.user_key, clean_reason(reason))
        await self._stop_listening(session, room_key, reason, switch=switch)

    async def _stop_listening(
        self, session: Session, room_key: str, reason: str, *, switch: bool = False
    ) -> None:
        """`reason`: as the room is told it (`Sessions.leave_reason`)."""
        if self._sessions.last_here(session, room_key):
            name = self._sessions.name_of(session)
            room = self._subs.room_name(room_key)
            if switch:
                text = f"{name} went to another room (still a member of #{room})"
            else:
                text = f"{name} left #{room}" + (f" ({reason})" if reason else "")
            notice = Notice(
                text, NoticeKind.PART, room=room_key, room_name=room, user=name, detail=reason
            )
            self._sessions.announce(room_key, notice, session)
            await self._subs.stop_listening(session, room_key)  # at once: a /join may follow
            if self._subs.cluster is not None:  # as told here (not, a grace later, "left")
                told = Parted(room_key, room, session.user_key, name, text, reason, self._origin)
                with contextlib.suppress(ServiceUnavailable):  # then told as by the beat
                    await self._events.publish(told)
            return
        await self._subs.stop_listening(session, room_key)

    async def leave(
        self, user: str, room_name: str, reason: str = "", *, by: Session | None = None
    ) -> Room:
        """End a membership: every session of the user here stops listening to the room,
        each told so but `by` (the session that asked, which its door answers): the user's
        other connections went on showing the room while it fell silent. A room left
        without owner and members is deleted (see the module docstring)."""
        room = await self.visible_room(user, room_name)
        self.limits.joins.check(name_key(user), "rooms joined or left")
        # judged while still a member: a voice and a room admin's rights end with the membership
        reason = await self._sessions.leave_reason(room.key, name_key(user), clean_reason(reason))
        if not await self._store.remove_member(room.key, name_key(user)):
            raise Conflict(f"you are not a member of #{room.name}")
        await self.known.ended(name_key(user), room.key)
        for s in self._subs.sessions_of(name_key(user)):
            if self._subs.is_listening(s, room.key):
                if s is not by:
                    self._tell_left(s, room.key, reason)
                await self._stop_listening(s, room.key, reason)
        await self.delete_if_vacant(room.key)
        return room

    def _on_left(self, event: MembershipEnded) -> None:
        """A leave on another node: the user's sessions here stop listening too (a member
        who left hears nothing more and may not talk there), unless they joined again."""
        if not event.room or event.node == self._origin:
            return
        if any(self._subs.is_listening(s, event.room) for s in self._subs.sessions_of(event.user)):
            task = asyncio.get_running_loop().create_task(self._left_elsewhere(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _left_elsewhere(self, event: MembershipEnded) -> None:
        if (await self._store.standing(event.room, event.user)).member:
            return  # joined again since (this event may come after the new join)
        for s in self._subs.sessions_of(event.user):
            if self._subs.is_listening(s, event.room):
                self._tell_left(s, event.room)
                await self.stop_listening(s, event.room)

    def _tell_left(self, session: Session, room_key: str, reason: str = "") -> None:
        """One of the user's sessions, of a leave another one asked for (here or on another
        node): IRC shows its own PART, the other doors a line."""
        room = self._subs.room_name(room_key)
        name = self._sessions.name_of(session)
        text = f"you left #{room} (on another connection)"
        notice = Notice(
            text, NoticeKind.PART, room=room_key, room_name=room, user=name, detail=reason
        )
        session.notify(notice, room_key)

    async def close(self) -> None:
        """At shutdown, once the log delivers no more events, before the store closes: a
        leave on another node still being applied here is cancelled (its sessions are gone
        with the node), not left to fail on a closed store (core/tasks.py)."""
        await cancel_and_wait(self._tasks)

    async def delete_if_vacant(self, room_key: str) -> bool:
        """Delete the room if nobody owns it, nobody belongs to it and nobody listens to it
        here (the default room stays); True if it was deleted. The store deletes it only if
        it is still empty then: a join since the members were counted keeps it."""
        if room_key == name_key(self.rules.default_room) or self._subs.listener_count(room_key):
            return False
        room = await self._store.get_room(room_key)
        if room is None or room.owner is not None or await self._store.list_members(room_key):
            return False
        return await self._store.delete_room_if_empty(room_key)
