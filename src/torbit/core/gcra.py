"""A rate as GCRA, the generic cell rate algorithm (redis-cell's token bucket in one
number): `rate` units a second, at most `burst` at once, and the whole state of one bucket
is a float its owner keeps, the theoretical arrival time (TAT): when all that was spent is
paid off, the bucket full again. Spending moves it forward, time catches up with it; no
refill loop, no counter. A TAT at or before now is a full bucket, the same as none: owners
drop it (a key idle that long costs nothing).

Every limit of torbit is one: the keyed buckets of core/limits.py (sends, logins,
registrations, new connections...), a connection's input bytes (frontends/paced.py) and
IRC's command pacing (frontends/irc/pacing.py). The `limits` package was measured against
it (bench/JOURNAL.md, gcra): no GCRA, a wall clock and a timer thread, a timestamp per hit
for its moving window (one per byte, for bytes), 2 to 4 µs a hit against our 0.7."""

from __future__ import annotations

from dataclasses import dataclass, field

# of a unit: a sum of float steps (ten 0.1 s) is never one unit short of what is due
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Gcra:
    """`rate` units a second (0: no limit; owners ask `rate > 0` before anything else),
    `burst` units at once. The methods take the bucket's TAT (0.0 for a new one) and the
    time (monotonic seconds) and return what they decide: nothing is kept here."""

    rate: float
    burst: int
    interval: float = field(init=False)  # seconds one unit stands for
    # GCRA's τ: how far ahead of now a TAT may run, a burst's time (`wait` of 0 units is
    # what a TAT is past it: IRC's pacing asks `tat - now <= tolerance` per command inline)
    tolerance: float = field(init=False)

    def __post_init__(self) -> None:
        paced = self.rate > 0
        object.__setattr__(self, "interval", 1.0 / self.rate if paced else 0.0)
        object.__setattr__(self, "tolerance", self.burst / self.rate if paced else 0.0)

    def room(self, tat: float, now: float) -> int:
        """Whole units that may be spent at `now` (0 or less: none; below 0 while a debt
        beyond the burst is paid off)."""
        ahead = tat - now
        return int(self.burst - (ahead if ahead > 0 else 0.0) * self.rate + EPSILON)

    def spend(self, tat: float, now: float, n: float) -> float:
        """The TAT once `n` units more are spent at `now`, past the burst too: what the
        bucket did not hold is owed, and paid off before anything is let in again."""
        return (tat if tat > now else now) + n / self.rate

    def admit(self, tat: float, now: float, n: int) -> float | None:
        """The TAT once `n` units are spent at `now`, if they all fit (None: nothing is
        spent): `room` and `spend` in one call, for a connection's every read. Asked as
        `room` asks (what is ahead of now, in units), never from the TAT's sum, whose
        rounding could refuse a full bucket its burst (tests/unit/test_gcra.py found one)."""
        ahead = tat - now
        if ahead <= 0:
            return now + n / self.rate if n <= self.burst else None
        if ahead * self.rate + n <= self.burst + EPSILON:
            return tat + n / self.rate
        return None

    def wait(self, tat: float, now: float, n: int = 1) -> float:
        """Seconds until `n` units fit (0.0: now), exactly: `room` is `n` then. n=0 asks
        when the bucket is no longer past its burst (IRC's pacing charges a command once
        it runs)."""
        wait = tat - now - (self.burst - n) / self.rate
        return wait if wait > 0 else 0.0

    def refund(self, tat: float, n: int) -> float:
        """The TAT once `n` units spent are given back (a TAT at or before now: full)."""
        return tat - n / self.rate
