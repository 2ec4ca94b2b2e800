"""Counting the SQL statements a piece of work sends to the store: SQLAlchemy's cursor
events on the real engine. A count of round trips, never a time."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Statements:
    """The statements run while inside the `with`, as their SQL text; statements naming a
    table in `ignore` (another task's periodic work, e.g. the revocation poll) are left out."""

    def __init__(self, engine: AsyncEngine, ignore: tuple[str, ...] = ()) -> None:
        self._engine = engine.sync_engine
        self._ignore = ignore
        self.seen: list[str] = []

    def _record(self, *args: object) -> None:
        sql = " ".join(str(args[2]).split())
        if not any(table in sql for table in self._ignore):
            self.seen.append(sql)

    def __enter__(self) -> Statements:
        event.listen(self._engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)

    def __len__(self) -> int:
        return len(self.seen)

    def kinds(self) -> list[str]:
        """The first word of each: SELECT, INSERT, ..."""
        return [sql.split(None, 1)[0].upper() for sql in self.seen]
