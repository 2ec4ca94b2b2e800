"""What IRC command pacing adds to one command (ircpace, bench/JOURNAL.md): `began`,
`held_back` and `ended` (frontends/irc/pacing.py) on an object with the session's slots,
within its burst (never held). timeit, best of 5 x 1,000,000, three sittings.

    flock /tmp/bench.lock .venv/bin/python bench/irc_pacing_cost.py
"""

from __future__ import annotations

import timeit

from torbit.frontends.irc import pacing
from torbit.frontends.irc.pacing import Pacing
from torbit.metrics import Metrics


class Host:
    pacing = Pacing()
    metrics = Metrics()


class Session:
    __slots__ = ("_errors", "_let_go", "_paid_until", "closed", "quit_reason")
    server = Host()

    def __init__(self) -> None:
        self._paid_until = 0.0
        self._let_go = None
        self._errors = -1
        self.closed = False
        self.quit_reason = ""

    def exempt(self) -> bool:
        return False

    def server_notice(self, text: str) -> None:
        pass


def main() -> None:
    s = Session()

    def one() -> None:
        pacing.began(s, 1)  # type: ignore[arg-type]
        pacing.held_back(s)  # type: ignore[arg-type]
        pacing.ended(s)  # type: ignore[arg-type]
        s._paid_until = 0.0  # stay within the burst

    for sitting in range(3):
        best = min(timeit.repeat(one, number=1_000_000, repeat=5))
        print(f"sitting {sitting + 1}: {best * 1000:.1f} ns a command (best of 5 x 1,000,000)")


if __name__ == "__main__":
    main()
