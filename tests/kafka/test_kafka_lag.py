"""torbit_message_log_lag: how far behind a node's Kafka consumer is (KafkaLog.lag), from
the high watermark each fetch brings back, against the real broker. On main there was no
such gauge: a node falling behind its rooms was seen only in the delivery latency."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.broker import topic_prefix
from tests.helpers.http import basic, http_client, register
from tests.kafka.kafka_support import draft, eventually
from torbit.backends.message_log.kafka import KafkaLog
from torbit.testing.kafka import KafkaCluster

pytestmark = pytest.mark.kafka


async def test_the_lag_counts_what_was_fetched_and_not_yet_delivered(
    broker: KafkaCluster, prefix: str
) -> None:
    lags: list[int] = []  # the lag as each message is handed over
    log = KafkaLog(broker.bootstrap, topic_prefix=prefix, fetch_wait_ms=500)
    await log.start(lambda m: lags.append(log.lag()))
    try:
        await log.watch("lobby")
        assert log.lag() == 0
        await log.publish([draft("lobby", f"m{i}") for i in range(10)])
        await eventually(lambda: len(lags) == 10)
        # the message being handed over and those fetched with it count until delivered
        assert 1 <= lags[0] <= 10 and lags == sorted(lags, reverse=True), lags
        assert log.lag() == 0
    finally:
        await log.close()


async def test_a_kafka_node_shows_its_lag_on_metrics(
    make_server: ServerFactory, broker: KafkaCluster
) -> None:
    app = await make_server(
        message_log={"url": f"kafka://{broker.bootstrap}", "topic_prefix": topic_prefix("l")}
    )
    async with http_client(app) as client:
        await register(client, "alice")
        r = await client.post("/send/lobby/alice", content="hi", auth=basic("alice"))
        assert r.status_code == 201, r.text
        assert "\ntorbit_message_log_lag 0.0\n" in (await client.get("/metrics")).text
