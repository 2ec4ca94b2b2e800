"""The IRC door's keep-alive: one timer for every registered client, not one each. A timer
per client (uvloop's TimerHandle, its libuv timer, the bound method and context) was ~600
bytes of an idle client's ~4.3 KB, the most the IRC door kept beyond what telnet keeps.

Every PING_INTERVAL a round goes through the door's sessions, a slice a loop turn so that
10,000 clients never stall the loop in one turn. Each session counts the rounds it has been
silent through (`IrcSession.keep_alive`; any input resets the count): one silent for a whole
round is PINGed, so after 90–180 s of silence as with a per-client timer restarted every
90 s, and one still silent a round after its PING is dropped ("Ping timeout")."""

from __future__ import annotations

import asyncio
from collections.abc import Set
from typing import Protocol

PING_INTERVAL = 90.0  # seconds of silence before we PING; as long again for the answer
SLICE = 500  # sessions a loop turn in a round

PING_TIMEOUT = f"Ping timeout: {int(2 * PING_INTERVAL)} seconds"
# QUIT reasons in the server's words (an EOF, a flood, a shutdown), not the user's: the room is
# told them whether or not the user may talk there (Sessions.logout's `said`), and a crowd's
# departure asks nothing of the rooms for them
SERVER_QUITS = frozenset(
    {
        "Client Quit",
        "Connection closed",
        "Excess Flood",
        "Excess output: client too slow",
        "Server restarting",
        "Server shutting down",
        PING_TIMEOUT,
    }
)


class Pinged(Protocol):
    def keep_alive(self) -> None:
        """A round has passed: PING or drop the client if it has been silent through it."""


class Pinger:
    """Runs the rounds while the door has sessions; armed again by `watch` once it has
    stopped (a session registered)."""

    __slots__ = ("_sessions", "_timer")

    def __init__(self, sessions: Set[Pinged]) -> None:
        self._sessions = sessions  # the door's: read at each round, never changed here
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        """A client registered: make sure a round is due."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._round)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _round(self) -> None:
        self._timer = None
        if not self._sessions:
            return  # armed again by the next registration
        self.watch()  # the next round is due an interval after this one's start
        self._slice(list(self._sessions), 0)

    def _slice(self, sessions: list[Pinged], start: int) -> None:
        end = start + SLICE
        for session in sessions[start:end]:
            session.keep_alive()
        if end < len(sessions):
            asyncio.get_running_loop().call_soon(self._slice, sessions, end)
