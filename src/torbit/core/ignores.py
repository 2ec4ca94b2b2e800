"""Ignore lists: whom a user never hears from, live or in history. Each node keeps the lists
of its logged-in users in memory (one set shared by all of a user's sessions, checked per
delivery), kept current on every node by `IgnoreChanged` events. Each change is an event on
every node, so changes are rate limited per user and one that changes nothing sends none.
What an ignore silences: the user's messages, live and in history, and every notice that
names them (their joins and leaves, their invitations, topic changes and moderation they do
or undergo)."""

from __future__ import annotations

from torbit.core.events import IgnoreChanged, NodeEvents
from torbit.core.limits import RateLimiter
from torbit.core.names import check_name, name_key
from torbit.core.ports import Store
from torbit.core.subscriptions import Subscriptions
from torbit.errors import InvalidInput, NotFound


class Ignores:
    def __init__(
        self,
        store: Store,
        subscriptions: Subscriptions,
        events: NodeEvents,
        rate: RateLimiter | None = None,
    ) -> None:
        self._store = store
        self._subs = subscriptions
        self._events = events
        self._rate = rate or RateLimiter(0, 0)
        events.on(IgnoreChanged, self._apply)

    async def of(self, user: str) -> set[str]:
        """Keys of the users this user ignores."""
        p = self._subs.presence(name_key(user))
        if p is not None:
            return p.ignores
        return set(await self._store.list_ignores(name_key(user)))

    async def ignore(self, user: str, other: str) -> str:
        target = await self._store.get_user(check_name(other, "user name"))
        if target is None:
            raise NotFound(f"no such user {other!r}")
        if target.key == name_key(user):
            raise InvalidInput("you cannot ignore yourself")
        self._rate.check(name_key(user), "ignore changes")
        if await self._store.add_ignore(name_key(user), target.key):
            await self._events.publish(IgnoreChanged(name_key(user), target.key, True))
        return target.name

    async def unignore(self, user: str, other: str) -> str:
        key = check_name(other, "user name")
        self._rate.check(name_key(user), "ignore changes")
        if not await self._store.remove_ignore(name_key(user), key):
            raise NotFound(f"you are not ignoring {other!r}")
        await self._events.publish(IgnoreChanged(name_key(user), key, False))
        return other

    async def ignored(self, user: str) -> list[str]:
        return sorted(await self._store.list_ignores(name_key(user)))

    def _apply(self, event: IgnoreChanged) -> None:
        p = self._subs.presence(event.user)
        if p is not None:
            if event.on:
                p.ignores.add(event.target)
            else:
                p.ignores.discard(event.target)
