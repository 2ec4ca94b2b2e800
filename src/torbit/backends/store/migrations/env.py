"""Alembic environment for torbit's schema, packaged with torbit so that `torbit serve` and
`torbit db upgrade` migrate without an alembic.ini. torbit.backends.store.migrate runs it with
an open connection (inside the engine's upgrade lock) in `config.attributes["connection"]`;
`alembic upgrade --sql` (offline) needs `sqlalchemy.url` set instead."""

from __future__ import annotations

from alembic import context

from torbit.backends.store.schema import metadata


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "torbit's migrations run through torbit.backends.store.migrate (torbit db upgrade)"
        )
    # The caller owns the transaction (it holds the upgrade lock in it) and commits.
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
