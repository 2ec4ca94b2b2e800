"""Logged-in sessions: logging in and out of a node, closing the sessions whose credentials
were revoked, and the join/leave notices that follow from presence. A user may have several
sessions (doors, devices); they are announced as joining a room with the first and leaving
with the last. A notice names its user, so whoever ignores them does not see it; past the
`presence` rate limit, a user who keeps coming and going is no longer announced at all."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime

from torbit.core.delivery import NO_IGNORES, Notice, NoticeKind, Session
from torbit.core.events import Parted, SessionsRevoked
from torbit.core.leaves import PendingLeaves
from torbit.core.limits import RateLimiter
from torbit.core.models import User
from torbit.core.names import is_inbox, name_key
from torbit.core.ports import Store
from torbit.core.presence import Change
from torbit.core.subscriptions import Subscriptions
from torbit.core.tasks import cancel_and_wait
from torbit.core.text import clean_reason
from torbit.errors import AuthenticationFailed, ServiceUnavailable

log = logging.getLogger(__name__)

EXPELLED_KEEP = 60.0  # seconds a kick told here waits for the beat that says the user went


@dataclass(frozen=True, slots=True)
class Proof:
    """What a session logged in with: the user's credential id as read when the password or
    token was checked, and the sha256 of the token, if one was used."""

    credential: str
    token: str = ""


@dataclass(frozen=True, slots=True)
class Fresh:
    """A user read (or created) moments ago by the door's password check, with this node's
    counts of revocations and ignore-list changes from before that read (`Sessions.counts`):
    `login` takes it instead of reading the user again, and reads again only if a revocation
    or an ignore change was applied here since (as it does after its own read)."""

    user: User
    ignores: frozenset[str]
    counts: tuple[int, int]


class Sessions:
    def __init__(
        self,
        store: Store,
        subscriptions: Subscriptions,
        presence_notices_max: int,
        presence: RateLimiter | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        grace: float = 0.0,
    ) -> None:
        """`grace`: seconds a disconnected user's "left" notices wait; back by then, neither
        that nor the "joined" is shown (a page reload, a reconnect). `now`: the store's time
        (core/storeclock.py), which a token session's token is read live by (clock59)."""
        self._store = store
        self._subs = subscriptions
        self._notices_max = presence_notices_max
        self._presence = presence or RateLimiter(0, 0)
        self._now = now
        self._proofs: dict[Session, Proof] = {}
        self._revocations = 0  # revocations applied here so far: see `login`
        self._rechecks: set[asyncio.Task[None]] = set()  # token sessions read again: see revoke
        self._origins: dict[Session, str] = {}  # for the app log's logout line
        self._grace = grace
        self._gone = PendingLeaves(grace, self._told)  # leaves held for the grace
        self._expelled: dict[tuple[str, str], float] = {}  # (room, user): gone, told here
        # whether the user may not talk in the room now: muted there, or unvoiced in a
        # moderated room (services.py wires it); `leave_reason`
        self.silenced: Callable[[str, str], Awaitable[bool]] = _never_silenced
        subscriptions.on_enter(self._gone.entered)

    @property
    def revocations(self) -> int:
        """How many revocations were applied here so far: taken before a door checks a token
        against the store, and given to `login` as `checked_after`."""
        return self._revocations

    def counts(self) -> tuple[int, int]:
        """Revocations and ignore changes applied here so far: taken before a read of the
        user that `login` is then handed (`Fresh`)."""
        return self._revocations, self._subs.ignore_changes

    async def login(
        self,
        session: Session,
        name: str,
        proof: Proof,
        origin: str = "",
        *,
        checked_after: int | None = None,
        fresh: Fresh | None = None,
    ) -> None:
        """The session gets the user's private messages from now on, and their ignore list.

        The store is read once, before the session is attached: the user (does the proof
        still hold?) with their ignore list. A revocation committed before that read fails
        the proof there (AuthenticationFailed); one applied on this node while the read was
        under way is seen by the count of revocations, and the proof is read again once the
        session is attached; one applied after the attach finds the session attached and
        closes it. Another node's revocation is applied here only after it was committed,
        so one of the three always catches it. `checked_after`: the door read the proof's
        token in the store itself (a WebSocket's handshake), after `revocations` was that
        count; the token is not read again, and the count runs from there: a revocation
        committed before the door's read failed it, one applied here since is counted (the
        proof is then read again in full once attached), one applied later finds the session
        attached. The user's credential is still compared here. The ignore list is kept the
        same way: a change applied here while it was read, when no session of the user was
        here to be told, has the list read again once the session is attached (its commit
        came before).

        `fresh`: the user as the door's password check read it (a registration: as created,
        with no ignores), and the counts from before that read; it stands for the read."""
        key = name_key(name)
        if fresh is None or fresh.user.key != key:
            revocations, ignore_changes = self.counts()
            user, ignore_list = await self._store.user_and_ignores(key)
            ignores = frozenset(ignore_list) or NO_IGNORES
        else:
            revocations, ignore_changes = fresh.counts
            user, ignores = fresh.user, fresh.ignores or NO_IGNORES
        if checked_after is not None:
            revocations = checked_after
        if not await self._proof_holds(user, key, proof, token=checked_after is None):
            raise AuthenticationFailed("your login was revoked: log in again")
        p = self._subs.presence(key)
        await self._subs.attach(session, name, p.ignores if p else ignores)
        self._proofs[session] = proof
        while p is None and ignore_changes != self._subs.ignore_changes:
            ignore_changes = self._subs.ignore_changes  # (again if one came during the read)
            try:
                ignores = frozenset(await self._store.list_ignores(key)) or NO_IGNORES
            except BaseException:
                await self._forget(session)
                raise
            self._subs.set_ignores(key, ignores)
        if revocations != self._revocations:
            try:
                valid = await self._proof_holds(await self._store.get_user(key), key, proof)
            except BaseException:
                await self._forget(session)
                raise
            if not valid:
                await self._forget(session)
                raise AuthenticationFailed("your login was revoked: log in again")
        self._origins[session] = origin
        log.info("login %s%s", name, f" from {origin}" if origin else "")

    async def _proof_holds(
        self, user: User | None, key: str, proof: Proof, *, token: bool = True
    ) -> bool:
        """`token`: read the proof's token too (if it has one)."""
        if user is None or user.credential != proof.credential:
            return False
        if not token or not proof.token:
            return True
        return await self._store.token_user(proof.token, self._now()) == key

    async def _forget(self, session: Session) -> None:
        self._proofs.pop(session, None)
        self._origins.pop(session, None)
        await self._subs.detach(session)

    async def logout(self, session: Session, reason: str = "", *, said: bool = True) -> None:
        """Forget the session; its rooms are told the user left (with `reason`, if any).
        `said`: the reason is the user's words (`leave_reason`), not the server's (an EOF)."""
        reason = clean_reason(reason)
        name = self.name_of(session)
        self._proofs.pop(session, None)
        self._log_out(session, "")
        channels = self._subs.channels_of(session)
        said_in: dict[str, str] = {}  # asked only of the user's words: a mass logout has none
        if reason and said:
            for channel in channels:
                if not is_inbox(channel):
                    said_in[channel] = await self.leave_reason(channel, session.user_key, reason)
        for channel in channels:
            if not is_inbox(channel) and self.last_here(session, channel):
                room = self._subs.room_name(channel)
                shown = said_in.get(channel, reason)
                text = f"{name} left #{room}" + (f" ({shown})" if shown else "")
                notice = Notice(
                    text, NoticeKind.QUIT, room=channel, room_name=room, user=name, detail=shown
                )
                self._announce_gone(channel, notice, session)
        await self._subs.detach(session)

    async def leave_reason(self, channel: str, user_key: str, reason: str) -> str:
        """A leave's reason (PART, QUIT, a DELETE's `reason`) as the room is told it: none
        from a user who may not talk there (muted, or unvoiced in a moderated room), whose
        words it would be (charybdis drops a PART reason of one who may not send, as torbit
        refuses a muted member's topic). The store away, none: a leave must not fail on it."""
        if not reason:
            return reason
        try:
            return "" if await self.silenced(channel, user_key) else reason
        except ServiceUnavailable:
            return ""

    def _log_out(self, session: Session, why: str) -> None:
        origin = self._origins.pop(session, None)
        if origin is not None:
            where = f" from {origin}" if origin else ""
            log.info("logout %s%s%s", self.name_of(session), where, why)

    def _announce_gone(self, channel: str, notice: Notice, session: Session) -> None:
        """A disconnect: "left" after the grace period, unless the user is back by then."""
        if self._grace <= 0:
            self.announce(channel, notice, session)
            return
        self._gone_later(channel, notice, session.user_key)

    def _gone_later(self, channel: str, notice: Notice, user: str) -> None:
        """Tell `notice` (a leave) after the grace, unless the user is back in the room by
        then, on this node or another."""
        self._gone.hold(channel, user, notice)

    def _told(self, channel: str, notice: Notice, user: str, late: Container[Session]) -> None:
        """A held leave is due: told, unless the user is in the room again here or elsewhere;
        not to the `late` sessions, which entered the room after it (core/leaves.py)."""
        if self._subs.user_sessions_in(channel, user) == 0 and not self._subs.online_elsewhere(
            channel, user
        ):
            self._tell(channel, notice, user, None, late)

    def announce_back(self, channel: str, text: str, session: Session) -> None:
        """A "joined" notice, or nothing for a user back within the grace of a disconnect."""
        if self._gone.drop(channel, session.user_key):
            return
        self.announce(channel, text, session)

    def revoke(self, event: SessionsRevoked) -> int:
        """Close this node's sessions that the revocation names (see core/revocation.py):
        each is told why and closed by its door, and leaves its rooms here at once, so not
        one more message reaches it. The number closed."""
        self._revocations += 1
        closed = 0
        recheck: list[tuple[Session, Proof]] = []
        for session in self._subs.sessions_of(event.user):
            proof = self._proofs.get(session)
            if proof is None:
                continue
            if event.token and proof.token != event.token:
                continue
            if event.credential and proof.credential != event.credential:
                if proof.token and not event.token:
                    recheck.append((session, proof))
                continue
            self._close(session, event.reason)
            closed += 1
        if recheck:
            task = asyncio.get_running_loop().create_task(
                self._recheck_tokens(event.user, event.reason, recheck)
            )
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)
        return closed

    async def _recheck_tokens(
        self, user_key: str, reason: str, sessions: list[tuple[Session, Proof]]
    ) -> None:
        """A password change or deletion deletes the user's tokens, but it writes the new
        credential first: a token socket whose handshake read the token before the deletion
        and the user after the new credential holds the new credential and a deleted token,
        which the revocation (of the old credential) does not name. Its token is read again:
        gone, it is closed like the others."""
        for session, proof in sessions:
            try:
                holder = await self._store.token_user(proof.token, self._now())
            except Exception:
                log.warning("could not check a token session of %s again", user_key, exc_info=True)
                continue
            if holder != user_key and self._proofs.get(session) is proof:
                self._close(session, reason)

    def _close(self, session: Session, reason: str) -> None:
        """Close a revoked session: told why, its rooms left here at once."""
        del self._proofs[session]
        self._log_out(session, f" ({reason})")
        session.revoke(f"{reason}: you are logged out")
        name = self.name_of(session)
        for channel in self._subs.channels_of(session):
            if not is_inbox(channel) and self.last_here(session, channel):
                # not why: that is the user's own business
                room = self._subs.room_name(channel)
                text = f"{name} left #{room}"
                notice = Notice(text, NoticeKind.QUIT, room=channel, room_name=room, user=name)
                self.announce(channel, notice, session)
        self._subs.detach_now(session)

    def forget_user(self, user_key: str) -> None:
        """A deleted account: nobody on this node ignores that name any more (whoever takes
        it next starts clean)."""
        for p in self._subs.users():
            if user_key in p.ignores:
                self._subs.set_ignores(name_key(p.name), p.ignores - {user_key})

    def name_of(self, session: Session) -> str:
        p = self._subs.presence(session.user_key)
        return p.name if p else session.user_key

    def last_here(self, session: Session, channel: str) -> bool:
        """True if no other session of the user listens to the channel, here or on another
        node (O(1) here: this runs on every join and leave, in rooms of thousands)."""
        mine = self._subs.user_sessions_in(channel, session.user_key)
        counted = self._subs.is_listening(session, channel) and not self._subs.departed(session)
        if mine - counted != 0:
            return False
        return not self._subs.online_elsewhere(channel, session.user_key)

    def expelled(self, room: str, user: str) -> None:
        """A kick or ban, already told here (core/moderation_notices.py): the leave that the
        user's node's beat brings next is no news. Held for the grace like a disconnect, it
        took the user back within it for a reload, so the rejoin was never told here."""
        now = time.monotonic()
        self._expelled.pop((room, user), None)
        self._expelled[(room, user)] = now
        expelled = self._expelled
        while expelled:  # oldest first (a ban of the absent brings no beat); O(1) a call,
            key, at = next(iter(expelled.items()))  # not a copy: a ban mask putting out a
            if now - at < EXPELLED_KEEP:  # room of 10,000 tells 10,000 of them here
                break
            del expelled[key]

    def parted(self, event: Parted) -> None:
        """A user's leave on another node, told here as there (its reason, or a switch of
        rooms) and at once, rather than a grace later as a plain "left" (the beat's)."""
        if not self._gone.drop(event.room, event.user):  # else the beat came first
            self.expelled(event.room, event.user)  # it comes next: no news then
        if self._subs.user_sessions_in(event.room, event.user):
            return
        notice = Notice(
            event.text,
            NoticeKind.PART,
            room=event.room,
            room_name=event.room_name,
            user=event.name,
            detail=event.detail,
        )
        self._tell(event.room, notice, event.user, None)

    def announce_elsewhere(self, change: Change) -> None:
        """A user came to a room on another node, or left it on every node (or vanished
        with a node that died): told here like a local join or leave, in the same limits;
        a leave after the grace, like a disconnect here (the other node tells its presence
        soon: a page reloaded there is no leave and join here)."""
        room = change.room
        if is_inbox(room):  # online, in a room or not (presence.ONLINE): no room's news
            return
        if self._expelled.pop((room, change.user), None) is not None and not change.online:
            return  # the kick's notice was the leave
        if not self._subs.listener_count(room) or self._subs.user_sessions_in(room, change.user):
            return
        name = change.name
        if change.online:
            if self._gone.drop(room, change.user):
                return  # back within the grace of a leave: no leave, no join
            notice = Notice(f"{name} joined #{room}", NoticeKind.JOIN, room=room, user=name)
            self._tell(room, notice, change.user, None)
            return
        notice = Notice(f"{name} left #{room}", NoticeKind.PART, room=room, user=name)
        if self._grace <= 0:
            self._tell(room, notice, change.user, None)
        else:
            self._gone_later(room, notice, change.user)

    def announce(self, channel: str, text: str, skip: Session) -> None:
        """A join or leave notice of `skip`'s user; in big rooms they would be most of the
        traffic (every join told to everyone is quadratic), so only rooms up to
        `presence_notices_max` get them."""
        self._tell(channel, text, skip.user_key, skip)

    def notices_in(self, channel: str) -> bool:
        """Whether joins and leaves are told in the room now: up to `presence_notices_max`
        listeners here. Where they are not, a client follows who is online by reading it."""
        return self._subs.listener_count(channel) <= self._notices_max

    def _tell(
        self,
        channel: str,
        text: str,
        user: str,
        skip: Session | None,
        late: Container[Session] = (),
    ) -> None:
        if self.notices_in(channel) and self._presence.take(user):
            self._subs.notify(channel, text, skip=skip, about=(user,), late=late)

    async def close(self) -> None:
        """At shutdown, once the log delivers no more events, before the store closes: token
        sessions still being read again (`revoke`) are let go (core/tasks.py)."""
        await cancel_and_wait(self._rechecks)

    def shutdown_notice(self, text: str) -> None:
        self._gone.clear()
        self._subs.notify_everyone(text)


async def _never_silenced(room_key: str, user_key: str) -> bool:
    return False
