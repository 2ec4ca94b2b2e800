"""What the durable hot path writes besides the log, batched per committed run: the delivery
latency histogram (n equal observations at once) and the transcript (one queue entry a run,
formatted on its thread)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from torbit.config import LogConfig
from torbit.core.models import Message, MessageKind
from torbit.logs import TRANSCRIPT_FORMAT, PrivateRotatingFileHandler, Transcript, _rotating
from torbit.metrics import Metrics

T = datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        if family.name == "torbit_delivery_latency_seconds"
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_observing_n_equal_lags_at_once_is_n_observations() -> None:
    one_by_one, at_once = Metrics(), Metrics()
    for lag, n in [(0.0004, 3), (0.02, 1), (0.3, 7), (9.0, 2), (0.005, 4)]:
        for _ in range(n):
            one_by_one.delivery_latency.observe(lag)
        at_once.delivery_latency.observe_many(lag, n)
    assert samples(at_once.registry) == pytest.approx(samples(one_by_one.registry))
    assert samples(at_once.registry)[("torbit_delivery_latency_seconds_count", ())] == 17


def test_a_doors_sent_counter_is_looked_up_once_and_counts_as_labels_does() -> None:
    metrics = Metrics()
    telnet = metrics.sent_on("telnet")
    assert metrics.sent_on("telnet") is telnet  # no `labels` per message
    telnet.inc(3)
    metrics.sent_on("irc").inc()
    metrics.messages_in.labels("telnet").inc()
    counted = {
        s.labels["door"]: s.value
        for family in metrics.registry.collect()
        if family.name == "torbit_messages_in"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counted == {"telnet": 4.0, "irc": 1.0}


def test_the_transcript_writes_runs_in_order_with_each_lines_time(tmp_path: Path) -> None:
    cfg = LogConfig(dir=tmp_path)
    lost: list[int] = []
    transcript = Transcript(_rotating(tmp_path / "t.log", cfg, TRANSCRIPT_FORMAT), lost.append)
    run = [
        Message(1, "dev", "alice", "one", T),
        Message(2, "dev", "alice", "waves", T, MessageKind.ACTION),
        Message(3, "dev", "bob", "three", LATER),
    ]
    transcript.write_all([(run, "Dev"), ((Message(1, "music", "carol", "alone", LATER),), "Music")])
    transcript.write_all([(run[:1], "Dev")])
    transcript.close()
    assert (tmp_path / "t.log").read_text().splitlines() == [
        "2026-12-01T10:00:00.250000+00:00 #Dev <alice> one",
        "2026-12-01T10:00:00.250000+00:00 #Dev * alice waves",
        "2026-12-01T10:00:01+00:00 #Dev <bob> three",
        "2026-12-01T10:00:01+00:00 #Music <carol> alone",
        "2026-12-01T10:00:00.250000+00:00 #Dev <alice> one",
    ]
    assert lost == []


def test_the_transcript_takes_what_queued_during_its_hold_as_one_record(tmp_path: Path) -> None:
    """Messages committed one at a time (a steady stream) wake the transcript's thread once
    per hold, not once per message; `close` cuts the hold short and every line is written."""
    cfg = LogConfig(dir=tmp_path)
    records: list[logging.LogRecord] = []

    class Counted(PrivateRotatingFileHandler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            super().emit(record)

    transcript = Transcript(_rotating(tmp_path / "t.log", cfg, TRANSCRIPT_FORMAT, Counted))
    transcript.hold = 60.0  # longer than the test: only `close` ends it
    for i in range(20):
        transcript.write_all([((Message(i, "dev", "alice", f"m{i}", T),), "Dev")])
        time.sleep(0.005)  # each its own commit: the thread could wake for each
    transcript.close()
    assert len(records) == 1
    lines = (tmp_path / "t.log").read_text().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"m{i}" for i in range(20)]
