"""What every `torbit` command shares: the exit codes of the one rule (cli/__init__.py), the
--config option and the settings it reads, and running a command's work on the store (and
the message log), with its errors turned into one line and the rule's exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from torbit.config import Settings, load_settings
from torbit.config_file import find_config
from torbit.core.accounts import Accounts
from torbit.core.feedmarks import StoreFeed, describe
from torbit.core.ports import MessageLog, Store
from torbit.core.storeclock import StoreClock, read_clock
from torbit.errors import ConfigError, ServiceUnavailable, TorbitError

T = TypeVar("T")
REFUSED = 1  # the request was answered no
CANNOT_TELL = 2  # no answer: bad config or arguments, store or node unreachable

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: $TORBIT_CONFIG, else ./torbit.toml if present, "
        "else built-in defaults)",
    ),
]


config_source = ["built-in defaults"]  # which config this command read, for run_with_store


def settings_of(config: Path | None) -> Settings:
    """The settings serve and every command share (config_file.find_config). Commands say on
    stderr which config and database they use (see run_with_store), so that a command run
    elsewhere cannot silently use another database than the server's."""
    path = find_config(config)
    try:
        settings = load_settings(path)
    except ConfigError as e:
        fail(e.message, CANNOT_TELL)
    config_source[0] = describe_source(settings, path)
    return settings


def describe_source(settings: Settings, path: Path | None) -> str:
    from torbit.backends.urls import redact

    source = f"config {path}" if path is not None else "built-in defaults (no torbit.toml here)"
    return f"database {redact(settings.storage.url)}, {source}"


def require_database(settings: Settings) -> None:
    """Commands that only read or change what exists never create an SQLite database: run in
    the wrong directory, they would report an empty one instead of the server's."""
    from torbit.backends.urls import sqlite_path

    path = sqlite_path(settings.storage.url)
    if path is not None and not path.exists():
        fail(
            f"no database at {path} ({config_source[0]}): run this where the server runs, or "
            "pass the server's --config (torbit serve and torbit user add create it)",
            CANNOT_TELL,
        )


def fail(message: str, code: int = REFUSED) -> NoReturn:
    typer.echo(f"torbit: {message}", err=True)
    raise typer.Exit(code)


def run_with_store(
    settings: Settings, work: Callable[[Store], Awaitable[T]], create: bool = False
) -> T:
    """Open the store, run `work(store)`, close; errors become one clear line and the exit
    code of the rule above (an unreachable store is 2, as for `db status`). Only with
    `create` may a new database be made."""
    from torbit.backends.registry import open_store

    if not create:
        require_database(settings)
    typer.echo(f"torbit: {config_source[0]}", err=True)

    async def main() -> T:
        store = open_store(
            settings.storage.url,
            settings.storage.synchronous,
            consistency=settings.storage.consistency,
            command_timeout=settings.storage.command_timeout,
        )
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (ConfigError, ServiceUnavailable) as e:
        fail(e.message, CANNOT_TELL)
    except TorbitError as e:
        fail(e.message, REFUSED)


async def store_time(store: Store) -> Callable[[], datetime]:
    """The store's time, as the rows this command writes are dated, like a node's
    (rowclock60): the store's clock read once, then the monotonic time since. Not the
    machine's wall clock, which may run a day off the nodes' store."""
    clock = StoreClock()
    await read_clock(store, clock)
    return clock.now


def accounts_for(
    settings: Settings,
    store: Store,
    log: MessageLog | None = None,
    feed: StoreFeed | None = None,
    now: Callable[[], datetime] | None = None,
) -> Accounts:
    """The accounts service as the CLI uses it: revocations go to the store, where every
    running node finds them within a second (core/revocation.py); through `feed`, which then
    knows what to wait for (`confirmed`); accounts dated by `now` (`store_time`)."""
    from torbit.services import account_names, password_hashing

    a = settings.accounts
    return Accounts(
        store,
        registration_open=True,
        min_password_length=a.min_password_length,
        hashing=password_hashing(settings, workers=1, queue=1),
        names=account_names(settings),
        log=log,
        revoke=feed.revoke if feed is not None else None,
        tell=feed.tell if feed is not None else None,
        now=now if now is not None else lambda: datetime.now(UTC),  # a read only: `user list`
    )


async def answer_when_applied(feed: StoreFeed, bound: float, *done: str) -> None:
    """Say `done` (its lines) once every running node has applied what `feed` wrote, the
    user's acts under way there ended first (core/feedmarks.py), waiting at most `bound`
    seconds. Past it, the change stands in the store but whether those nodes apply it yet
    cannot be told: `done` is said, then the nodes that had not, on stderr, and the exit
    is CANNOT_TELL, as for a node unreachable."""
    late = await feed.confirmed(bound)
    for line in done:
        typer.echo(line)
    if late:
        fail(describe(late, bound), CANNOT_TELL)


WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        help="seconds to wait at most for every running node to apply it (their user's acts "
        "under way there ended first); past it, the nodes that had not are named (exit 2)",
    ),
]


async def with_log(
    settings: Settings, store: Store, work: Callable[[MessageLog], Awaitable[T]]
) -> T:
    """Run `work` with the configured message log started (deleting an account deletes its
    messages too)."""
    from torbit.services import message_log_of

    log = message_log_of(settings, store)
    await log.start(lambda _message: None)
    try:
        return await work(log)
    finally:
        await log.close()
