"""Apache Kafka for the tests (a pytest plugin, loaded by tests/conftest.py).

    kafka          one broker for the whole session, started on first use (~3 s; the jars are
                   resolved by ./run-tests before pytest starts, or here on first use)
    broker         that broker, thawed again after the test (outage tests freeze it)
    kafka_cluster  three nodes of a cluster of the test's own (replication factor 3,
                   min.insync.replicas=2), for tests that kill and restart brokers
    own_broker     one broker of the test's own, for tests that kill or restart it

Tests sharing the session broker never see each other's data: each uses its own topic
prefix. A missing Java or Maven fails the test (CI must run these tests: not a skip).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from torbit.testing.kafka import KafkaCluster, KafkaMissing, start_kafka

_prefixes = itertools.count()


def started(brokers: int) -> KafkaCluster:
    try:
        return start_kafka(brokers)
    except KafkaMissing as e:
        pytest.fail(str(e))


def topic_prefix(kind: str) -> str:
    """A topic prefix no other test of this session uses."""
    return f"{kind}{next(_prefixes)}"


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaCluster]:
    with started(1) as cluster:
        yield cluster


@pytest.fixture
def broker(kafka: KafkaCluster) -> Iterator[KafkaCluster]:
    """The session broker, made sure to be running (not frozen) again after the test."""
    yield kafka
    kafka.resume()


@pytest.fixture
def kafka_cluster() -> Iterator[KafkaCluster]:
    with started(3) as cluster:
        yield cluster


@pytest.fixture
def own_broker() -> Iterator[KafkaCluster]:
    with started(1) as cluster:
        yield cluster
