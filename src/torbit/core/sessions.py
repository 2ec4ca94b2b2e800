"""Logged-in sessions: logging in and out of a node, and the join/leave notices that follow
from presence. A user may have several sessions (doors, devices); they are announced as
joining a room with the first and leaving with the last."""

from __future__ import annotations

from torbit.core.delivery import Notice, NoticeKind, Session
from torbit.core.names import is_inbox, name_key
from torbit.core.ports import Store
from torbit.core.subscriptions import Subscriptions


class Sessions:
    def __init__(self, store: Store, subscriptions: Subscriptions, presence_notices_max: int):
        self._store = store
        self._subs = subscriptions
        self._notices_max = presence_notices_max

    async def login(self, session: Session, name: str) -> None:
        """The session gets the user's private messages from now on, and their ignore list."""
        p = self._subs.presence(name_key(name))
        ignores = p.ignores if p else set(await self._store.list_ignores(name_key(name)))
        await self._subs.attach(session, name, ignores)

    async def logout(self, session: Session, reason: str = "") -> None:
        """Forget the session; its rooms are told the user left (with `reason`, if any)."""
        name = self.name_of(session)
        for channel in self._subs.channels_of(session):
            if not is_inbox(channel) and self.last_here(session, channel):
                text = f"{name} left #{channel}" + (f" ({reason})" if reason else "")
                notice = Notice(text, NoticeKind.QUIT, room=channel, user=name, detail=reason)
                self.announce(channel, notice, session)
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
        """A join or leave notice; in big rooms they would be most of the traffic (every join
        told to everyone is quadratic), so only rooms up to `presence_notices_max` get them."""
        if self._subs.listener_count(channel) <= self._notices_max:
            self._subs.notify(channel, text, skip=skip)

    def shutdown_notice(self, text: str) -> None:
        self._subs.notify_everyone(text)
