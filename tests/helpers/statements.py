"""Counting the SQL statements a piece of work sends to the store: SQLAlchemy's cursor
events on the real engine. A count of round trips, never a time."""

from __future__ import annotations

import re

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Other tasks' periodic statements, which may land in any window (on a loaded machine a
# login takes seconds, and each of these runs every few): patterns (re.search) naming them
# by what they are. The revocation poll (core/revocation.py, every 0.5 s) and its mark, the
# node's lease for the CLI's wait (feed_marks, a DELETE and an upsert, every MARK_EVERY =
# 5 s: ci172's 13 statements where a returning login makes 11); the housekeeping sweep of
# empty rooms (core/retention.py); the backends' probe (app.py, every PROBE_SECONDS = 2 s:
# the store's and the SQL message log's ping, one `SELECT 1` each, the whole statement).
PERIODIC = (r"\brevocations\b", r"\bfeed_marks\b", r"rooms\.created_at <", r"^SELECT 1$")


def periodic(sql: str, patterns: tuple[str, ...] = PERIODIC) -> bool:
    """`sql` (its words joined by single spaces) is one of another task's periodic
    statements."""
    return any(re.search(p, sql) for p in patterns)


class Statements:
    """The statements run while inside the `with`, as their SQL text; statements matching a
    pattern of `ignore` (another task's periodic work: PERIODIC) are left out."""

    def __init__(self, engine: AsyncEngine, ignore: tuple[str, ...] = ()) -> None:
        self._engine = engine.sync_engine
        self._ignore = ignore
        self.seen: list[str] = []

    def _record(self, *args: object) -> None:
        sql = " ".join(str(args[2]).split())
        if not periodic(sql, self._ignore):
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
