"""Abuse limits kept in memory: token buckets for message rates and for the actions that
change state or tell others something (`ActionLimits`), and exponential back-off for failed
logins. All are bounded in size, so an attacker cycling through names or addresses cannot
grow them without limit. A limit of 0 disables it. Each node keeps its own buckets: behind
a load balancer a user's rate is at most the nodes' count times the configured one."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from torbit.errors import RateLimited

Clock = Callable[[], float]
MAX_TRACKED = 100_000


class RateLimiter:
    """One token bucket per key: `rate` tokens per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> tokens, t

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, n: int = 1) -> int:
        """Take up to n tokens; return how many were granted (0..n)."""
        if self.rate <= 0:
            return n
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        granted = min(n, int(tokens))
        self._buckets[key] = (tokens - granted, now)
        if len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        return granted

    def check(self, key: str, what: str = "messages") -> None:
        """Take one token or raise RateLimited saying when to try again."""
        if self.take(key) == 0:
            raise RateLimited(f"slow down: too many {what}", retry_after=1.0 / self.rate)


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


class LoginThrottle:
    """Exponential back-off after failed logins, per account and per client address.

    The first `free` failures cost nothing; each further one doubles the wait (from `base`
    seconds up to `cap`). A success clears the account's record (not the address's).
    """

    def __init__(
        self, free: int = 3, base: float = 1.0, cap: float = 300.0, clock: Clock = time.monotonic
    ) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self._clock = clock
        self._records: OrderedDict[str, tuple[int, float]] = OrderedDict()  # failures, until

    @property
    def enabled(self) -> bool:
        return self.free > 0

    def check(self, *keys: str) -> None:
        """Raise RateLimited if any key is still waiting out its back-off."""
        if not self.enabled:
            return
        now = self._clock()
        wait = max((self._records.get(k, (0, 0.0))[1] - now for k in keys), default=0.0)
        if wait > 0:
            raise RateLimited(
                f"too many failed logins: try again in {wait:.0f} s", retry_after=wait
            )

    def failed(self, *keys: str) -> None:
        if not self.enabled:
            return
        now = self._clock()
        for k in keys:
            count, _ = self._records.pop(k, (0, 0.0))
            count += 1
            delay = 0.0
            if count > self.free:
                delay = min(self.cap, self.base * 2 ** (count - self.free - 1))
            self._records[k] = (count, now + delay)
        while len(self._records) > MAX_TRACKED:
            self._records.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)


class ConnectionLimiter:
    """Counts open connections per client address and in total, across every front door."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip = per_ip
        self.total = total
        self._by_ip: dict[str, int] = {}
        self._open = 0

    def acquire(self, ip: str) -> str | None:
        """Count a new connection, or return why it is refused (the caller closes it)."""
        if self.total and self._open >= self.total:
            return f"the server is full ({self.total} connections): try again later"
        n = self._by_ip.get(ip, 0)
        if self.per_ip and n >= self.per_ip:
            return f"too many connections from your address (limit {self.per_ip})"
        self._by_ip[ip] = n + 1
        self._open += 1
        return None

    def release(self, ip: str) -> None:
        n = self._by_ip.get(ip, 0)
        if n <= 1:
            self._by_ip.pop(ip, None)
        else:
            self._by_ip[ip] = n - 1
        self._open = max(0, self._open - 1)

    @property
    def open(self) -> int:
        return self._open
