"""The login throttle: exponential back-off after failed logins that holds under concurrency.

An attempt is *reserved* before its password is checked and *settled* after (failed,
succeeded, or abandoned when no verdict was reached), and an attempt in flight counts as a
failure until it is settled. So forty parallel guesses are not forty checks: only as many as
the free allowance are checked at once, the rest are refused (429) before any hashing.

Three records are kept, each with its own allowance of free failures before the back-off
starts (each further failure doubles the wait, from `base` seconds up to `cap`):

- (account, address): the guesser's own record. The account's owner, from another address,
  never sees it, so nobody can lock an account out from one address.
- address: one address guessing at many accounts (an IPv6 address counts by its /64),
  and an IPv6 client's /48 too (`network_key`), NETWORK_SHARE times that allowance: a site
  has 65,536 /64s, each otherwise a fresh allowance.
- account: a ceiling far higher, against guessing from many addresses at once. It is not
  checked for an address the account has logged in from successfully before (kept in
  memory), so even a distributed attack does not lock the owner out of their usual places.

A success clears the (account, address) record only: an attacker cannot reset the address's
record by logging into an account of their own between guesses. A record without a failure
for `forget_after` seconds is forgotten. Records are bounded in number (LRU), so cycling
through names or addresses cannot grow memory without limit. A free allowance of 0 turns that
record off; `free` = 0 turns the throttle off.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from torbit.core.addresses import ipv4_of
from torbit.errors import RateLimited

Clock = Callable[[], float]
MAX_TRACKED = 100_000
IN_FLIGHT_RETRY = 1.0


class _Record:
    __slots__ = ("failures", "last", "pending", "until")

    def __init__(self) -> None:
        self.failures = 0
        self.pending = 0
        self.until = 0.0  # the back-off ends
        self.last = 0.0  # the last failure


NETWORK_PREFIX = 48  # an IPv6 site: what one customer may be given, 65,536 /64s
# an IPv6 /48 counts, in the limits kept per address, as this many addresses (`network_key`)
NETWORK_SHARE = 8


def address_key(address: str) -> str:
    """IPv6 clients get a /64 each: an attacker with one has 2^64 addresses. One standing
    for an IPv4 address (addresses.py's `ipv4_of`) is that address: a 6to4 client has a
    /48 of 2^16 /64s from its one IPv4 address, each a fresh bucket otherwise, and a Teredo
    /64 is its relay server's, shared by all that server's clients, while one client picks
    a fresh one by changing server."""
    if ":" not in address:  # IPv4 (or no address): itself, unparsed (every arrival asks)
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    v4 = ipv4_of(ip)
    if v4 is not None:
        return str(v4)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def network_key(address: str) -> str | None:
    """The IPv6 /48 of a client (None for IPv4 and what `address_key` maps to IPv4): one
    site has 65,536 /64s, each its own `address_key`, so the limits kept per address also
    keep one per /48, NETWORK_SHARE times as high."""
    if ":" not in address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv4Address) or ipv4_of(ip) is not None:
        return None
    return str(ipaddress.IPv6Network((ip, NETWORK_PREFIX), strict=False))


class LoginAttempt:
    """One reserved attempt; settle it exactly once (later calls do nothing)."""

    __slots__ = ("_keys", "_settled", "_throttle", "_trusted")

    def __init__(self, throttle: LoginThrottle, keys: list[tuple[str, ...]], trusted: bool):
        self._throttle = throttle
        self._keys = keys
        self._trusted = trusted
        self._settled = False

    def failed(self) -> None:
        self._settle("failed")

    def succeeded(self) -> None:
        self._settle("succeeded")

    def abandoned(self) -> None:
        """No verdict (the store or the hashing pool was unavailable): nothing is counted."""
        self._settle("abandoned")

    def _settle(self, outcome: str) -> None:
        if not self._settled:
            self._settled = True
            self._throttle._settle(self._keys, outcome)


class LoginThrottle:
    def __init__(
        self,
        free: int = 3,
        *,
        address_free: int = 20,
        account_free: int = 100,
        base: float = 1.0,
        cap: float = 300.0,
        forget_after: float = 3600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free = {
            "pair": free,
            "address": address_free,
            "network": address_free * NETWORK_SHARE,
            "account": account_free,
        }
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self._clock = clock
        self._records: OrderedDict[tuple[str, ...], _Record] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], None] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.free["pair"] > 0

    def begin(self, account: str, address: str) -> LoginAttempt:
        """Reserve an attempt, or raise RateLimited (before any password is checked)."""
        keys, trusted = self._keys(account, address)
        now = self._clock()
        self._refuse_if_held(keys, now)
        for key in keys:
            record = self._record(key, now, create=True)
            assert record is not None
            record.pending += 1
        return LoginAttempt(self, keys, trusted)

    def admit(self, account: str, address: str) -> None:
        """A login that needs no check (credentials a node verified moments ago): refused
        (RateLimited) where `begin` would be, else a success as a checked one is. Otherwise
        a throttled guesser would learn at full speed that a guess was right."""
        keys, _ = self._keys(account, address)
        self._refuse_if_held(keys, self._clock())
        if keys:
            self._succeeded(keys[0])

    def _keys(self, account: str, address: str) -> tuple[list[tuple[str, ...]], bool]:
        network = network_key(address) if address else None
        address = address_key(address) if address else "?"
        trusted = (account, address) in self._trusted
        keys: list[tuple[str, ...]] = []
        if self.enabled:
            keys = [("pair", account, address)]
            if self.free["address"] > 0:
                keys.append(("address", address))
                if network is not None:
                    keys.append(("network", network))
            if self.free["account"] > 0 and not trusted:
                keys.append(("account", account))
        return keys, trusted

    def _refuse_if_held(self, keys: list[tuple[str, ...]], now: float) -> None:
        for key in keys:
            record = self._record(key, now, create=False)
            if record is None:
                continue
            if record.until > now:
                wait = record.until - now  # told rounded up: "in 0 s" was refused again
                raise RateLimited(
                    f"too many failed logins: try again in {max(1, math.ceil(wait))} s",
                    retry_after=wait,
                )
            if record.pending and record.failures + record.pending >= self.free[key[0]]:
                raise RateLimited(
                    f"too many login attempts at once: try again in {IN_FLIGHT_RETRY:.0f} s",
                    retry_after=IN_FLIGHT_RETRY,
                )

    def _record(self, key: tuple[str, ...], now: float, *, create: bool) -> _Record | None:
        record = self._records.get(key)
        if record is not None:
            self._records.move_to_end(key)
            if not record.pending and record.failures and now - record.last > self.forget_after:
                record.failures, record.until = 0, 0.0
            return record
        if not create:
            return None
        record = self._records[key] = _Record()
        while len(self._records) > MAX_TRACKED:
            self._records.popitem(last=False)
        return record

    def _settle(self, keys: list[tuple[str, ...]], outcome: str) -> None:
        now = self._clock()
        for key in keys:
            record = self._record(key, now, create=outcome == "failed")
            if record is None:
                continue
            record.pending = max(0, record.pending - 1)
            if outcome == "failed":
                record.failures += 1
                record.last = now
                over = record.failures - self.free[key[0]]
                if over > 0:
                    record.until = now + min(self.cap, self.base * 2 ** (over - 1))
        if outcome == "succeeded" and keys:
            self._succeeded(keys[0])

    def _succeeded(self, pair: tuple[str, ...]) -> None:
        """The account logged in from the address: its pair record goes, the pair is trusted."""
        self._records.pop(pair, None)
        self._trusted[(pair[1], pair[2])] = None
        self._trusted.move_to_end((pair[1], pair[2]))
        while len(self._trusted) > MAX_TRACKED:
            self._trusted.popitem(last=False)
