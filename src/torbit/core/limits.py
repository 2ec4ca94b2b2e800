"""Abuse limits kept in memory: token buckets (`Gcra`s, core/gcra.py) for message rates
and for the actions that change state or tell others something (`ActionLimits`), and open
connections per address. Bounded in size, so an attacker cycling through names or addresses
cannot grow them without limit. A limit of 0 disables it. Each node keeps its own buckets:
behind a load balancer a user's rate is at most the nodes' count times the configured one.
The login back-off is core/throttle.py."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from torbit.core.gcra import Gcra
from torbit.core.throttle import NETWORK_SHARE, address_key, network_key
from torbit.errors import RateLimited

NAMES_PER_MESSAGE = 10  # names of a list that cost one message of the read budget

Clock = Callable[[], float]
MAX_TRACKED = 100_000


def _try_again(seconds: float) -> str:
    """The end of a refusal: ': try again in 5 s' (or 'in 12 min'); nothing under a second."""
    if seconds < 1:
        return ""
    if seconds < 120:
        return f": try again in {math.ceil(seconds)} s"
    return f": try again in {math.ceil(seconds / 60)} min"


class RateLimiter:
    """A `Gcra` bucket per key (core/gcra.py): its TAT, the one time at which it is full
    again (a float, not a pair: there is one per logged-in user), and a full bucket is no
    bucket: those found full are dropped as others are taken from, so idle users cost
    nothing here."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.gcra = Gcra(rate, max(burst, 1))
        self.rate = rate
        self.burst = self.gcra.burst
        self._clock = clock
        self._full_at: OrderedDict[str, float] = OrderedDict()  # key -> its TAT

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, n: int = 1) -> int:
        """Take up to n tokens; return how many were granted (0..n)."""
        if self.rate <= 0:
            return n
        now = self._clock()
        buckets = self._full_at
        gcra = self.gcra
        full_at = buckets.pop(key, now)
        granted = min(n, gcra.room(full_at, now))
        if granted > 0:
            full_at = gcra.spend(full_at, now, granted)
        if full_at > now:
            buckets[key] = full_at
        # the least recently used buckets first: drop those full again by now (two at most,
        # so a take stays O(1)), and the oldest past the bound
        for _ in range(2):
            oldest = next(iter(buckets), None)
            if oldest is None or buckets[oldest] > now:
                break
            del buckets[oldest]
        if len(buckets) > MAX_TRACKED:
            buckets.popitem(last=False)
        return max(granted, 0)

    def debit(self, key: str, n: int) -> None:
        """Take n tokens even past an empty bucket: what is missing is owed, and nothing more
        is granted until the bucket has refilled past the debt (a read already done is paid
        whole, not only as far as the bucket went)."""
        if self.rate <= 0 or n <= 0:
            return
        now = self._clock()
        buckets = self._full_at
        buckets[key] = self.gcra.spend(buckets.pop(key, now), now, n)
        if len(buckets) > MAX_TRACKED:
            buckets.popitem(last=False)

    def give_back(self, key: str, n: int) -> None:
        """Return n tokens taken but not used (never past a full bucket)."""
        full_at = self._full_at.get(key)
        if self.rate <= 0 or n <= 0 or full_at is None:
            return
        full_at = self.gcra.refund(full_at, n)
        if full_at <= self._clock():
            del self._full_at[key]
        else:
            self._full_at[key] = full_at

    def carry(self, old: str, new: str) -> None:
        """What `old` has spent, `new` has spent too (a guest's new nick is no fresh start:
        each rename would otherwise refill every per-user bucket)."""
        full_at = self._full_at.get(old)
        if self.rate <= 0 or full_at is None:
            return
        now = self._clock()
        if full_at > now:
            self._full_at[new] = max(self._full_at.get(new, now), full_at)

    def check(self, key: str, what: str = "messages") -> None:
        """Take one token or raise RateLimited saying when to try again: what is left of the
        wait (`wait`), in its text too when that is a second or more. Not one token's whole
        time: a registration refused 40 minutes into its hour said "try again in 12 min" then
        too, as at its first minute, and Retry-After said as much."""
        self.take_all(key, 1, what)

    def take_all(self, key: str, n: int, what: str) -> None:
        """Take n tokens (at most the burst), or none and raise RateLimited as `check` does,
        with the wait until the bucket holds n: a cost known before it is run (a whole scan
        of an inbox, whose unused part is given back after) is paid whole or refused."""
        if self.rate <= 0:
            return
        full_at, now = self._full_at.get(key), self._clock()
        if full_at is not None and self.gcra.room(full_at, now) < n:
            wait = self.gcra.wait(full_at, now, n)
            raise RateLimited(f"slow down: too many {what}{_try_again(wait)}", retry_after=wait)
        self.take(key, n)

    def wait(self, key: str) -> float:
        """Seconds until the key's bucket holds a token again: one token's time for a bucket
        just emptied, longer while a debt (`debit`) is being repaid."""
        if self.rate <= 0:
            return 0.0
        full_at = self._full_at.get(key)
        if full_at is None:
            return 0.0
        return self.gcra.wait(full_at, self._clock())

    def holds(self, key: str) -> bool:
        """Whether the key's bucket is not full (it has spent something lately)."""
        full_at = self._full_at.get(key)
        return full_at is not None and full_at > self._clock()


class AddressRates:
    """A bucket per client address (`address_key`: an IPv6 client's /64) and one per IPv6
    /48 (`network_key`), NETWORK_SHARE times as large: a /48 is 65,536 /64s, and each
    was a fresh bucket. `limiter` gives the per-address rate and burst."""

    def __init__(self, limiter: RateLimiter | None = None, clock: Clock = time.monotonic) -> None:
        per_address = limiter or RateLimiter(0, 0, clock)
        self.per_address = per_address
        self.per_network = RateLimiter(
            per_address.rate * NETWORK_SHARE, per_address.burst * NETWORK_SHARE, clock
        )

    def check(self, address: str, what: str) -> None:
        """Take one token of the address's bucket and of its network's, or neither
        (RateLimited)."""
        key = address_key(address)
        self.per_address.check(key, what)
        network = network_key(address)
        if network is None:
            return
        try:
            self.per_network.check(network, what)
        except RateLimited:
            self.per_address.give_back(key, 1)
            raise

    def refusal(self, address: str, what: str) -> RateLimited | None:
        """What `check` would raise now, nothing taken (None: it would pass): a dialogue
        says so before it asks for what the refusal would waste (a new password, twice)."""
        wait = self.per_address.wait(address_key(address))
        network = network_key(address)
        if network is not None:
            wait = max(wait, self.per_network.wait(network))
        if wait <= 0:
            return None
        return RateLimited(f"slow down: too many {what}{_try_again(wait)}", retry_after=wait)

    def admit(self, address: str) -> bool:
        """`check` without the exception: True when a token of both buckets was taken (a
        refused reconnect storm raised and worded thousands a second, for nothing)."""
        key = address_key(address)
        if self.per_address.take(key) == 0:
            return False
        network = network_key(address)
        if network is None or self.per_network.take(network) > 0:
            return True
        self.per_address.give_back(key, 1)
        return False

    def give_back(self, address: str, n: int) -> None:
        self.per_address.give_back(address_key(address), n)
        network = network_key(address)
        if network is not None:
            self.per_network.give_back(network, n)


MAX_ROOMS_REMEMBERED = 64  # per user, before those with a full bucket again are forgotten


class RoomRates:
    """The per-room message rate: a bucket per user and room (one RateLimiter, keyed "user
    room"), with the rooms each user sent to lately remembered, so that `carry` moves every
    one of them to a guest's new nick: those of rooms it left, and of rooms it only sent to
    from outside, too. Bounded like the buckets: a user's list forgets the rooms whose bucket
    is full again once it grows past MAX_ROOMS_REMEMBERED, and the users past MAX_TRACKED."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter(0, 0)
        self._rooms: OrderedDict[str, set[str]] = OrderedDict()  # user key -> room keys

    def take(self, user_key: str, room_key: str, n: int = 1) -> int:
        """Take up to n tokens of the user's bucket in the room; how many were granted."""
        if self.limiter.rate <= 0:
            return n
        self._remember(user_key, room_key)
        return self.limiter.take(f"{user_key} {room_key}", n)

    def check(self, user_key: str, room_key: str) -> None:
        """Take one token or raise RateLimited saying when to try again."""
        if self.limiter.rate <= 0:
            return
        self._remember(user_key, room_key)
        self.limiter.check(f"{user_key} {room_key}")

    def _remember(self, user_key: str, room_key: str) -> None:
        rooms = self._rooms.get(user_key)
        if rooms is None:
            rooms = self._rooms[user_key] = set()
            if len(self._rooms) > MAX_TRACKED:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(user_key)
        if room_key in rooms:
            return
        if len(rooms) >= MAX_ROOMS_REMEMBERED:
            rooms.intersection_update([r for r in rooms if self.limiter.holds(f"{user_key} {r}")])
        rooms.add(room_key)

    def carry(self, old: str, new: str) -> None:
        """What `old` has spent in each room, `new` has spent there too."""
        for room in self._rooms.pop(old, ()):
            if self.limiter.holds(f"{old} {room}"):
                self.limiter.carry(f"{old} {room}", f"{new} {room}")
                self._remember(new, room)


class ReadBudget:
    """Messages a user may read per second, whatever door or call reads them: a page of
    1,000 messages is up to 4 MB to encode, and nothing else bounded how often one account
    asks for it again. A read is granted up to what is left (a smaller page, not a refusal,
    while anything is), pays for what it read (a history read that filters, for what it
    passed over too), and is refused only when nothing is left."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self._limiter = limiter or RateLimiter(0, 0)

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    def share(self, user_key: str, limit: int) -> int:
        """How many of `limit` messages a read that is never refused may return (0 when
        nothing is left): the history shown on joining a room, which the join does not
        wait on. Settle it as a granted read."""
        return self._limiter.take(user_key, limit)

    def grant(self, user_key: str, limit: int) -> int:
        """How many of `limit` messages this read may return; RateLimited if none."""
        granted = self.share(user_key, limit)
        if granted <= 0 and limit > 0:
            # while a debt is repaid, Retry-After says when it is (not one token's time)
            wait = max(self._limiter.wait(user_key), 1.0 / self._limiter.rate)
            raise RateLimited(f"slow down: too many messages read{_try_again(wait)}", wait)
        return granted

    def settle(self, user_key: str, granted: int, used: int) -> None:
        """Give back what a granted read did not use, or take what it used beyond the grant
        (a receive whose cursor move lost a race reads again: never refused, it is paid; a
        roster of 10,000 names read on the last token costs 1,000). Beyond what is left it
        is owed (`RateLimiter.debit`): taken only as far as the bucket went, a roster read
        cost one token whenever one had come back, 1,000 whole rosters a second."""
        if used > granted:
            self._limiter.debit(user_key, used - granted)
        else:
            self._limiter.give_back(user_key, granted - used)

    def charge(self, user_key: str, used: int) -> None:
        """Pay for what a read already returned (never refused: it is delivered), whole:
        beyond what is left it is owed, as in `settle`."""
        self._limiter.debit(user_key, used)

    def grant_names(self, user_key: str, most: int = 0) -> int:
        """A read of a list of names (rosters, invitations, bans, ignores), `most` names as
        far as known before it reads: taken first, so lists asked for in parallel share the
        budget. Settle it with `settle_names`."""
        return self.grant(user_key, _messages_of(most))

    def settle_names(self, user_key: str, granted: int, names: int) -> None:
        self.settle(user_key, granted, _messages_of(names))

    @contextmanager
    def names_read(self, user_key: str, most: int = 0) -> Iterator[NamesRead]:
        """`grant_names` on entering, `settle_names` of what the read set in `names` on
        leaving, failed or not: one shape for every list of names the core reads."""
        granted = self.grant_names(user_key, most)
        read = NamesRead()
        try:
            yield read
        finally:
            self.settle_names(user_key, granted, read.names)


class NamesRead:
    """The names a read returned (or passed over), as far as it got."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        self.names = 0


def _messages_of(names: int) -> int:
    """Ten names cost as a message does (a name is some 10-30 bytes, a message 200 to
    4,000): a roster of 10,000 names is a page of 1,000 messages; an empty one, one."""
    return max(1, -(-names // NAMES_PER_MESSAGE))


def _unlimited() -> RateLimiter:
    return RateLimiter(0, 0)


@dataclass(frozen=True, slots=True)
class ActionLimits:
    """Per-user token buckets for the actions that change state or reach other people, each
    checked by the service that does the action (whatever door asked). Those beyond a limit
    are refused with RateLimited, except join and leave notices: past `presence`, a user's
    comings and goings are just no longer announced."""

    joins: RateLimiter = field(default_factory=_unlimited)  # memberships gained or ended
    presence: RateLimiter = field(default_factory=_unlimited)  # join/leave notices caused
    invites: RateLimiter = field(default_factory=_unlimited)
    ignores: RateLimiter = field(default_factory=_unlimited)  # ignore and unignore
    topics: RateLimiter = field(default_factory=_unlimited)  # topic and privacy changes
    creates: RateLimiter = field(default_factory=_unlimited)  # rooms created
    aways: RateLimiter = field(default_factory=_unlimited)  # away set or cleared (core/away.py)
    # kicks, bans, mutes, room admin rights given or taken, and their undoing
    moderation: RateLimiter = field(default_factory=_unlimited)
    # whole-server walks a short line asks for: IRC's LIST and WHO by mask, telnet's /list
    walks: RateLimiter = field(default_factory=_unlimited)

    def all(self) -> tuple[RateLimiter, ...]:
        return (
            self.joins,
            self.presence,
            self.invites,
            self.ignores,
            self.topics,
            self.creates,
            self.aways,
            self.moderation,
            self.walks,
        )


@dataclass(frozen=True, slots=True)
class ByteBudget(Gcra):
    """What one connection may send: `rate` bytes a second, `burst` at once (a `Gcra`; rate
    0: no limit). The connection keeps its TAT (frontends/paced.py), so an idle connection
    pays nothing and a read pays one `admit`: bytes are counted a read at a time, never one
    by one."""

    rate: float = 0.0
    burst: int = 0
    # past the burst, more than `burst` bytes more in hand at once (a read's worth the budget
    # has not let in yet): True cuts the connection instead of keeping them (before login:
    # a client has a few hundred bytes to send, and kept bytes stay in memory while reading
    # is paused, even after the client reset the connection, which the next read would see)
    cut: bool = False

    @property
    def pause(self) -> float:
        """Seconds reading pauses once the bucket is empty: until half the burst is back, so
        a flood is read in a few large pieces a second, never a timer per read."""
        return self.burst / (2 * self.rate)


NO_BUDGET = ByteBudget()  # no limit (the doors' default outside app.py)


class ConnectionLimiter:
    """Counts open connections per client address and in total, across every front door. An
    IPv6 client's address is its /64 (it has 2^64 addresses to open connections from), and
    its /48 holds NETWORK_SHARE times as many (65,536 /64s); an IPv4-mapped, 6to4 or NAT64
    one is its IPv4 address (`throttle.address_key`, as the login back-off).

    `rate`/`burst` bound how fast an address opens new ones (a token bucket per address and
    per /48, `AddressRates`): a client cut for flooding junk before login reconnected at once,
    ~2,000 times a second, each an accept and a greeting, and the open count never saw it."""

    def __init__(
        self,
        per_ip: int,
        total: int,
        rate: float = 0.0,
        burst: int = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.per_ip = per_ip
        self.total = total
        self.arrivals = AddressRates(RateLimiter(rate, burst, clock), clock)
        self._by_ip: dict[str, int] = {}
        self._open = 0
        # the refusals, worded once: `acquire` returns these very strings, so a door can keep
        # each one's bytes and kind (`REFUSALS`) instead of wording one per refused socket
        self.full = f"the server is full ({total} connections): try again later"
        self.crowded = f"too many connections from your address (limit {per_ip})"
        self.hurried = (
            f"too many new connections from your address (limit {rate:g} a second):"
            " wait a few seconds before connecting again"
        )

    def kind(self, refusal: str) -> str:
        """Which limit a refusal `acquire` returned is: "full", "address" or "rate" (the
        metric's label, the log summary's words)."""
        if refusal is self.hurried:
            return "rate"
        return "full" if refusal is self.full else "address"

    def acquire(self, ip: str, *, arriving: bool = False) -> str | None:
        """Count a connection, or return why it is refused (the caller closes it). `arriving`:
        a new connection, which takes a token of its address's rate (the plain doors; not a
        TLS one, whose handshake gate took it at the accept, nor an HTTP request's move to its
        client's address)."""
        if self.total and self._open >= self.total:
            return self.full
        keys = address_keys(ip)
        for key, limit in zip(keys, (self.per_ip, self.per_ip * NETWORK_SHARE), strict=False):
            if self.per_ip and self._by_ip.get(key, 0) >= limit:
                return self.crowded
        if arriving and (hurried := self.arrive(ip)) is not None:
            return hurried
        for key in keys:
            self._by_ip[key] = self._by_ip.get(key, 0) + 1
        self._open += 1
        return None

    def arrive(self, ip: str) -> str | None:
        """Take a token of the address's rate for a new connection (`acquire` with
        `arriving`), or return `hurried` when none is left; nothing is counted. A TLS port's
        handshake gate takes it at the accept, whatever the first bytes are (handshake.py)."""
        if self.arrivals.per_address.enabled and not self.arrivals.admit(ip):
            return self.hurried
        return None

    def release(self, ip: str) -> None:
        for key in address_keys(ip):
            n = self._by_ip.get(key, 0)
            if n <= 1:
                self._by_ip.pop(key, None)
            else:
                self._by_ip[key] = n - 1
        self._open = max(0, self._open - 1)

    @property
    def open(self) -> int:
        return self._open


def address_keys(ip: str) -> tuple[str, ...]:
    """The address's key, and its /48's for an IPv6 client (`network_key`): a limit kept per
    address holds for the first, NETWORK_SHARE times that limit for the second."""
    if ":" not in ip:
        return (ip,)
    network = network_key(ip)
    return (address_key(ip),) if network is None else (address_key(ip), network)
