"""A room's ban-mask limit (MAXLIST b:100, `limit` here) holds across nodes: masks added at
once on two stores sharing a database or a keyspace never leave more than `limit`. An add the
store answers True is in the list; one it refuses (ListFull) is not. On Cassandra the count
and the insert were two steps: each node counted before the other's insert and both went in."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS, make_store
from tests.contract.test_store import room, users
from torbit.core.models import BanMask
from torbit.core.ports import Store
from torbit.errors import ListFull

BACKENDS_UNDER_TEST = STORE_BACKENDS

LIMIT = 3


async def test_masks_added_at_once_on_two_nodes_stay_within_the_limit(
    store: Store, store_url: str
) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("two nodes share a PostgreSQL database or a Cassandra keyspace")
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    for mask in ("x!*@*", "y!*@*"):  # one place left
        assert await store.add_ban_mask("den", BanMask(mask, "alice", NOW), limit=LIMIT)
    other = make_store(store_url)
    await other.open()
    try:
        for round_ in range(10):
            masks = [f"a{round_}!*@*", f"b{round_}!*@*", f"c{round_}!*@*", f"d{round_}!*@*"]
            made = await asyncio.gather(
                *(
                    (store, other)[i % 2].add_ban_mask(
                        "den", BanMask(mask, "alice", NOW), limit=LIMIT
                    )
                    for i, mask in enumerate(masks)
                ),
                return_exceptions=True,
            )
            held = {m.mask for m in await store.list_ban_masks("den")}
            assert len(held) <= LIMIT, (made, held)
            for mask, outcome in zip(masks, made, strict=True):
                assert outcome is True or isinstance(outcome, ListFull), outcome
                assert (mask in held) == (outcome is True), (mask, made, held)
            for mask in held - {"x!*@*", "y!*@*"}:
                assert await store.remove_ban_mask("den", mask)
    finally:
        await other.close()
