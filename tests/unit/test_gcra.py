"""The one rate type (core/gcra.py) under hypothesis: whatever is asked of it, and however
time moves, it never lets in more than `burst + rate·t` over any stretch of t seconds; a key
idle until its TAT is a full bucket again (and dropped by `RateLimiter`); and the wait it
gives is exact: the units fit then and not a moment before. The keyed `RateLimiter`, the
input byte budget and IRC's pacing are all one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from torbit.core.gcra import Gcra
from torbit.core.limits import ByteBudget, RateLimiter
from torbit.frontends.irc.pacing import Pacing

RATES = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
BURSTS = st.integers(min_value=1, max_value=10_000)
STARTS = st.floats(min_value=0.0, max_value=1e5, allow_nan=False, allow_infinity=False)
# (seconds since the last ask, units asked, how: all or nothing, as many as fit, or owed)
ASKS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=20_000),
        st.sampled_from(["admit", "take", "debit"]),
    ),
    max_size=60,
)
SLACK = 1e-6  # of a unit: float sums of times and rates, never a whole unit


def slack(rate: float) -> float:
    """Seconds within which a wait is exact: a millionth of a unit's time (and of time's
    own rounding at the clock values drawn)."""
    return 1e-9 + SLACK / rate


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@settings(max_examples=300)
@given(RATES, BURSTS, STARTS, ASKS)
def test_never_more_than_the_burst_and_the_rate_over_any_stretch(
    rate: float, burst: int, start: float, asks: list[tuple[float, int, str]]
) -> None:
    """All or nothing (`admit`, a read of the byte budget), as many as fit (`take`, the keyed
    buckets): over every stretch of the history, what was let in is at most the burst plus
    what the rate brought. Debts (`debit`: delivered, paid after) are spent, never let in."""
    gcra = Gcra(rate, burst)
    clock = Clock(start)
    keyed = RateLimiter(rate, burst, clock)
    tat = 0.0
    let_in: list[tuple[float, int]] = []  # (when, units) through `gcra`
    taken: list[tuple[float, int]] = []  # through `keyed`
    for gap, n, how in asks:
        clock.t += gap
        now = clock.t
        if how == "admit":
            after = gcra.admit(tat, now, n)
            if after is not None:
                tat = after
                let_in.append((now, n))
            taken.append((now, keyed.take("k", n)))
        elif how == "take":
            granted = max(0, min(n, gcra.room(tat, now)))
            tat = gcra.spend(tat, now, granted)
            let_in.append((now, granted))
            taken.append((now, keyed.take("k", n)))
        else:
            tat = gcra.spend(tat, now, n)
            keyed.debit("k", n)
    for history in (let_in, taken):
        for i, (first, _) in enumerate(history):
            total = 0
            for when, units in history[i:]:
                total += units
                assert total <= burst + rate * (when - first) + SLACK * burst, (i, when)


@settings(max_examples=300)
@given(RATES, BURSTS, STARTS, ASKS)
def test_a_key_idle_until_its_tat_is_full_again_and_forgotten(
    rate: float, burst: int, start: float, asks: list[tuple[float, int, str]]
) -> None:
    clock = Clock(start)
    keyed = RateLimiter(rate, burst, clock)
    for gap, n, how in asks:
        clock.t += gap
        if how == "debit":
            keyed.debit("k", n)
        else:
            keyed.take("k", n)
    tat = keyed._full_at.get("k", clock.t)
    clock.t = max(clock.t, tat) + slack(rate)
    assert not keyed.holds("k")
    assert keyed.wait("k") == 0.0
    clock.t += 1.0
    keyed.take("other")  # a take drops the least recent buckets found full
    assert "k" not in keyed._full_at
    assert keyed.take("k", burst + 1) == burst  # full, and never more


@settings(max_examples=300)
@given(
    RATES,
    BURSTS,
    STARTS,
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10_000),
)
def test_the_wait_is_exact(rate: float, burst: int, now: float, ahead: float, n: int) -> None:
    """From a TAT `ahead` seconds past now, `wait(n)` seconds on `n` units fit (`admit`, and
    `room` says as many), and a moment before they do not: what a refusal's Retry-After and
    IRC's held command (n=0) are told."""
    gcra = Gcra(rate, burst)
    n = min(n, burst)
    tat = now + ahead
    wait = gcra.wait(tat, now, n)
    assert wait >= 0.0
    # IRC's pacing asks GCRA's own test inline: the TAT at most τ ahead, as `wait(0)` is 0
    assert (tat - now <= gcra.tolerance) == (gcra.wait(tat, now, 0) == 0.0)
    then = now + wait + slack(rate)
    assert gcra.admit(tat, then, n) is not None
    assert gcra.room(tat, then) >= n
    if wait > 2 * slack(rate):
        before = now + wait - slack(rate)
        assert gcra.admit(tat, before, n) is None
        if n > 0:
            assert gcra.room(tat, before) < n


def test_a_refusal_says_one_units_time_and_the_wait_says_the_rest() -> None:
    """`RateLimiter.check`'s Retry-After is one token's time (at most the exact wait's
    value, as before GCRA); `wait` is the exact one, a debt's too."""
    clock = Clock(50.0)
    keyed = RateLimiter(rate=4.0, burst=2, clock=clock)
    assert keyed.take("k", 2) == 2
    clock.t += 0.1
    assert abs(keyed.wait("k") - 0.15) < 1e-9
    keyed.debit("k", 4)  # a read delivered past the bucket: one second owed
    assert abs(keyed.wait("k") - 1.15) < 1e-9
    clock.t += 1.15
    assert keyed.take("k") == 1


def test_every_limit_is_the_one_type() -> None:
    """The keyed buckets, the input byte budget and IRC's pacing: one arithmetic."""
    assert isinstance(RateLimiter(1.0, 1).gcra, Gcra)
    assert isinstance(ByteBudget(1024.0, 4096), Gcra)
    assert isinstance(Pacing(), Gcra)
    assert ByteBudget(1024.0, 4096).room(0.0, 10.0) == 4096
    assert Pacing().wait(130.0, 100.0, 0) == 0.0  # 30 s ahead: just a burst (300 at 10/s)
