"""`storage.command_timeout`: how long a statement may go unanswered before the request fails
"storage unavailable". It was a constant (5 s). Here a real PostgreSQL table is locked by a
connection of the test's own (tests/helpers/pglock.py): a store given a short timeout gives
up on it, with the error the store raised at 5 s, while a store given a long one is still
waiting on the same lock; the App hands the configured value to its store."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServerFactory
from tests.helpers.pglock import TableLock
from tests.scale.conftest import eventually
from torbit.backends.store.sql import SqlStore
from torbit.config import load_settings
from torbit.errors import ConfigError, ServiceUnavailable

pytestmark = [pytest.mark.postgres]

NO_ANSWER = "storage unavailable: the database did not answer in time"
# a name no test registers: the session's database is shared, other tests leave their users in it
NOBODY = "nobody-waits-on-locks"


async def test_a_short_timeout_gives_up_on_a_held_lock_a_long_one_still_waits(
    pg_database: str,
) -> None:
    quick = SqlStore(pg_database, command_timeout=0.2)
    patient = SqlStore(pg_database, command_timeout=3600)
    await quick.open()
    await patient.open()
    try:
        async with TableLock.held(pg_database, "users") as lock:
            waiting = asyncio.create_task(patient.get_user(NOBODY))
            await eventually("the patient store waits on the lock", lock.waiting)
            with pytest.raises(ServiceUnavailable, match=f"^{NO_ANSWER}$"):
                await quick.get_user(NOBODY)
            assert await lock.waiting(), "the long timeout gave up too"
            assert not waiting.done()
        assert await waiting is None  # the lock let go: answered
        assert await quick.get_user(NOBODY) is None  # and the quick one serves again
    finally:
        await quick.close()
        await patient.close()


async def test_the_server_hands_the_setting_to_its_store(
    pg_database: str, make_server: ServerFactory
) -> None:
    app = await make_server(storage={"url": pg_database, "command_timeout": 0.2})
    assert app.core is not None
    async with TableLock.held(pg_database, "users"):
        with pytest.raises(ServiceUnavailable, match=f"^{NO_ANSWER}$"):
            await app.core.store.get_user("alice")


def test_the_setting_is_read_from_the_environment_and_must_be_positive_and_finite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().storage.command_timeout == 5.0  # as the constant was
    variable = "TORBIT_STORAGE__COMMAND_TIMEOUT"
    monkeypatch.setenv(variable, "2.5")
    assert load_settings().storage.command_timeout == 2.5
    for bad in ("0", "-1", "nan", "inf"):
        monkeypatch.setenv(variable, bad)
        with pytest.raises(ConfigError, match=rf"storage\.command_timeout \(set by {variable}\)"):
            load_settings()
