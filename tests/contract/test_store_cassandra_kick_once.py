"""Kicks and bans of one member racing on two nodes sharing Cassandra: each read the member
before the other wrote, and both said they ended the membership (stop 49: both 204, two
audit entries and two notices in 2 of 5 rounds). Node B's is held at its first write while
node A's runs whole; only A's may say it ended the membership, as on SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.contract.test_store import room, user
from tests.helpers.cassandra_nodes import slow_first_write
from torbit.backends.store.cassandra import CassandraStore

pytestmark = pytest.mark.cassandra


@pytest.mark.parametrize(("first", "second"), [("kick", "kick"), ("ban", "kick"), ("kick", "ban")])
async def test_of_two_racing_expels_one_ended_the_membership(
    cstore: CassandraStore, node_b: CassandraStore, first: str, second: str
) -> None:
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_room(room("den", owner="olga"))
    await cstore.add_member("den", "bob")
    at = {"kick": None, "ban": datetime.now(UTC)}
    done: list[bool] = []

    async def on_a() -> None:
        done.append(await cstore.expel("den", "bob", banned_at=at[first]))

    slow_first_write(node_b, on_a)
    assert await node_b.expel("den", "bob", banned_at=at[second]) is False
    assert done == [True]
    assert await cstore.list_members("den") == []
    assert (await cstore.standing("den", "bob")).banned == ("ban" in (first, second))
