"""Fixtures of the reliability drills: the deployments a drill runs on (embedded, and
postgres-kafka on the broker and PostgreSQL fixtures of the scale-out suite), a server process
or two nodes of one postgres-kafka cluster, and the one-line summaries, which are printed again
at the end of the run so CI logs show them (tests/conftest.py: from xdist's workers too)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.drills.harness import EMBEDDED, Deployment, Report, ServerProcess, second_node
from tests.helpers.broker import topic_prefix
from tests.helpers.summary import DRILL_SUMMARY
from tests.scale.conftest import pg_url  # noqa: F401 (fixtures used by name)
from torbit.testing.kafka import KafkaCluster

DEPLOYMENTS = [
    pytest.param("embedded", id="embedded"),
    pytest.param(
        "postgres-kafka", id="postgres-kafka", marks=[pytest.mark.kafka, pytest.mark.postgres]
    ),
]


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[Report], None]:
    """Print a drill's summary line now, and keep it on the test's report for the run's
    summary (a user property: xdist hands those from its workers to the run)."""

    def record(r: Report) -> None:
        line = r.line()
        print(line)
        request.node.user_properties.append((DRILL_SUMMARY, line))

    return record


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    if request.param == "embedded":
        return EMBEDDED
    broker: KafkaCluster = request.getfixturevalue("kafka")
    database: str = request.getfixturevalue("pg_url")
    return Deployment.scale_out(database, broker.bootstrap, topic_prefix("drill"))


@pytest.fixture
def embedded_node(tmp_path: Path) -> Iterator[ServerProcess]:
    """An embedded node, not started yet; killed at the end whatever happened."""
    node = ServerProcess(tmp_path / "node")
    yield node
    node.kill()


@pytest.fixture
def node(tmp_path: Path, deployment: Deployment) -> Iterator[ServerProcess]:
    """A node of the parametrized deployment, not started yet; killed at the end."""
    process = ServerProcess(tmp_path / "node", deployment)
    yield process
    process.kill()


@pytest.fixture
def two_nodes(
    tmp_path: Path,
    kafka: KafkaCluster,
    pg_url: str,  # noqa: F811 (the fixture)
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two nodes of one postgres-kafka cluster (a fresh topic prefix, the module's database),
    not started yet; killed at the end. Tests using it are marked `kafka` and `postgres`."""
    deployment = Deployment.scale_out(pg_url, kafka.bootstrap, topic_prefix("drill2"))
    a = ServerProcess(tmp_path / "node", deployment)
    b = second_node(a)
    yield a, b
    a.kill()
    b.kill()
