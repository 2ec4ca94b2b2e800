"""Guests: people on the IRC door without an account (`irc.guests = true`).

A guest is an account that lives as long as its connection. It is created when the guest
registers, under the nick, with a password hash no password matches (`GUEST_PASSWORD_HASH`),
so the store keeps nicks unique across every door and node, and every rule applies to a
guest as to anyone: room bans, kicks, mutes, ignores, invitations, rate limits. It is deleted
with everything it holds when the connection ends; a room it leaves without owner and members
goes too (membership.py).

What sets guests apart, each rule where it is checked:
- a guest never owns a room: one it creates has no owner and the guest as its first admin,
  as on IRC, where a channel's creator is its operator (membership.py; moderation.py lets the
  admins of an ownerless room act as its owner);
- a guest writes privately to other guests, and to an account only once that account wrote
  to the guest (messaging.py);
- a guest may take another free name (`rename`); an account's name is its nick for good;
  whoever ignored the old name ignores the new one (`Ignores.carry`);
- a guest's nick may not read like a taken name (an account's or another guest's: `aIice`
  with a capital i beside `alice`) nor like a reserved one (`r00t`), as for accounts
  (identity.py), nor come to by a change of case (`check_recase`); the syntax stays IRC's,
  so `bob_` is a guest's nick beside `bob`;
- a private room admits a guest as anyone else: only by invitation of its admins.

A node that dies without a goodbye (SIGKILL, a pulled plug) leaves its guests' accounts
behind. On one node they are deleted at the next start (`sweep`). Where nodes share a log,
every guest online is in the cluster's presence table (core/presence.py), and a guest that
is online nowhere and older than the presence expiry is left over (`sweep_stale`): a live
node tells the others of its users within the expiry. Unless its node renews its lease in
the store (`lease`, every heartbeat): a node cut off from the log keeps its guests while it
lives. core/heartbeat.py says when that runs:
once a node has heard the cluster for an expiry after its start, and on one surviving node
when another node's heartbeats lapse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from torbit.core import access
from torbit.core.away import Away
from torbit.core.banmasks import Visitor
from torbit.core.delivery import Notice, NoticeKind, Session
from torbit.core.identity import NamePolicy, skeleton
from torbit.core.ignores import Ignores
from torbit.core.limits import AddressRates, RateLimiter, RoomRates
from torbit.core.membership import Membership
from torbit.core.models import GUEST_PASSWORD_HASH, User
from torbit.core.mutes import Mutes
from torbit.core.names import check_name, is_inbox, name_key
from torbit.core.ports import Store
from torbit.core.renames import Renames
from torbit.core.sessions import Proof, Sessions
from torbit.core.storeclock import read_clock
from torbit.core.subscriptions import Subscriptions
from torbit.errors import Conflict, Forbidden, InvalidInput

log = logging.getLogger("torbit.guests")

SWEEP_PAGE = 500  # guests read per store round trip by a sweep
NICK_TRIES = 10  # nicks an address may try (taken ones too) per guest it may have admitted
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # `sweep` at a start: every guest

# Names no guest may take: they would pass for the server or its staff.
RESERVED_NAMES = frozenset(
    {"admin", "administrator", "chanserv", "guest", "irc", "nickserv", "operator",
     "root", "server", "services", "system", "torbit"}
)  # fmt: skip


class Guests:
    def __init__(
        self,
        store: Store,
        subscriptions: Subscriptions,
        sessions: Sessions,
        membership: Membership,
        mutes: Mutes,
        *,
        reserved: Iterable[str] = (),
        names: NamePolicy | None = None,
        limits: Sequence[RateLimiter | RoomRates] = (),
        away: Away | None = None,
        node: str = "",
        per_address: RateLimiter | None = None,
        ignores: Ignores | None = None,
        renames: Renames | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`names`: the accounts' rules (their reserved names hold for guests too); `limits`:
        the per-user buckets (keyed by name, or by name and room) a rename carries over to
        the new name; `node`: this node's id, stored with its guests (their lease);
        `per_address`: the guests admitted from one client address
        (`limits.guests_per_address`); `ignores`: carries a renamed guest's ignorers over;
        `now`: dates guests and the lease (the store's time on a node, as `sweep_stale`'s
        `before`: a wall clock stepped forward took every other node's lease for lapsed)."""
        self._store = store
        self._subs = subscriptions
        self._sessions = sessions
        self._membership = membership
        self._mutes = mutes
        self._renames = renames
        self.reserved = RESERVED_NAMES | {name_key(n) for n in reserved}
        self._policies = (NamePolicy(self.reserved), names or NamePolicy())
        self._limits = tuple(limits)
        self._away = away  # tells the other nodes of a rename (core/away.py)
        self._ignores = ignores
        self._node = node
        admitted = per_address or RateLimiter(0, 0)
        self._per_address = AddressRates(admitted)  # and per IPv6 /48 (limits.py)
        self._tries = AddressRates(
            RateLimiter(admitted.rate * NICK_TRIES, admitted.burst * NICK_TRIES)
        )
        self._now = now

    def check_nick(self, nick: str) -> str:
        """The nick's key, if a guest may ask for it; InvalidInput or Forbidden saying why
        not (a name taken by an account or another guest is Conflict, from `admit`)."""
        key = check_name(nick, "nick")
        if any(policy.is_reserved(nick) for policy in self._policies):
            raise Forbidden(f"{nick} is a reserved name")
        return key

    def check_recase(self, old: str, new: str) -> None:
        """A guest's nick shown in other letters' case (IRC's `NICK qux` -> `QUX`) must read
        as the name did; InvalidInput if not. The look-alike rule maps a capital I, not a
        small one, to l: `iisa` reads apart from an account `lisa`, and was a guest's to take,
        but shown as `Iisa` it passed for it on every door (and `officiaI` for the reserved
        `official`). Keeping the skeleton also keeps the one the store holds for the guest
        true, so that no new name reading like the shown one is let in beside it."""
        if skeleton(new) != skeleton(old):
            raise InvalidInput(f"{new} would read like another name than {old}")

    async def admit(self, nick: str, address: str | None = None) -> User:
        """The guest's account; Conflict if the name, or one reading like it, is taken (by
        an account or a guest). With the client's `address`, RateLimited past the guests
        admitted from it (an IPv6 client's /64, and NETWORK_SHARE times as many from its
        /48; a 6to4 or NAT64 address is its IPv4 one): each costs an account made and deleted,
        and nothing else bounded a loop of connect, register, quit. A nick taken costs no
        admission (a client then tries another, as IRC clients do), only one of the
        NICK_TRIES times as many tries: each is a write the store refuses, and an
        unregistered client's `NICK taken` again and again was free, as fast as the store
        answered."""
        self.check_nick(nick)
        if address is not None:
            self._tries.check(address, "nicks tried from your address")
            self._per_address.check(address, "guests from your address")
        user = User(name=nick, password_hash=GUEST_PASSWORD_HASH, created_at=self._now())
        try:
            return await self._store.create_user(user, unlike=True, node=self._node)
        except Conflict:
            if address is not None:
                self._per_address.give_back(address, 1)
            raise

    def leaving(self, name: str) -> None:
        """The guest's client has gone (QUIT, closed): from now until `release` has deleted
        it, nobody writes to it on any door (`Messaging.send_private`: "no such user"),
        as on IRC a nick goes with its QUIT. Call before its logout."""
        self._subs.guest_leaving(name_key(name))

    async def release(self, name: str, *, created_before: datetime | None = None) -> None:
        """Delete the guest with all it holds, and the rooms that leaves empty and ownerless.
        Call once its session has logged out. With `created_before`, a guest of that name
        created since (a newcomer, the left-over one deleted meanwhile) is left alone."""
        key = name_key(name)
        self._subs.guest_leaving(key)
        try:
            user = await self._store.get_user(key)
            if user is None or not user.is_guest:
                return
            if created_before is not None and _utc(user.created_at) >= created_before:
                return
            rooms = await self._store.rooms_of(key)
            await self._store.delete_user(key)
        finally:
            self._subs.guest_leaving(key, False)
        await self._membership.known.ended(key)  # the next guest of this name starts clean
        for room in rooms:
            await self._membership.delete_if_vacant(room)

    async def rename(
        self, session: Session, old: str, new: str, visitor: Visitor | None = None
    ) -> str:
        """Give a logged-in guest's session another name: its memberships, admin rights, bans,
        invitations and mutes move to it, its rooms are told, the old name is freed. Conflict
        if the name is taken. Whoever ignored the old name ignores the new one: a rename
        walked out of every ignore (on IRC a mask on the host still holds; torbit's ignores
        are by name).
        `visitor`: the client under the new name; Forbidden if a ban mask of a room the guest
        is in bars it (masks are matched at joins: a rename must not walk past them).
        Charged to the rate of changes told to every room (`Away.charge_change`): RateLimited
        past it, so that renames in a loop flood neither the rooms nor the store.
        Takes turns with the actions on either name (`Membership.rights`): one landing while
        the rights were copied was lost with the old name. The door matches the masks again
        once its session shows the new nick (`match_masks`)."""
        renames, renamed = self._renames, None
        if renames is not None:  # another node's acts on the old name meanwhile: done again
            renames.begin(name_key(old))
        async with contextlib.AsyncExitStack() as turns:
            for key in sorted({name_key(old), name_key(new)}):
                await turns.enter_async_context(self._membership.rights.alone(key))
            try:
                renamed = await self._rename(session, old, new, visitor)
                return renamed
            finally:  # within the turn: what waits for it finds the new name
                if renames is not None:
                    renames.end(name_key(old), (name_key(renamed), renamed) if renamed else None)

    async def _rename(self, session: Session, old: str, new: str, visitor: Visitor | None) -> str:
        old_key = name_key(old)
        if visitor is not None:
            await self._check_masks(old_key, visitor)
        if self._away is not None:
            self._away.charge_change(old_key, "nick changes")
        user = await self.admit(new)
        for limiter in self._limits:  # what it read, sent, joined under the old name counts
            limiter.carry(old_key, user.key)
        try:
            for room in await self._store.rooms_of(old_key):
                await self._store.add_member(room, user.key)
                if (await self._store.standing(room, old_key)).admin:
                    await self._store.set_room_admin(room, user.key, True)
            for invitation in await self._store.invitations(old_key):
                await self._store.add_invite(
                    invitation.room_key, user.key, invitation.at, invitation.by
                )
            for room in await self._store.banned_rooms(old_key):  # no NICK out of a ban
                await self._store.expel(room, user.key, banned_at=self._now())
            now = await read_clock(self._store, self._mutes.clock)
            for mute in await self._store.active_mutes(now):
                if mute.user_key == old_key:
                    await self._store.set_mute(mute.room_key, user.key, mute.until)
                    # a read found it: an unmute that finds none was overtaken (unmute59)
                    self._mutes.set(mute.room_key, user.key, mute.until, since=now, backed=True)
            if self._ignores is not None:  # before anyone can hear the new name
                await self._ignores.carry(old_key, user.key)
        except BaseException:
            await self._store.delete_user(user.key)
            await self._membership.known.ended(user.key)  # and the admin rights copied
            raise
        self._subs.guest_leaving(old_key)  # no more messages to the old name
        rooms = [c for c in self._subs.channels_of(session) if not is_inbox(c)]
        for room in rooms:
            if self._sessions.last_here(session, room):
                text = f"{old} is now known as {user.name}"
                notice = Notice(text, NoticeKind.NICK, room=room, user=old, detail=user.name)
                self._sessions.announce(room, notice, session)
        if self._away is not None:  # the other nodes' rooms see a NICK, not a leave and a join
            await self._away.publish_details(user.key, user.name, old_name=old, rooms=rooms)
        await self._subs.detach(session)
        session.user_key = user.key
        await self._sessions.login(session, user.name, Proof(user.credential))
        for room in rooms:
            await self._subs.listen(session, room)
        # the old name's end drops every node's copy of the roles of the rooms it was an
        # admin of, those the new name now is one of (core/roomroles.py)
        await self.release(old)
        return user.name

    async def match_masks(self, user_key: str, visitor: Visitor) -> None:
        """A renamed guest's session, now showing its new nick (`visitor`), matched against
        the masks of the rooms it is in: a mask added while the rename ran met the old nick,
        or no session at all (it was between names), and let the new nick stay. A match puts
        it out of that room now, as a mask met at its addition would (core/maskgate.py)."""
        for room_key in await self._store.rooms_of(user_key):
            room = await self._store.get_room(room_key)
            if room is None:
                continue
            with contextlib.suppress(Forbidden):  # put out, and told so
                await self._membership.check_visitor(visitor.nick, room, visitor)

    async def _check_masks(self, user_key: str, visitor: Visitor) -> None:
        for room_key in await self._store.rooms_of(user_key):
            room = await self._store.get_room(room_key)
            if room is None:
                continue
            mask = await self._membership.ban_masks.matching(room, visitor)
            if mask is None:
                continue
            standing = await self._store.standing(room.key, user_key)
            if not access.mask_exempt(standing, room, user_key):
                raise Forbidden(
                    f"{visitor.nick} is banned from #{room.name} ({mask}): keep your nick there"
                )

    async def sweep(self) -> int:
        """Delete guests left over from a node that stopped without saying goodbye (a crash):
        call at start on a single-node deployment, where no other node can have live guests.
        The number deleted."""
        left = 0
        async for user, _ in self._guests(FOREVER):
            await self.release(user.name)
            left += 1
        if left:
            log.info("deleted %d guest(s) left over from the last run", left)
        return left

    async def sweep_stale(self, online: Callable[[str], bool], before: datetime) -> Swept:
        """Delete the guests that are `online` on no node, were created before `before` and
        whose node has not renewed its lease (`lease`) since `before`: left over from a node
        that died (where nodes share a log). `before` is at least a presence expiry ago, so
        a guest another node just admitted, not told yet, stays; and so do the guests of a
        node cut off from the log but alive (it holds the store): the others no longer hear
        of its users, but its lease goes on. Guests stored without a node (before migration
        0010) go by presence alone. A page of guests a store round trip, never every
        account."""
        alive = set(await self._store.nodes_seen_since(before))
        deleted = kept = 0
        async for user, node in self._guests(before):
            if online(user.key):
                continue
            if node and node != self._node and node in alive:  # cut off from the log: later
                kept += 1
                continue
            try:
                await self.release(user.name, created_before=before)
            except Exception as e:  # the next sweep tries again
                log.warning("cannot delete the left-over guest %s: %r", user.name, e)
                continue
            deleted += 1
        if deleted:
            log.info("deleted %d guest(s) left over from a node gone", deleted)
        if kept:
            log.info("kept %d guest(s) offline here of nodes still alive", kept)
        return Swept(deleted, kept)

    async def lease(self) -> None:
        """Tell the other nodes through the store, not the log, that this node lives: its
        guests are not left over (`sweep_stale`). Call every presence heartbeat."""
        await self._store.touch_node(self._node, self._now())

    async def _guests(self, before: datetime) -> AsyncIterator[tuple[User, str]]:
        """Every guest created before `before`, with its node, a page (SWEEP_PAGE) per store
        round trip."""
        after: tuple[datetime, str] | None = None
        while True:
            page = await self._store.guests_created_before(before, after=after, limit=SWEEP_PAGE)
            for guest in page:
                yield guest
            if len(page) < SWEEP_PAGE:
                return
            last = page[-1][0]
            after = (last.created_at, last.key)


class Swept(NamedTuple):
    """What a sweep of left-over guests did: guests deleted, and guests kept because their
    node is alive though this one does not see them online (a sweep later decides)."""

    deleted: int
    kept: int


def _utc(moment: datetime) -> datetime:
    """A store's naive datetime (SQLite) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
