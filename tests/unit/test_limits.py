"""Token buckets and connection counts, with a clock the test moves by hand (the login
back-off: tests/core/test_throttle.py)."""

from __future__ import annotations

import pytest

from torbit.core import limits
from torbit.core.limits import ConnectionLimiter, RateLimiter, RoomRates
from torbit.core.throttle import NETWORK_SHARE
from torbit.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    rl = RateLimiter(rate=2.0, burst=5, clock=clock)
    assert rl.take("alice", 7) == 5
    assert rl.take("alice") == 0
    assert rl.take("bob") == 1  # buckets are per key
    clock.t += 1.0
    assert rl.take("alice", 5) == 2
    with pytest.raises(RateLimited) as e:
        rl.check("alice")
    assert e.value.retry_after == 0.5
    clock.t += 100
    assert rl.take("alice", 10) == 5  # never more than the burst


def test_a_cost_known_before_is_taken_whole_or_refused_with_its_own_wait() -> None:
    clock = Clock()
    rl = RateLimiter(rate=2.0, burst=10, clock=clock)
    rl.take_all("scan", 6, "scans")
    with pytest.raises(RateLimited, match="too many scans: try again in 1 s") as e:
        rl.take_all("scan", 6, "scans")  # 4 held: nothing taken, the wait for 6
    assert e.value.retry_after == 1.0
    assert rl.take("scan", 10) == 4
    clock.t += 3.0
    rl.take_all("scan", 6, "scans")
    assert rl.take("scan") == 0
    RateLimiter(rate=0, burst=1).take_all("any", 10**6, "scans")  # a disabled limit


def test_a_carried_bucket_is_as_spent_as_the_emptier_of_the_two() -> None:
    clock = Clock()
    rl = RateLimiter(rate=1.0, burst=10, clock=clock)
    assert rl.take("gus", 8) == 8
    rl.carry("gus", "gus2")  # a guest's new nick
    assert rl.take("gus2", 10) == 2
    assert rl.take("carol", 9) == 9
    rl.carry("fresh", "carol")  # nothing spent: nothing changes
    rl.carry("carol", "gus2")  # gus2 spent more: it keeps its own
    assert rl.take("carol", 10) == 1
    assert rl.take("gus2", 10) == 0


def test_a_rename_carries_the_room_rate_of_every_room_sent_to() -> None:
    """Each room the old name sent to lately, whether it is a member there or not: the
    buckets are keyed by name and room, so the rooms are remembered per user."""
    clock = Clock()
    rates = RoomRates(RateLimiter(rate=1.0, burst=3, clock=clock))
    assert rates.take("gus", "lobby", 5) == 3
    assert rates.take("gus", "outside", 2) == 2
    assert rates.take("carol", "lobby", 1) == 1
    rates.carry("gus", "gus2")
    assert rates.take("gus2", "lobby", 3) == 0
    assert rates.take("gus2", "outside", 3) == 1
    assert rates.take("gus2", "elsewhere", 3) == 3  # never spent there
    assert rates.take("carol", "lobby", 3) == 2  # others keep their own
    with pytest.raises(RateLimited):
        rates.check("gus2", "lobby")
    rates.carry("gus2", "gus3")  # on again, and again
    with pytest.raises(RateLimited):
        rates.check("gus3", "outside")
    clock.t += 100  # all full again: nothing left to carry
    rates.carry("gus3", "gus4")
    assert rates.take("gus4", "lobby", 3) == 3


def test_the_rooms_remembered_per_user_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ROOMS_REMEMBERED", 4)
    clock = Clock()
    rates = RoomRates(RateLimiter(rate=1.0, burst=1, clock=clock))
    for i in range(100):
        rates.take("gus", f"r{i}")
        clock.t += 2  # each bucket full again before the next room
    assert len(rates._rooms["gus"]) <= 4
    rates.take("gus", "late")
    rates.carry("gus", "gus2")
    assert rates.take("gus2", "late") == 0  # the live one was kept and carried
    assert RoomRates().take("x", "y", 10_000) == 10_000  # off: nothing remembered


def test_zero_disables_a_limit() -> None:
    rl = RateLimiter(rate=0, burst=0)
    assert rl.take("x", 10_000) == 10_000
    assert ConnectionLimiter(0, 0).acquire("1.2.3.4") is None


def test_connection_limits_per_address_and_in_total() -> None:
    c = ConnectionLimiter(per_ip=2, total=3)
    assert c.acquire("a") is None and c.acquire("a") is None
    assert "too many connections from your address" in (c.acquire("a") or "")
    assert c.acquire("b") is None
    assert "server is full" in (c.acquire("c") or "")
    c.release("a")
    assert c.acquire("c") is None
    assert c.open == 3


def test_connections_from_the_64s_of_one_ipv6_48_are_bounded_together() -> None:
    """Each /64 of a /48 was its own `connections_per_ip` count: 65,536 of them for one site.
    A /48 holds NETWORK_SHARE times the per-address limit; 6to4 and NAT64 addresses count as
    their IPv4 one."""
    c = ConnectionLimiter(per_ip=2, total=0)
    limit = 2 * NETWORK_SHARE
    for i in range(limit):
        assert c.acquire(f"2001:db8:7:{i:x}::1") is None
    assert "too many connections" in (c.acquire("2001:db8:7:ffff::1") or "")
    assert c.acquire("2001:db8:8::1") is None  # another /48
    c.release("2001:db8:7:0::1")
    assert c.acquire("2001:db8:7:ffff::1") is None  # a place again
    assert c.acquire("192.0.2.9") is None and c.acquire("2002:c000:209::1") is None
    assert "too many connections" in (c.acquire("64:ff9b::c000:209") or "")


def test_new_connections_per_address_are_a_token_bucket_that_forgets_full_ones() -> None:
    """`connection_rate`/`connection_burst`: arrivals past the burst are refused until a
    token is back; a connection counted again (a TLS one handed over by its handshake gate)
    takes none; an address whose bucket is full again is no longer kept, and an IPv6 /48's
    /64s share NETWORK_SHARE times the bucket."""
    now = [0.0]
    c = ConnectionLimiter(per_ip=0, total=0, rate=1, burst=2, clock=lambda: now[0])
    assert c.acquire("a", arriving=True) is None and c.acquire("a", arriving=True) is None
    refused = c.acquire("a", arriving=True) or ""
    assert "too many new connections from your address" in refused and "wait" in refused
    assert c.acquire("a") is None  # not a new arrival
    assert c.acquire("b", arriving=True) is None  # another address
    now[0] += 1
    assert c.acquire("a", arriving=True) is None
    assert c.acquire("a", arriving=True) is not None
    now[0] += 10
    c.acquire("c", arriving=True)
    buckets = c.arrivals.per_address._full_at
    assert "a" not in buckets and "b" not in buckets and "c" in buckets
    for i in range(2 * NETWORK_SHARE):
        assert c.acquire(f"2001:db8:7:{i:x}::1", arriving=True) is None
    assert c.acquire("2001:db8:7:ffff::1", arriving=True) is not None
    assert ConnectionLimiter(0, 0, rate=0, burst=0).acquire("a", arriving=True) is None
