"""Which dialect a storage URL names: a small table from URL scheme to dialect.

dialect_for("sqlite:///torbit-data/torbit.db")      → SqliteDialect (aiosqlite)
dialect_for("postgresql://torbit@db:5432/torbit")   → PostgresDialect (asyncpg)
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from torbit.backends.store.dialects import PostgresDialect, SqlDialect
from torbit.backends.store.sqlite_dialect import SqliteDialect
from torbit.backends.urls import redact
from torbit.errors import ConfigError

_DIALECTS: dict[str, type[SqlDialect]] = {
    "sqlite": SqliteDialect,
    "postgresql": PostgresDialect,
    "postgres": PostgresDialect,
}


def dialect_for(url: str) -> SqlDialect:
    """The dialect of a storage URL: sqlite:///relative.db, sqlite:////absolute.db or
    postgresql://user@host:port/db (an explicit +aiosqlite / +asyncpg is accepted too)."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError(f"storage url {redact(url)!r} is not a database URL") from None
    backend, _, driver = parsed.drivername.partition("+")
    cls = _DIALECTS.get(backend)
    if cls is None:
        raise ConfigError(
            f"storage url {redact(url)!r}: unknown database {backend!r}; use sqlite: or postgresql:"
        )
    if driver and driver != cls.driver:
        raise ConfigError(
            f"storage url {redact(url)!r}: torbit uses the {cls.driver} driver for {cls.name}; "
            f"write {cls.name}://..."
        )
    dialect = cls(parsed)
    dialect.check_driver()
    return dialect
