"""A node whose `message_log.url` was left `local` (one environment variable forgotten) on the
database of nodes that share Kafka. Stop 53's walk started one beside two such nodes: it
served, kept its messages in the database's table, and its users and theirs never saw each
other's lines, without a word anywhere (the local log's claim on the database refuses only a
second local node; Kafka nodes claim nothing). Their leases in the store now refuse it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.moderation import services
from tests.scale.conftest import NodeFactory, eventually
from torbit.errors import StartupError

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_node_on_the_local_log_is_refused_beside_nodes_on_kafka(
    make_node: NodeFactory, make_server: ServerFactory, empty_db: str, tmp_path: Path
) -> None:
    a = await make_node("a")

    async def leased() -> bool:
        since = datetime.now(UTC) - timedelta(seconds=10)
        return bool(await services(a).store.nodes_seen_since(since))

    await eventually("node a's lease in the store", leased)
    with pytest.raises(StartupError, match="sharing a message log") as refused:
        await make_server(tmp_path / "local", storage={"url": empty_db})
    line = refused.value.message
    assert "\n" not in line and "message_log.url" in line, line
    assert not (tmp_path / "local" / "logs").exists()  # a refused start leaves nothing


async def test_a_node_on_kafka_is_refused_beside_a_node_on_the_local_log(
    make_node: NodeFactory, make_server: ServerFactory, empty_db: str, tmp_path: Path
) -> None:
    """The other way round: a node sharing Kafka started on the database a node on the local
    log serves (stop 53 left it: it started, and the two kept their messages apart). The
    local node's claim on the database refuses it, before it reaches the broker."""
    local = await make_server(tmp_path / "local", storage={"url": empty_db})
    assert local.core is not None
    with pytest.raises(StartupError, match="local message log") as refused:
        await make_node("k")
    line = refused.value.message
    assert "\n" not in line and "message_log.url" in line, line
    assert not (tmp_path / "k" / "logs").exists()  # a refused start leaves nothing
    await local.stop()
    await make_node("k2")  # the local node gone, a node on Kafka starts
