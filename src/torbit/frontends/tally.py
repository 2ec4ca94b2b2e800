"""Connections refused or cut by the hundreds a second, counted and logged as a summary.

A reconnect storm from one address was refused 600-8,000 times a second (attack14,
bench/JOURNAL.md), and an IRC client cut before registration reconnects at once: a log line
each would be the attacker's to write, thousands a second, onto the operator's disk. A
`Tally` logs the first of a quiet spell at once, with its address and reason, then counts
the rest; SUMMARY_EVERY seconds later one line sums them up (how many, why, the addresses
that made the most), and so on until a spell passes with none. Counting is a dict increment
or two: the addresses kept per spell are bounded (MAX_ADDRESSES), so a storm from a whole
IPv6 /48 cannot grow it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

SUMMARY_EVERY = 10.0  # seconds between two summaries while events keep coming
MAX_ADDRESSES = 1024  # addresses (and reasons) kept in one spell; more count in the total only
SHOWN = 3  # addresses named in a summary


class Tally:
    """Counts one kind of event (`what`: "refused", "cut before registration") of a door."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        every: float = SUMMARY_EVERY,
        level: int = logging.INFO,
    ) -> None:
        self._log = log
        self._level = level
        self._what = what
        self._every = every
        self._why: Counter[str] = Counter()
        self._by_address: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None
        self._spell = 0  # counted since the last summary (the first of a spell not)
        self.total = 0  # ever counted

    def count(self, address: str, why: str) -> None:
        self.total += 1
        if self._timer is None:  # a quiet spell ends: this one is told whole, now
            self._log.log(self._level, "%s %s: %s", self._what, address, why)
            self._timer = asyncio.get_running_loop().call_later(self._every, self._summary)
            return
        self._spell += 1
        whys = self._why
        if why in whys or len(whys) < MAX_ADDRESSES:
            whys[why] += 1
        by_address = self._by_address
        if address in by_address or len(by_address) < MAX_ADDRESSES:
            by_address[address] += 1

    def _summary(self) -> None:
        n, self._spell = self._spell, 0
        if not n:
            self._timer = None  # a spell with none: the next is told whole again
            return
        whys = "; ".join(f"{k} ({v})" for k, v in self._why.most_common(SHOWN))
        most = ", ".join(f"{a} ({v})" for a, v in self._by_address.most_common(SHOWN))
        self._log.log(
            self._level,
            "%s %d more in the last %g s, from %d addresses (most: %s), for %d reasons (most: %s)",
            self._what,
            n,
            self._every,
            len(self._by_address),
            most,
            len(self._why),
            whys,
        )
        self._why.clear()
        self._by_address.clear()
        self._timer = asyncio.get_running_loop().call_later(self._every, self._summary)

    def stop(self) -> None:
        """The door stops: what is counted and not yet told is told now."""
        if self._timer is not None:
            self._timer.cancel()
            self._summary()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
