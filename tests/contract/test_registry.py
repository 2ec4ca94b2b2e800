"""Backends chosen by URL scheme (torbit.backends.registry)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from torbit.backends.message_log.sql import SqlLog
from torbit.backends.registry import open_log, open_store
from torbit.backends.store.sql import SqlStore
from torbit.backends.urls import redact, scheme
from torbit.errors import ConfigError

LOG_OPTIONS: dict[str, Any] = {"topic_prefix": "t", "replication_factor": 3, "retention_hours": 1.5}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x.db", "sqlite"),
        ("postgresql+asyncpg://h/db", "postgresql"),
        ("local", "local"),
        ("Kafka://a:1,b:2", "kafka"),
    ],
)
def test_scheme(url: str, expected: str) -> None:
    assert scheme(url) == expected


def test_sql_urls_open_a_sql_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/t.db", "normal")
    assert isinstance(store, SqlStore) and store.dialect.name == "sqlite"
    store = open_store("postgresql://torbit@db.example:5432/torbit", "full")
    assert isinstance(store, SqlStore) and store.dialect.url.drivername == "postgresql+asyncpg"


def test_unknown_store_scheme_names_the_url_and_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'mongodb://h/db'.*sqlite:.*postgresql:"):
        open_store("mongodb://h/db", "full")


def test_passwords_stay_out_of_error_messages() -> None:
    assert redact("postgresql://torbit:s3cret@db:5432/x") == "postgresql://torbit:***@db:5432/x"
    assert redact("postgresql://torbit@db/x") == "postgresql://torbit@db/x"
    for url in ("mongodb://u:s3cret@h/db", "postgresql+psycopg2://u:s3cret@h/db"):
        with pytest.raises(ConfigError) as e:
            open_store(url, "full")
        assert "s3cret" not in e.value.message


def test_local_log_lives_in_the_sql_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/t.db", "full")
    assert isinstance(open_log("local", store, **LOG_OPTIONS), SqlLog)


def test_local_log_needs_a_sql_store() -> None:
    with pytest.raises(ConfigError, match="local"):
        open_log("local", object(), **LOG_OPTIONS)  # type: ignore[arg-type]


def test_kafka_url_builds_a_kafka_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made: dict[str, Any] = {}

    class FakeKafkaLog:
        def __init__(self, **kw: Any) -> None:
            made.update(kw)

    fake = types.ModuleType("torbit.backends.message_log.kafka")
    fake.KafkaLog = FakeKafkaLog  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torbit.backends.message_log.kafka", fake)
    store = open_store(f"sqlite:///{tmp_path}/t.db", "full")
    log = open_log("kafka://k1:9092,k2:9092", store, **LOG_OPTIONS)
    assert isinstance(log, FakeKafkaLog)
    assert made == {
        "bootstrap": "k1:9092,k2:9092",
        "topic_prefix": "t",
        "replication_factor": 3,
        "retention_ms": 5_400_000,
        "fetch_wait_ms": 5,
        "inbox_partitions": 16,
    }


def test_kafka_url_without_brokers_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = types.ModuleType("torbit.backends.message_log.kafka")
    fake.KafkaLog = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torbit.backends.message_log.kafka", fake)
    with pytest.raises(ConfigError, match="brokers"):
        open_log("kafka://", open_store(f"sqlite:///{tmp_path}/t.db", "full"), **LOG_OPTIONS)


def test_unknown_log_scheme_names_the_url_and_the_known_ones(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/t.db", "full")
    with pytest.raises(ConfigError, match=r"'redis://h'.*local.*kafka:"):
        open_log("redis://h", store, **LOG_OPTIONS)
