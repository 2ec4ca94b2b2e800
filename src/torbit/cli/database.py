"""`torbit db`: bring the schema up to date, or say whether it is this torbit's without
changing anything (SQL stores' Alembic revisions, Cassandra's numbered migrations)."""

from __future__ import annotations

import asyncio

import typer

from torbit import __version__
from torbit.cli.common import (
    CANNOT_TELL,
    REFUSED,
    ConfigOption,
    config_source,
    fail,
    require_database,
    run_with_store,
    settings_of,
)
from torbit.config import Settings
from torbit.core.ports import Store
from torbit.errors import TorbitError

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the schema migrations (serve does this by itself at start)."""
    settings = settings_of(config)

    async def work(store: Store) -> None:
        typer.echo("database schema is up to date")

    run_with_store(settings, work, create=True)


@db_app.command("status", short_help="Is the schema this torbit's? Exit 1: no; 2: cannot tell.")
def db_status(config: ConfigOption = None) -> None:
    """Say whether the database's schema is this torbit's (exit 0) or not (exit 1: older,
    none, or a newer torbit's), changing nothing: before a rollout, or after restoring a
    backup. Exit 2 when it cannot tell (bad config, no SQLite file where the config points,
    database unreachable), so that a script running `torbit db upgrade` on exit 1 only
    migrates a database that answered, never makes an empty one in the wrong place."""
    settings = settings_of(config)
    require_database(settings)
    typer.echo(f"torbit: {config_source[0]}", err=True)
    try:
        current, head, known = asyncio.run(_schema_status(settings))
    except TorbitError as e:  # ConfigError, ServiceUnavailable: no answer from the schema
        fail(e.message, CANNOT_TELL)
    if current == head:
        typer.echo(f"schema {current}: up to date")
        return
    if current is None:
        typer.echo(f"no schema yet (this torbit's is {head}): run torbit db upgrade")
    elif not known:
        typer.echo(
            f"schema {current} is unknown to torbit {__version__} (its newest is {head}): "
            "it was made by a newer torbit"
        )
    else:
        typer.echo(f"schema {current}, this torbit's is {head}: run torbit db upgrade")
    raise typer.Exit(REFUSED)


async def _schema_status(settings: Settings) -> tuple[str | None, str | None, bool]:
    """The database's schema version, this torbit's newest, and whether this torbit knows
    the database's (a newer torbit's is unknown): Alembic revisions on SQL stores, numbered
    CQL migrations on Cassandra."""
    from torbit.backends.urls import scheme

    url = settings.storage.url
    if scheme(url) == "cassandra":
        from torbit.backends.store import cassandra, cassandra_schema

        version = await cassandra.schema_version(url, settings.storage.consistency)
        head = cassandra_schema.HEAD
        return (
            None if version is None else str(version),
            str(head),
            version is None or version <= head,
        )
    from torbit.backends.store import migrate

    revision = await migrate.current_revision(url)
    return revision, migrate.head_revision(), revision is None or migrate.is_known(revision)
