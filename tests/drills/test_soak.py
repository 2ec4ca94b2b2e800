"""Soak drill, a short version on two nodes of a postgres-kafka cluster: senders on node A,
listeners (telnet, WebSocket, HTTP long polls) on node B, logins coming and going on both, the
topics' retention at 18 s. The real one (30 minutes) is run by hand:
`bench/drills.py soak --deployment postgres-kafka --nodes 2 --minutes 30` (docs/reliability.md).

Half a minute (it was one): on postgres-kafka the purge deletes no messages (the broker expires
records, and its retention check runs every 5 minutes), so the second half-minute repeated the
first; 30 s still rolls the topics' 18 s segments, samples at 0 and 15 s (the second is the
steady one the bounds read) and churns about 30 connections over both nodes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.drills.harness import Report, ServerProcess
from tests.drills.soak import soak_drill

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(300)]


async def test_a_short_soak_across_two_nodes_loses_nothing(
    two_nodes: tuple[ServerProcess, ServerProcess], report: Callable[[Report], None]
) -> None:
    a, b = two_nodes
    for node in two_nodes:
        node.env["TORBIT_CHAT__RETENTION_HOURS"] = "0.005"
    r = await soak_drill(
        a,
        receiver=b,
        minutes=0.5,
        sample_every=15,
        rooms=2,
        telnet_per_room=4,
        interval=2,
        watchers_per_room=3,
        churn_per_second=1,
    )
    report(r)
    assert r.acknowledged > 0
    assert r.lost == 0  # every line acknowledged on A reached every watcher on B
    assert r.extra["honest_dropped"] == 0
    assert r.extra["honest_errors"] == 0
    assert int(str(r.extra["ws_and_poll_received"])) > 0
    assert r.rss_after - r.rss_before < 100 << 20  # bounded growth, not a timing
