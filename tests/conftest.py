"""Fixtures shared by every test level: real servers on ephemeral ports in a temp dir."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.helpers.opened import close_opened
from tests.helpers.sqlite_template import migrated_sqlite
from tests.helpers.summary import drill_summaries
from torbit.app import App
from torbit.config import Settings

# Apache Kafka fixtures (`kafka`, `broker`, `kafka_cluster`, `own_broker`) for every suite, and
# the message logs the MessageLog contract runs on (`message_logs`, `message_log`)
pytest_plugins = ["tests.helpers.broker", "tests.contract.logs"]

# No timing thresholds in tests: hypothesis's default 200 ms deadline an example failed
# tests/unit/test_page_json.py once on a machine at load 8 (page61), passing on its rerun.
settings.register_profile("torbit", deadline=None)
settings.load_profile("torbit")

# The event loop the tests run on: asyncio's own by default; TORBIT_TEST_LOOP=uvloop runs them on
# uvloop, the loop `torbit serve` uses (a TLS bug once lived only there). The hook is defined only
# then: with it, pytest-asyncio parametrizes every async test by loop.
TEST_LOOP = os.environ.get("TORBIT_TEST_LOOP", "asyncio")
if TEST_LOOP not in ("asyncio", "uvloop"):
    raise pytest.UsageError(f"TORBIT_TEST_LOOP={TEST_LOOP!r}: asyncio or uvloop")
if TEST_LOOP == "uvloop":
    import uvloop

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Every async test and fixture on uvloop, as under `torbit serve`."""
        return {"uvloop": uvloop.new_event_loop}


# Cheap hashing keeps tests fast; production uses argon2-cffi's defaults.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


def test_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a server on ephemeral ports, keeping everything under data_dir."""
    base: dict[str, dict[str, Any]] = {
        "telnet": {"port": 0, "login_timeout": 10},
        "http": {"port": 0},
        "irc": {"port": 0},
        # "left" notices at once on a disconnect; tests of the grace period set it
        "chat": {"presence_grace_seconds": 0},
        "storage": {"url": f"sqlite:///{data_dir}/torbit.db"},
        "log": {"dir": str(data_dir / "logs")},
        # reserved names are lifted (tests register "root"); tests/security sets them
        # and a login storm is not turned away by the bounded hashing queue
        "accounts": {**CHEAP_ARGON2, "reserved_names": [], "hash_queue": 100_000},
        # message, read and IRC command rates, connection counts and registrations are lifted;
        # tests of the limits set them
        "limits": {
            "message_rate": 0,
            "room_message_rate": 0,
            "read_rate": 0,
            "connections_per_ip": 0,
            "connection_rate": 0,  # new connections a second per address
            "registrations_per_address": 0,
            "registrations_per_hour": 0,
            "guests_per_address": 0,
            "irc_command_rate": 0,  # IRC command pacing (tests/security/test_irc_pacing.py)
        },
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Settings(**base)  # type: ignore[arg-type]


ServerFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers in this event loop; `await make_server(chat={"history_on_join": 5})`.
    A second call with `data_dir=` reuses a data dir (restart tests)."""
    apps: list[App] = []
    apps_at: list[tuple[App, Path]] = []

    async def factory(data_dir: Path | None = None, **sections: dict[str, Any]) -> App:
        if data_dir is None:
            # one node per database with the local message log: a server started while
            # another still runs on tmp_path gets a data dir of its own
            busy = any(a.core is not None for a, where in apps_at if where == tmp_path)
            data_dir = tmp_path / f"node{len(apps)}" if busy else tmp_path
            if "url" not in sections.get("storage", {}):
                migrated_sqlite(data_dir / "torbit.db")  # a copy, not a migration per server
        app = App(test_settings(data_dir, **sections))
        await app.start()
        apps.append(app)
        apps_at.append((app, data_dir))
        return app

    yield factory
    try:
        await close_opened()  # the helpers' clients a test left open (a failed one, say)
    finally:
        for app in apps:
            await app.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> App:
    """One running server with default settings (telnet and HTTP on ephemeral ports)."""
    return await make_server()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    drill_summaries(terminalreporter)
