"""Connection storm drill, short versions: 10 s of connects, logins, requests and WebSocket
logins coming and going while a room chats, on one embedded node and split over two nodes of a
postgres-kafka cluster. Long version: `bench/drills.py storm --seconds 60 [--deployment
postgres-kafka --nodes 2]`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.drills.harness import Report, ServerProcess
from tests.drills.storm import storm_drill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_connection_storm_leaks_nothing_and_the_room_keeps_talking(
    embedded_node: ServerProcess, report: Callable[[Report], None]
) -> None:
    r = await storm_drill(embedded_node, seconds=10)
    report(r)
    assert r.lost == 0
    assert r.extra["honest_dropped"] == 0
    assert r.extra["honest_errors"] == 0
    assert r.acknowledged > 0
    assert r.extra["fds_ok"]  # descriptors back to where they were (+10 slack)
    assert r.extra["rss_growth_ok"]  # < 100 MB growth: a correctness bound, not a timing


@pytest.mark.kafka
@pytest.mark.postgres
async def test_connection_storm_over_two_nodes_leaks_nothing_and_loses_nothing(
    two_nodes: tuple[ServerProcess, ServerProcess], report: Callable[[Report], None]
) -> None:
    a, b = two_nodes
    r = await storm_drill(a, other=b, seconds=10, workers=32)
    report(r)
    assert r.acknowledged > 0
    assert r.lost == 0  # every line, from either node, reached every chatter on both
    assert r.extra["honest_dropped"] == 0
    assert r.extra["honest_errors"] == 0
    assert r.extra["fds_ok"]  # on both nodes
    assert r.extra["rss_growth_ok"]
