"""Crash drill, short version: 50 clients, kill -9 at 3 random moments, on both deployments.
The long version: `bench/drills.py crash --kills 50`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.drills.crash import Sender, check, crash_drill
from tests.drills.harness import Report, ServerProcess


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_kill_9_loses_no_acknowledged_message(
    node: ServerProcess, report: Callable[[Report], None]
) -> None:
    r = await crash_drill(node, clients=50, kills=3)
    report(r)
    assert r.acknowledged > 0
    assert r.lost == 0
    assert r.extra["duplicates"] == 0
    assert r.extra["out_of_order"] == 0
    assert r.extra["live_misordered"] == 0


def test_the_check_notices_loss_duplicates_and_disorder() -> None:
    """The drill's verdict is only as good as its check: feed it each kind of damage."""
    a, b = Sender("a"), Sender("b")

    def history(*keys: tuple[str, int]) -> list[dict[str, object]]:
        return [{"sender": s, "text": f"drill {n}"} for s, n in keys]

    a.acked, b.acked = [0, 1, 2], [0]
    a.seen = [("a", 0), ("b", 0), ("a", 1)]
    good = check(history(("a", 0), ("b", 0), ("a", 1), ("a", 2), ("a", 3)), [a, b])
    assert good == {
        "lost": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "live_misordered": 0,
        "stored": 5,
    }
    assert check(history(("a", 0), ("a", 2), ("b", 0)), [a, b])["lost"] == 1
    dup = check(history(("a", 0), ("b", 0), ("a", 1), ("a", 1), ("a", 2)), [a, b])
    assert dup["duplicates"] == 1 and dup["out_of_order"] == 1
    swapped = check(history(("a", 0), ("b", 0), ("a", 2), ("a", 1)), [a, b])
    assert swapped["out_of_order"] == 1 and swapped["lost"] == 0
    a.seen = [("b", 0), ("a", 0)]  # seen live in another order than history keeps
    assert check(history(("a", 0), ("b", 0), ("a", 1), ("a", 2)), [a, b])["live_misordered"] == 1
