"""What one sweep of left-over guests reads (core/guests.py, `sweep_stale`) on a store of many
accounts and few guests: the store's guests by age (`guests_created_before`, through the
partial index of migration 0010), against the users table read whole and filtered, as the
sweep did before, measured in the same run on the same SQLite file.

    .venv/bin/python bench/guest_sweep.py [--accounts 100000] [--guests 200] [--repeat 7]

Prints a markdown table: median and worst of the repeats, in ms per sweep read."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from torbit.backends.store.schema import users
from torbit.backends.store.sql import SqlStore
from torbit.core.guests import SWEEP_PAGE
from torbit.core.identity import skeleton
from torbit.core.models import GUEST_PASSWORD_HASH


async def fill(store: SqlStore, accounts: int, guests: int) -> None:
    """Rows written in bulk: registering each would take minutes and measure nothing here."""
    at = datetime.now(UTC) - timedelta(hours=1)

    def row(name: str, hash_: str) -> dict[str, object]:
        return {"key": name, "name": name, "password_hash": hash_, "created_at": at,
                "is_admin": False, "credential": "", "skeleton": skeleton(name), "node": "n"}  # fmt: skip

    rows = [row(f"user{i}", f"$argon2id$hash{i}") for i in range(accounts)]
    rows += [row(f"guest{i}", GUEST_PASSWORD_HASH) for i in range(guests)]
    async with store.engine.begin() as conn:
        for start in range(0, len(rows), 10000):
            await conn.execute(users.insert(), rows[start : start + 10000])


async def paged(store: SqlStore, before: datetime) -> int:
    count, after = 0, None
    while True:
        page = await store.guests_created_before(before, after=after, limit=SWEEP_PAGE)
        count += len(page)
        if len(page) < SWEEP_PAGE:
            return count
        after = (page[-1][0].created_at, page[-1][0].key)


async def whole(store: SqlStore, before: datetime) -> int:
    return sum(1 for u in await store.list_users() if u.is_guest and u.created_at < before)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--guests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await store.open()
        try:
            await fill(store, args.accounts, args.guests)
            before = datetime.now(UTC)
            times: dict[str, list[float]] = {"guests by age (paged)": [], "every user": []}
            for _ in range(args.repeat):
                for label, read in (("guests by age (paged)", paged), ("every user", whole)):
                    start = time.perf_counter()
                    assert await read(store, before) == args.guests
                    times[label].append((time.perf_counter() - start) * 1000)
        finally:
            await store.close()
    print(f"{args.accounts} accounts, {args.guests} guests, SQLite, {args.repeat} repeats\n")
    print("| sweep read | median ms | worst ms |\n|---|---|---|")
    for label, ms in times.items():
        print(f"| {label} | {statistics.median(ms):.2f} | {max(ms):.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
