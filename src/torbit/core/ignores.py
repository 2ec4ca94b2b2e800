"""Ignore lists: whom a user never hears from, live or in history. Each node keeps the lists
of its logged-in users in memory (one set shared by all of a user's sessions, checked per
delivery), kept current on every node by `IgnoreChanged` events. Each change is an event on
every node, so changes are rate limited per user and one that changes nothing sends none.
What an ignore silences: the user's messages, live and in history, and every notice that
names them (their joins and leaves, their invitations, topic changes and moderation they do
or undergo).

Users without a session here (an HTTP client polling `GET /receive`) have their lists kept
too, in a bounded cache: every receive filters by the list, and reading it from the store
was one of each receive's statements. The same events keep it exact: a change forgets the
user's entry on every node, a deleted account or guest forgets every entry (their keys may
come back as someone else's), and a list read while such an event was applied is not kept.

A list holds at most `max_entries` users (`limits.ignores_per_user`; IRC advertises it as
SILENCE): the rate alone let one account grow it by 17,000 a day, a set every session of
the user keeps on every node and a row each in the store. A user's edits take turns on a
node, each from its store write to its event: an add and a removal side by side could apply
their events in the other order than their rows were written, and leave the sessions' set
without a user the store lists (a later `/ignore` then changed nothing and said it did).
Edits racing on several nodes are counted again once written, and taken back past it."""

from __future__ import annotations

from torbit.core.delivery import NO_IGNORES
from torbit.core.events import IgnoreChanged, MembershipEnded, NodeEvents, SessionsRevoked
from torbit.core.keylocks import KeyLocks, SharedTurns
from torbit.core.limits import RateLimiter, ReadBudget
from torbit.core.names import check_name, name_key
from torbit.core.ports import Store
from torbit.core.subscriptions import Subscriptions
from torbit.errors import InvalidInput, ListFull, NotFound

MAX_CACHED_LISTS = 10_000


class Ignores:
    def __init__(
        self,
        store: Store,
        subscriptions: Subscriptions,
        events: NodeEvents,
        rate: RateLimiter | None = None,
        max_cached: int = MAX_CACHED_LISTS,
        max_entries: int = 0,
        reads: ReadBudget | None = None,
        rights: SharedTurns | None = None,
    ) -> None:
        """`max_entries`: the most users one list may hold (0: no bound); `reads`: the
        read budget that reading one's list pays from, as any list of names does; `rights`:
        Membership.rights, which a guest's rename takes alone while it carries its ignorers
        over (`carry`): an ignore of it landing then was told done and lost (stop 51)."""
        self._rights = rights or SharedTurns()
        self._reads = reads or ReadBudget()
        self._store = store
        self._subs = subscriptions
        self._events = events
        self._rate = rate or RateLimiter(0, 0)
        # lists of users with no session here, oldest first; `_generation` moves on every
        # change, so a store read that a change overtook is not cached
        self._absent: dict[str, frozenset[str]] = {}
        self._max_cached = max_cached
        self.max_entries = max_entries
        # a user's edits, one at a time from store write to event: each sees the last's row,
        # and the events are applied in the order the rows were written
        self._editing = KeyLocks()
        self._generation = 0
        events.on(IgnoreChanged, self._apply)
        events.on(SessionsRevoked, self._on_revoked)
        events.on(MembershipEnded, self._on_ended)

    async def of(self, user: str) -> frozenset[str]:
        """Keys of the users this user ignores."""
        p = self._subs.presence(name_key(user))
        if p is not None:
            return p.ignores
        key = name_key(user)
        cached = self._absent.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        found = frozenset(await self._store.list_ignores(key)) or NO_IGNORES
        if generation == self._generation and self._max_cached > 0:
            while len(self._absent) >= self._max_cached:
                del self._absent[next(iter(self._absent))]
            self._absent[key] = found
        return found

    def _forget_all(self) -> None:
        self._generation += 1
        self._absent.clear()

    def _on_revoked(self, event: SessionsRevoked) -> None:
        if event.deleted:
            self._forget_all()

    def _on_ended(self, event: MembershipEnded) -> None:
        if not event.room:  # a guest's account deleted
            self._forget_all()

    async def ignore(self, user: str, other: str) -> str:
        name = check_name(other, "user name")
        async with self._rights.shared(name):  # not mid-rename
            return await self._ignore(user, other, name)

    async def _ignore(self, user: str, other: str, name: str) -> str:
        target = await self._store.get_user(name)
        if target is None:
            raise NotFound(f"no such user {other!r}")
        if target.key == name_key(user):
            raise InvalidInput("you cannot ignore yourself")
        key = name_key(user)
        self._rate.check(key, "ignore changes")
        async with self._editing.hold(key):
            if self.max_entries:
                listed = await self._store.list_ignores(key)
                if len(listed) >= self.max_entries and target.key not in listed:
                    raise ListFull(f"your ignore list is full ({self.max_entries} users)")
            if await self._store.add_ignore(key, target.key):
                await self._counted_again(key, target.key)
                await self._events.publish(IgnoreChanged(key, target.key, True), settled=True)
        return target.name

    async def _counted_again(self, key: str, added: str) -> None:
        """The list counted with this add in; past the bound, it is taken back (ListFull).
        The count before the add let nodes adding at once each pass it (stop 49: 6 of 5
        on two nodes); the add written last of those kept counts them all, so the list
        never stays past the bound (two racing for the last place may both be refused)."""
        if self.max_entries and len(await self._store.list_ignores(key)) > self.max_entries:
            await self._store.remove_ignore(key, added)
            raise ListFull(f"your ignore list is full ({self.max_entries} users)")

    async def unignore(self, user: str, other: str) -> str:
        key = check_name(other, "user name")
        user_key = name_key(user)
        self._rate.check(user_key, "ignore changes")
        async with self._rights.shared(key), self._editing.hold(user_key):
            if not await self._store.remove_ignore(user_key, key):
                raise NotFound(f"you are not ignoring {other!r}")
            await self._events.publish(IgnoreChanged(user_key, key, False))
        return other

    async def carry(self, old_key: str, new_key: str) -> None:
        """Whoever ignores `old_key` ignores `new_key` too: a guest's rename (core/guests.py)
        is the same person on the same connection, and let it walk out of every ignore
        (`NICK guest2` and it was heard again). Not rate limited nor bounded: nobody asked
        for it, and the old name's entry goes when that guest is deleted, just after."""
        for user_key in await self._store.ignorers(old_key):
            async with self._editing.hold(user_key):
                if await self._store.add_ignore(user_key, new_key):
                    await self._events.publish(IgnoreChanged(user_key, new_key, True))

    async def ignored(self, user: str) -> list[str]:
        """The user's list, read from the store and paid from their read budget as a roster
        is (`ReadBudget.grant_names`): it was free, up to `max_entries` rows, as often as
        one asked on any door. The size taken first is the node's copy of the list when it
        has one, else the bound: lists asked for in parallel share the budget."""
        key = name_key(user)
        with self._reads.names_read(key, most=self._size_known(key)) as paid:
            listed = await self._store.list_ignores(key)
            paid.names = len(listed)
        return sorted(listed)

    def _size_known(self, key: str) -> int:
        p = self._subs.presence(key)
        known = p.ignores if p is not None else self._absent.get(key)
        return len(known) if known is not None else self.max_entries

    def _apply(self, event: IgnoreChanged) -> None:
        self._generation += 1
        self._subs.ignores_changed()
        self._absent.pop(event.user, None)
        p = self._subs.presence(event.user)
        if p is not None:
            ignores = p.ignores | {event.target} if event.on else p.ignores - {event.target}
            self._subs.set_ignores(event.user, ignores or NO_IGNORES)
