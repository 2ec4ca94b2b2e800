"""A backend's failures as the metrics count them (core/health.py, Metrics.watch_backend)."""

from __future__ import annotations

import pytest

from torbit.core.health import Health, reason_of
from torbit.errors import ServiceUnavailable
from torbit.metrics import Metrics


@pytest.mark.parametrize(
    ("message", "reason"),
    [  # as the backends word them
        ("storage unavailable: the database did not answer in time", "timeout"),
        ("message log unavailable: publish timed out after 5s; it may still be", "timeout"),
        ("storage unavailable: [Errno 111] Connect call failed", "unreachable"),
        ("message log unavailable: read: KafkaConnectionError", "unreachable"),
        ("storage unavailable: the store is not open", "closed"),
        ("message log unavailable: not started", "closed"),
        ("message log unavailable: it is not running", "closed"),
        ("message log unavailable: it was stopped", "closed"),
        (
            "database postgresql://db/t was claimed by another torbit node (PostgreSQL session "
            "7 from 10.0.0.7) while this node's claim was lost: this node stops",
            "claimed",
        ),
        ("database claim lost: the server closed its connection", "unreachable"),
    ],
)
def test_reasons(message: str, reason: str) -> None:
    assert reason_of(ServiceUnavailable(message)) == reason


def test_a_failure_downs_the_backend_and_is_counted_by_reason() -> None:
    metrics, store, log = Metrics(), Health(), Health()
    metrics.watch_backend("store", store)
    metrics.watch_backend("message_log", log)

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("torbit_backend_up", backend="store") == 1
    error = ServiceUnavailable("storage unavailable: the database did not answer in time")
    assert store.failed(error) is error
    assert value("torbit_backend_up", backend="store") == 0
    assert value("torbit_backend_up", backend="message_log") == 1
    assert value("torbit_backend_failures_total", backend="store", reason="timeout") == 1
    log.publish_failed(ServiceUnavailable("message log unavailable: not started"))
    assert value("torbit_publish_failures_total", reason="closed") == 1
    store.publish_failed(error)  # a store publishes nothing: not counted as a publish
    assert value("torbit_publish_failures_total", reason="timeout") is None
