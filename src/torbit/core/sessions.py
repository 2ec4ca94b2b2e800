"""Logged-in sessions: logging in and out of a node, and the join/leave notices that follow
from presence. A user may have several sessions (doors, devices); they are announced as
joining a room with the first and leaving with the last. A notice names its user, so whoever
ignores them does not see it; past the `presence` rate limit, a user who keeps coming and
going is no longer announced at all."""

from __future__ import annotations

from torbit.core.delivery import Session
from torbit.core.limits import RateLimiter
from torbit.core.names import is_inbox, name_key
from torbit.core.ports import Store
from torbit.core.subscriptions import Subscriptions


class Sessions:
    def __init__(
        self,
        store: Store,
        subscriptions: Subscriptions,
        presence_notices_max: int,
        presence: RateLimiter | None = None,
    ):
        self._store = store
        self._subs = subscriptions
        self._notices_max = presence_notices_max
        self._presence = presence or RateLimiter(0, 0)

    async def login(self, session: Session, name: str) -> None:
        """The session gets the user's private messages from now on, and their ignore list."""
        p = self._subs.presence(name_key(name))
        ignores = p.ignores if p else set(await self._store.list_ignores(name_key(name)))
        await self._subs.attach(session, name, ignores)

    async def logout(self, session: Session) -> None:
        for channel in self._subs.channels_of(session):
            if not is_inbox(channel) and self.last_here(session, channel):
                self.announce(channel, f"{self.name_of(session)} left #{channel}", session)
        await self._subs.detach(session)

    def name_of(self, session: Session) -> str:
        p = self._subs.presence(session.user_key)
        return p.name if p else session.user_key

    def last_here(self, session: Session, channel: str) -> bool:
        """True if no other session of the user listens to the channel here (O(1): this runs
        on every join and leave, in rooms of thousands)."""
        mine = self._subs.user_sessions_in(channel, session.user_key)
        return mine - self._subs.is_listening(session, channel) == 0

    def announce(self, channel: str, text: str, skip: Session) -> None:
        """A join or leave notice of `skip`'s user; in big rooms they would be most of the
        traffic (every join told to everyone is quadratic), so only rooms up to
        `presence_notices_max` get them."""
        if self._subs.listener_count(channel) <= self._notices_max and self._presence.take(
            skip.user_key
        ):
            self._subs.notify(channel, text, skip=skip, about=(skip.user_key,))

    def shutdown_notice(self, text: str) -> None:
        self._subs.notify_everyone(text)
