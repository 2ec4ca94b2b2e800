"""The login throttle with a clock moved by hand: attempts are reserved before the password is
checked, so parallel guesses cannot skip the back-off; an address's failures never slow the
account's owner elsewhere; the account's own ceiling is far higher and spares addresses the
account has logged in from."""

from __future__ import annotations

import pytest

from torbit.core.throttle import NETWORK_SHARE, LoginAttempt, LoginThrottle, address_key
from torbit.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def reserve(
    t: LoginThrottle, n: int, account: str = "alice", address: str = "10.0.0.1"
) -> tuple[list[LoginAttempt], list[RateLimited]]:
    """n attempts made at once: none is settled before the last is reserved."""
    granted: list[LoginAttempt] = []
    refused: list[RateLimited] = []
    for _ in range(n):
        try:
            granted.append(t.begin(account, address))
        except RateLimited as e:
            refused.append(e)
    return granted, refused


def test_parallel_guesses_get_only_the_free_allowance_checked() -> None:
    t = LoginThrottle(3, clock=Clock())
    granted, refused = reserve(t, 40)
    assert (len(granted), len(refused)) == (3, 37)
    assert all("at once" in e.message for e in refused)
    for a in granted:
        a.failed()
    # three failures used the allowance: one attempt at a time now, each failure doubling
    granted, refused = reserve(t, 10)
    assert len(granted) == 1
    granted[0].failed()
    with pytest.raises(RateLimited, match=r"too many failed logins: try again in 1 s"):
        t.begin("alice", "10.0.0.1")


def test_the_wait_told_is_rounded_up_never_zero() -> None:
    """0.6 s into a 1 s back-off the refusal said "try again in 0 s" (a person retrying at
    once was refused again); the wait told is the whole seconds still to go, at least 1."""
    clock = Clock()
    t = LoginThrottle(1, base=1.0, clock=clock)
    t.begin("alice", "10.0.0.1").failed()
    t.begin("alice", "10.0.0.1").failed()
    clock.t += 0.6
    with pytest.raises(RateLimited) as e:
        t.begin("alice", "10.0.0.1")
    assert e.value.message == "too many failed logins: try again in 1 s"


def test_back_off_doubles_up_to_the_cap_and_a_success_clears_the_pair() -> None:
    clock = Clock()
    t = LoginThrottle(2, base=1.0, cap=8.0, clock=clock)
    waits = []
    for _ in range(2):
        t.begin("alice", "10.0.0.1").failed()
    for _ in range(5):
        t.begin("alice", "10.0.0.1").failed()
        with pytest.raises(RateLimited) as e:
            t.begin("alice", "10.0.0.1")
        waits.append(round(e.value.retry_after))
        clock.t += e.value.retry_after
    assert waits == [1, 2, 4, 8, 8]
    t.begin("alice", "10.0.0.1").succeeded()
    reserve_ok, _ = reserve(t, 2)
    assert len(reserve_ok) == 2  # the pair's record is gone


def test_one_address_never_slows_the_owner_at_another() -> None:
    t = LoginThrottle(3, clock=Clock())
    for _ in range(3):
        granted, _ = reserve(t, 14, address="10.6.6.6")
        for a in granted:
            a.failed()
    with pytest.raises(RateLimited):
        t.begin("alice", "10.6.6.6")
    t.begin("alice", "192.0.2.7").succeeded()  # the owner, elsewhere, at once


def test_the_address_record_counts_guesses_at_many_accounts() -> None:
    """Five free failures, then back-off, whatever the names; logging into an account of
    one's own on the way does not reset the address's record."""
    t = LoginThrottle(3, address_free=5, clock=Clock())
    for name in ("a", "b", "c", "d", "e", "f"):
        t.begin(name, "10.6.6.6").failed()
        if name == "c":
            t.begin("mine", "10.6.6.6").succeeded()
    with pytest.raises(RateLimited):
        t.begin("g", "10.6.6.6")
    t.begin("g", "10.0.0.9")  # another address is not slowed


def test_an_ipv6_48_has_network_share_times_the_address_allowance() -> None:
    """Each /64 of a /48 is its own address record, so the /48 keeps one too, NETWORK_SHARE
    times as large: otherwise a site's 65,536 /64s each get the free guesses."""
    t = LoginThrottle(1, address_free=2, account_free=0, clock=Clock())
    for i in range(2 * NETWORK_SHARE + 1):  # the free failures and one more, two per /64
        t.begin(f"u{i}", f"2001:db8:7:{i // 2:x}::1").failed()
    with pytest.raises(RateLimited):
        t.begin("fresh", "2001:db8:7:ffff::1")  # an untouched /64 of the same /48
    t.begin("fresh", "2001:db8:8::1")  # another /48 is not slowed


def test_the_account_ceiling_stops_distributed_guessing_but_not_known_addresses() -> None:
    t = LoginThrottle(3, account_free=10, clock=Clock())
    t.begin("alice", "192.0.2.7").succeeded()  # alice's usual address
    for i in range(11):
        t.begin("alice", f"10.0.0.{i}").failed()
    with pytest.raises(RateLimited):
        t.begin("alice", "10.0.1.1")  # an address never seen: the ceiling holds
    t.begin("alice", "192.0.2.7").succeeded()  # her usual address is not locked out


def test_failures_are_forgotten_after_a_quiet_while() -> None:
    clock = Clock()
    t = LoginThrottle(2, forget_after=600, clock=clock)
    for _ in range(3):
        t.begin("alice", "10.0.0.1").failed()
    with pytest.raises(RateLimited):
        t.begin("alice", "10.0.0.1")
    clock.t += 601
    granted, _ = reserve(t, 2)
    assert len(granted) == 2  # a fresh allowance


def test_an_abandoned_attempt_counts_nothing_and_zero_disables() -> None:
    t = LoginThrottle(1, clock=Clock())
    for _ in range(5):
        t.begin("alice", "10.0.0.1").abandoned()
    t.begin("alice", "10.0.0.1").failed()
    off = LoginThrottle(0, clock=Clock())
    for _ in range(100):
        off.begin("alice", "10.0.0.1").failed()
    off.begin("alice", "10.0.0.1")


def test_ipv6_addresses_count_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"
    t = LoginThrottle(1, clock=Clock())
    t.begin("alice", "2001:db8:1:2::1").failed()
    t.begin("alice", "2001:db8:1:2::2").failed()
    with pytest.raises(RateLimited):
        t.begin("alice", "2001:db8:1:2::3")


def test_admit_refuses_where_begin_would_and_reserves_nothing() -> None:
    """For credentials a door remembers as verified: no hash, but no way around the back-off
    either (a throttled guesser would otherwise learn at once that a guess was right); let
    in, it is a success from that address, as a checked one is."""
    clock = Clock()
    t = LoginThrottle(3, account_free=5, clock=clock)
    for _ in range(10):
        t.admit("alice", "10.0.0.1")  # nothing reserved: the allowance is untouched
    granted, _ = reserve(t, 3)
    assert len(granted) == 3
    with pytest.raises(RateLimited, match="at once"):
        t.admit("alice", "10.0.0.1")  # three guesses in flight
    for a in granted:
        a.failed()
    t.begin("alice", "10.0.0.1").failed()
    with pytest.raises(RateLimited, match="failed logins"):
        t.admit("alice", "10.0.0.1")
    clock.t += 1.5
    t.admit("alice", "10.0.0.1")  # the back-off is over: a success clears the pair
    for _ in range(3):
        t.begin("alice", "10.0.0.1").failed()
    t.begin("alice", "10.0.0.1")
    t.admit("alice", "10.0.0.2")
    for i in range(6):  # past the account's ceiling (5), from addresses it never used
        t.begin("alice", f"10.0.1.{i}").failed()
    with pytest.raises(RateLimited):
        t.admit("alice", "10.0.2.1")  # a new address waits
    t.admit("alice", "10.0.0.2")  # not one the account was admitted from
