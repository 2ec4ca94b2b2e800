"""Command pacing for the IRC door ("fakelag", as InspIRCd, ergo and solanum have it): each
command a client sends costs units (its row's `cost` in the command table, plus what the
handler adds: a target of JOIN or PART, ten nicks of ISON or MONITOR, an error numeric it
answered). A client spends from a burst of `command_burst` units that refills at
`command_rate` a second; past it, its next command waits until it can pay (its paced input
is held, `PacedInput._held_back`, and reading goes on), so a flood costs the server at most
the rate, and nobody else waits. A client with more than `flood_lines` commands read and not
handled yet is closed with `Excess Flood`. IRC operators (OPER) are neither paced nor closed
for a backlog.

The state is one float a connection: the time at which its spending would be paid off
(its TAT: `Pacing` is a core/gcra.py rate). A command may run while that time is at most a
burst's worth ahead of now (GCRA's τ, `Gcra.tolerance`), and is charged once it runs.

One command answers at most ERRORS_SHOWN error numerics (400-599); past them one NOTICE says
how many were not shown. Each error answered, shown or not, costs a unit: a JOIN of 60
channels refused by the join rate was 55 × 437 for one line, and free."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final, Protocol

from torbit.core.gcra import Gcra
from torbit.metrics import Metrics

log = logging.getLogger("torbit.irc")

ERRORS_SHOWN: Final = 10  # error numerics one command may answer
SCAN_READS_FROM: Final = 16384  # bytes: a read this big is judged before it is parsed
HELD_EVERY: Final = 1.0  # seconds between two commands of a client held before registration
NICKS_A_UNIT: Final = 10  # ISON and MONITOR: nicks looked up for one unit (as a roster read)


@dataclass(frozen=True, slots=True)
class Pacing(Gcra):
    """The door's pacing settings (limits.irc_command_rate, _burst, irc_flood_lines): a
    `Gcra` of command units; a rate of 0 paces nothing, flood_lines 0 closes nobody."""

    rate: float = 10.0  # units a second
    burst: int = 300  # units
    flood_lines: int = 1000  # commands read and not handled yet


class PacedHost(Protocol):
    """What pacing needs of the door (IrcServer)."""

    pacing: Pacing
    metrics: Metrics


class Paced(Protocol):
    """What pacing needs of a session (IrcSession): its state is three of its slots."""

    _paid_until: float
    _let_go: asyncio.TimerHandle | None
    _errors: int  # error numerics answered by the command being handled; -1: none runs
    closed: bool
    quit_reason: str

    @property
    def server(self) -> PacedHost: ...

    def exempt(self) -> bool:
        """An IRC operator: neither paced nor closed for a backlog."""

    def server_notice(self, text: str) -> None: ...

    def _pump(self) -> None: ...

    def _stop_reading(self, reason: str) -> bool: ...

    def close(self, reason: str) -> None: ...

    def _who(self) -> str: ...


def charge(s: Paced, units: float) -> None:
    """The client spends `units`: its next command waits if they take it past the burst."""
    paced = s.server.pacing
    if paced.rate > 0:
        s._paid_until = paced.spend(s._paid_until, time.monotonic(), units)


def hold(s: Paced) -> None:
    """A client held before registration (past its bounds there: registration.py) waits
    HELD_EVERY after each command, its bucket empty: InspIRCd's fakelag for the unregistered.
    Closed instead, it reconnected at once, and the refusals of those reconnects cost more
    than the commands a second it is let send (churn, bench/JOURNAL.md)."""
    paced = s.server.pacing
    if paced.rate > 0:
        s._paid_until = max(s._paid_until, time.monotonic() + paced.tolerance) + HELD_EVERY


def began(s: Paced, cost: int) -> None:
    """A command starts: its row's cost is charged and its errors counted from none."""
    s._errors = 0
    paced = s.server.pacing  # `charge`, one call fewer (every command passes here)
    if paced.rate > 0:
        s._paid_until = paced.spend(s._paid_until, time.monotonic(), cost)


def ended(s: Paced) -> None:
    """The command is answered: say how many of its errors were not shown."""
    hidden = s._errors - ERRORS_SHOWN
    s._errors = -1
    if hidden > 0:
        s.server_notice(
            f"{hidden} more error(s) of that command not shown (at most {ERRORS_SHOWN} a command)"
        )


def error_shown(s: Paced) -> bool:
    """An error numeric is to be answered: charged; False past ERRORS_SHOWN (not sent)."""
    errors = s._errors
    if errors < 0:  # not a command's (a notice, a delivery)
        return True
    s._errors = errors + 1
    charge(s, 1)
    return errors < ERRORS_SHOWN


def held_back(s: Paced) -> bool:
    """PacedInput's hook: True while the next command must wait for the client's spending
    to be paid off (a timer lets it go then)."""
    if s._let_go is not None:
        return True
    host = s.server
    paced = host.pacing
    now = time.monotonic()
    # GCRA's test, inline (a call here was a third of pacing's cost a command, gcra in
    # bench/JOURNAL.md): the TAT at most τ ahead (not paced: τ 0 and a TAT never moved)
    if s._paid_until - now <= paced.tolerance or s.closed:
        return False
    if s.exempt():  # operators are not paced
        s._paid_until = now
        return False
    host.metrics.irc_commands_delayed.inc()
    wait = paced.wait(s._paid_until, now, 0)
    s._let_go = asyncio.get_running_loop().call_later(wait, _paid_off, s)
    return True


def _paid_off(s: Paced) -> None:
    s._let_go = None
    if not s.closed:
        s._pump()


def flooding(s: Paced, backlog: int) -> bool:
    """True (and the client closed with `Excess Flood`) when `backlog` commands read and not
    handled yet are more than the door keeps for one client."""
    host = s.server
    limit = host.pacing.flood_lines
    if not limit or backlog <= limit or s.exempt():
        return False
    host.metrics.irc_excess_flood.inc()
    log.info("closing %s: Excess Flood (%d commands waiting)", s._who(), backlog)
    s.quit_reason = "Excess Flood"
    if s._stop_reading("Excess Flood"):
        s.close("Excess Flood")
    return True


def flooding_ahead(s: Paced, data: bytes, backlog: int) -> bool:
    """`flooding`, judged before `data` is parsed, by its line ends (one C scan): a read of
    up to 256 KB of short lines (~20,000 of them) was parsed in full before the backlog was
    seen to be too long. Only with a backlog already, or a read bigger than a connect burst."""
    if not backlog and len(data) < SCAN_READS_FROM:
        return False
    return flooding(s, backlog + data.count(b"\n"))


def stop(s: Paced) -> None:
    """The connection is gone: its hold's timer goes too."""
    if s._let_go is not None:
        s._let_go.cancel()
        s._let_go = None
