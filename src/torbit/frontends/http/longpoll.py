"""Long polling for the classic `GET /receive`: wait until the room has something new.

A waiting request asks the core's subscriptions to wake it on the room's next message, so it
is woken by the same fan-out that feeds telnet and WebSocket clients, on whatever backend
carries the messages. Waiting requests are bounded in total, per user and per client
address (`limits.max_long_polls`, `long_polls_per_user`, `long_polls_per_ip`; 0 lifts one),
so that neither one account nor one address holding many free accounts can take every
slot: past a bound a request is told to retry (429) rather than piling up.

A waiting request is a session like a WebSocket: a revocation applied on this node (a
password change, a deletion, a logout of its token; from any node or the CLI) that names what
it was authenticated with ends it at once with 401, before it answers anything more. One
applied between its authentication and its parking has its proof read again from the store.
Likewise a ban mask set anywhere that matches its client (core/banmask_actions.py) wakes it,
and its next read is refused (403) and puts its member out (core/maskgate.py); a mask set
before it parked is seen by its first read while parked. And one authenticated with a token
ends with 401 when the token expires, as a WebSocket opened with it is closed then
(ws_session.py's Expiries): it waited on, and answered the next message of the room (its
cursor moved) to a token that no longer held.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from torbit.core.banmasks import Visitor
from torbit.core.events import SessionsRevoked
from torbit.core.limits import address_keys
from torbit.core.messaging import Messaging
from torbit.core.models import Message
from torbit.core.names import name_key
from torbit.core.subscriptions import Subscriptions
from torbit.core.throttle import NETWORK_SHARE
from torbit.core.wakeup import Wakeup
from torbit.errors import AuthenticationFailed, RateLimited
from torbit.frontends.http.auth import Authenticator, Principal
from torbit.frontends.http.ws_session import EXPIRED
from torbit.metrics import Metrics

MAX_WAIT_SECONDS = 30.0
DOOR = "http-poll"


@dataclass(frozen=True, slots=True)
class WaitLimits:
    total: int = 1000
    per_user: int = 8
    per_ip: int = 50


@dataclass(eq=False, slots=True)
class _Parked:
    """A waiting request's standing: what it was authenticated with, and what revocations
    applied here since made of it ("": holds; "check": read the proof again)."""

    caller: Principal
    wakeup: Wakeup
    check: bool = False
    revoked: str = ""  # the revocation's reason, once one named it
    expires: float = math.inf  # loop time its token expires at (`Receiver._expiry`)


def _take(counts: dict[str, int], key: str, limit: int) -> bool:
    n = counts.get(key, 0)
    if limit and n >= limit:
        return False
    counts[key] = n + 1
    return True


def _give_back(counts: dict[str, int], key: str) -> None:
    left = counts.pop(key) - 1
    if left:
        counts[key] = left


async def _wake_when(left: Callable[[], Awaitable[object]], wakeup: Wakeup) -> None:
    """Wake the parked request once its client has gone (`Receiver.receive`'s `left`)."""
    await left()
    wakeup.event.set()


class Receiver:
    """`Messaging.receive`, optionally waiting up to `wait` seconds for the first new message."""

    def __init__(
        self,
        messaging: Messaging,
        subscriptions: Subscriptions,
        metrics: Metrics,
        limits: WaitLimits | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        """`auth`: the door's authenticator; with it, revocations end waiting requests
        (module docstring); `auth.revocations` must count the same events as `on_revoked`."""
        self._messaging = messaging
        self._subs = subscriptions
        self._gauge = metrics.connected.labels(door=DOOR)
        self.limits = limits or WaitLimits()
        self.waiting = 0
        self.closing = False
        self._by_user: dict[str, int] = {}
        self._by_ip: dict[str, int] = {}
        self._wakeups: set[Wakeup] = set()
        self._auth = auth
        self._parked: dict[str, set[_Parked]] = {}  # user key -> its waiting requests
        if auth is not None:
            auth.on_revoked(self._revoked)

    def _revoked(self, event: SessionsRevoked) -> None:
        """As `Sessions.revoke` names sessions: by token (a logout), else by credential; a
        token request holding another credential has its token read again (a password change
        deletes every token, after it writes the new credential)."""
        for parked in self._parked.get(event.user, ()):
            proof = parked.caller.proof
            if event.token and proof.token != event.token:
                continue
            if event.credential and proof.credential != event.credential:
                if proof.token and not event.token:
                    parked.check = True
                    parked.wakeup.event.set()
                continue
            parked.revoked = event.reason
            parked.wakeup.event.set()

    async def _still_holds(self, parked: _Parked) -> None:
        """Raise AuthenticationFailed if a revocation, or its token's expiry, ended the
        request's right to answer."""
        if asyncio.get_running_loop().time() >= parked.expires:
            raise AuthenticationFailed(EXPIRED)
        if parked.check and not parked.revoked:
            parked.check = False
            assert self._auth is not None
            if not await self._auth.still_holds(parked.caller):
                parked.revoked = "your login was revoked"
        if parked.revoked:
            raise AuthenticationFailed(f"{parked.revoked}: you are logged out")

    def close(self) -> None:
        """Shutting down: waiting requests answer now with what they have."""
        self.closing = True
        for wakeup in self._wakeups:
            wakeup.event.set()

    def _admit(self, user_key: str, ips: tuple[str, ...]) -> None:
        """Take a waiting slot for this user and address (and an IPv6 client's /48, which
        holds NETWORK_SHARE times as many: `limits.address_keys`), or raise RateLimited."""
        limits = self.limits
        if limits.total and self.waiting >= limits.total:
            raise RateLimited("too many waiting requests: try again shortly", retry_after=1)
        if not _take(self._by_user, user_key, limits.per_user):
            raise RateLimited(
                f"too many waiting requests of yours (limit {limits.per_user})", retry_after=1
            )
        per_ip = limits.per_ip
        bounds = (per_ip, per_ip * NETWORK_SHARE)
        if per_ip and any(self._by_ip.get(k, 0) >= n for k, n in zip(ips, bounds, strict=False)):
            _give_back(self._by_user, user_key)
            raise RateLimited(
                f"too many waiting requests from your address (limit {per_ip})", retry_after=1
            )
        for k in ips:
            _take(self._by_ip, k, 0)
        self.waiting += 1

    async def receive(
        self,
        user: str,
        room_key: str,
        limit: int,
        wait: float,
        ip: str = "?",
        caller: Principal | None = None,
        visitor: Visitor | None = None,
        left: Callable[[], Awaitable[object]] | None = None,
    ) -> list[Message]:
        """`caller`: what the request was authenticated with, for revocations to end its
        wait (without it, or without `auth`, none does). `visitor`: its client, matched
        against the room's ban masks at every read while it waits (core/maskgate.py), and
        woken by a new mask that matches it, which so ends it (403). `left`: returns when its
        client has gone; a wait it ends is answered nothing, the cursor where it was (the
        page would go nowhere, its messages never returned by `/receive` again), and gives
        its slots back then, not when the wait would have ended (a reloaded page's polls
        were refused 429 for up to 30 s by its own closed ones)."""
        messages, after = await self._messaging.receive_from(user, room_key, limit, visitor)
        if messages or wait <= 0 or self.closing:
            return messages
        expires = await self._expiry(caller)
        key = name_key(user)
        ips = address_keys(ip)  # an IPv6 client's /64 and /48, as connections are counted
        self._admit(key, ips)
        self._gauge.inc()
        try:
            async with self._subs.wake_on(room_key, visitor) as wakeup:
                self._wakeups.add(wakeup)
                parked = self._park(key, caller, wakeup, expires)
                watch = None if left is None else asyncio.create_task(_wake_when(left, wakeup))
                gone = None if watch is None else watch.done
                try:
                    return await self._wait(
                        wakeup,
                        user,
                        room_key,
                        limit,
                        after,
                        min(wait, MAX_WAIT_SECONDS),
                        parked,
                        visitor,
                        gone,
                    )
                finally:
                    if watch is not None:
                        watch.cancel()
                    self._wakeups.discard(wakeup)
                    if parked is not None:
                        self._unpark(key, parked)
        finally:
            self.waiting -= 1
            _give_back(self._by_user, key)
            for k in ips:
                _give_back(self._by_ip, k)
            self._gauge.dec()

    async def _expiry(self, caller: Principal | None) -> float:
        """The loop time the caller's token expires at (inf: a password, or no expiry
        known), as the door's WebSockets read it; a token just checked is remembered on
        this node (auth.py), so this asks the store nothing."""
        if self._auth is None or caller is None or caller.token is None:
            return math.inf
        expires_at = await self._auth.token_expiry(caller.token)
        if expires_at is None:
            return math.inf
        return asyncio.get_running_loop().time() + self._auth.expires_in(expires_at)

    def _park(
        self, key: str, caller: Principal | None, wakeup: Wakeup, expires: float = math.inf
    ) -> _Parked | None:
        if self._auth is None or caller is None:
            return None
        parked = _Parked(caller, wakeup, expires=expires)
        self._parked.setdefault(key, set()).add(parked)
        # a revocation applied after the check began and before now named no parked request
        parked.check = caller.revocations != self._auth.revocations
        return parked

    def _unpark(self, key: str, parked: _Parked) -> None:
        mine = self._parked.get(key)
        if mine is not None:
            mine.discard(parked)
            if not mine:
                del self._parked[key]

    async def _wait(
        self,
        wakeup: Wakeup,
        user: str,
        room_key: str,
        limit: int,
        after: int | None,
        wait: float,
        parked: _Parked | None = None,
        visitor: Visitor | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> list[Message]:
        """Read once while listening, then answer each wake-up from the messages that woke
        it when they follow on from where the last read ended (no read of the log: the
        cursor's move is the one statement), else read again. Every read starts where this
        request's last one ended (`after`), not at the shared cursor: a user's parked polls
        woken together all answer with what woke them, none finds the cursor moved by
        another and nothing to say (core/messaging.py)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # its token expires before the wait is over: woken then, it ends with 401. Said by the
        # deadline itself, not by the clock read at the wake-up, which uvloop keeps to the
        # millisecond and may show a hair before it (an empty 200 3 times in 96)
        expiring = parked is not None and parked.expires < deadline
        if parked is not None:
            deadline = min(deadline, parked.expires)
        woken: list[Message] | None = None  # None: read the log
        while True:
            if parked is not None:
                await self._still_holds(parked)
            answer: tuple[list[Message], int | None] | None = None
            if woken is not None:
                answer = await self._messaging.receive_woken(
                    user, room_key, after, woken, limit, visitor
                )
            if answer is None:
                # Clear before reading: a message committed after the read sets it again.
                wakeup.clear()
                answer = await self._messaging.receive_after(user, room_key, after, limit, visitor)
            messages, after = answer
            if parked is not None and parked.revoked:  # applied while it read
                await self._still_holds(parked)
            left = deadline - loop.time()
            if messages or self.closing:
                return messages
            if left <= 0:
                if expiring:
                    raise AuthenticationFailed(EXPIRED)
                return messages
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await wakeup.event.wait()
            if gone is not None and gone():
                return []  # its client left: nothing read, nothing marked read
            woken = wakeup.take()
