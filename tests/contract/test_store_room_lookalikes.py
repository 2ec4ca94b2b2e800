"""Room names that read alike (`lobby`, `Iobby`, `l0bby`, `1obby`: one skeleton, core/identity.py)
on every store: a new room whose name reads like an existing room's is refused (LooksAlike),
by `create_room` and by `ensure_room` (a join's creation), and of look-alikes created at the
same instant exactly one is, on one store and on two stores sharing one PostgreSQL database
(two nodes), where two read-committed transactions each seeing none both inserted theirs, or
one Cassandra keyspace, where two reads of rooms_by_skeleton each seeing none both did.
A room deleted any way (by name, as empty, with its owner) frees its look-alikes.
Look-alikes stored before the rule keep working: tests/contract/test_migrations.py and
test_store_cassandra_rooms.py."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import STORE_BACKENDS, the_one_made
from tests.contract.test_store import room, user
from torbit.core.models import Room
from torbit.core.ports import Store
from torbit.errors import Conflict, LooksAlike

BACKENDS_UNDER_TEST = STORE_BACKENDS

LOOK_ALIKES = ("lobby", "Iobby", "l0bby", "1obby")  # four keys, one skeleton


def test_the_look_alikes_share_one_skeleton_and_no_key() -> None:
    assert len({room(n).skeleton for n in LOOK_ALIKES}) == 1
    assert len({room(n).key for n in LOOK_ALIKES}) == len(LOOK_ALIKES)
    assert room("lobby").skeleton != room("lobbies").skeleton


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
async def test_a_look_alike_of_an_existing_room_is_refused(store: Store, private: bool) -> None:
    await store.create_room(room("lobby", private=private))
    for name in LOOK_ALIKES[1:]:
        with pytest.raises(LooksAlike):
            await store.create_room(room(name))
        with pytest.raises(LooksAlike):
            await store.ensure_room(room(name))
        assert await store.get_room(room(name).key) is None
    # the room itself: taken (create), the stored one (ensure), in any case
    with pytest.raises(Conflict) as taken:
        await store.create_room(room("LOBBY"))
    assert not isinstance(taken.value, LooksAlike)
    got = await store.ensure_room(room("LOBBY", owner="someone"))
    assert (got.name, got.owner, got.private) == ("lobby", None, private)
    # another name is free
    await store.create_room(room("lobbies"))
    assert (await store.ensure_room(room("lounge"))).name == "lounge"


async def test_a_deleted_room_frees_its_look_alikes(store: Store) -> None:
    await store.create_room(room("lobby"))
    assert await store.delete_room("lobby")
    assert (await store.create_room(room("Iobby"))).name == "Iobby"
    with pytest.raises(LooksAlike):
        await store.ensure_room(room("lobby"))


async def test_an_empty_room_swept_or_its_owner_deleted_frees_its_look_alikes(
    store: Store,
) -> None:
    """Housekeeping's `delete_room_if_empty` and an owner's deletion, again and again: each
    time the look-alike made next is let in, and the one after it refused."""
    await store.create_user(user("olga"))
    for round_ in range(3):
        await store.ensure_room(room(f"lobby{round_}", owner="olga"))
        assert await store.delete_room_if_empty(f"lobby{round_}")
        assert (await store.ensure_room(room(f"Iobby{round_}"))).name == f"Iobby{round_}"
        with pytest.raises(LooksAlike):
            await store.create_room(room(f"l0bby{round_}"))
        assert await store.delete_room(f"iobby{round_}")
    assert room("moon").skeleton == room("rnoon").skeleton
    await store.create_room(room("moon", owner="olga"))
    assert await store.delete_user("olga") is not None
    assert await store.get_room("moon") is None
    assert (await store.create_room(room("rnoon"))).name == "rnoon"
    with pytest.raises(LooksAlike):
        await store.ensure_room(room("moon"))


async def _race(stores: list[Store], round_: int) -> list[Room | BaseException]:
    """Each look-alike of the round created at once, alternately by create_room and by
    ensure_room, on the stores in turn."""
    calls = []
    for i, name in enumerate(LOOK_ALIKES):
        s = stores[i % len(stores)]
        new = room(f"{name}{round_}")
        calls.append(s.create_room(new) if i % 2 else s.ensure_room(new))
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_look_alikes_created_at_once_leave_one(store: Store) -> None:
    for round_ in range(10):
        created = the_one_made(await _race([store], round_), Room, LooksAlike)
        rooms = [r for r, _ in await store.list_rooms() if r.name.endswith(str(round_))]
        assert [r.name for r in rooms] == [created.name]


async def test_look_alikes_created_at_once_on_two_nodes_leave_one(
    store: Store, second_node: Store
) -> None:
    for round_ in range(10):
        the_one_made(await _race([store, second_node], round_), Room, LooksAlike)


async def test_the_default_room_is_made_beside_a_look_alike_made_first(store: Store) -> None:
    """`unlike=False`: the server's default room, which a look-alike made before it (on a new
    server, over HTTP) must not keep out."""
    await store.create_room(room("Iobby"))
    assert (await store.ensure_room(room("lobby"), unlike=False)).name == "lobby"
    assert (await store.ensure_room(room("lobby"))).name == "lobby"  # there now
    assert (await store.ensure_room(room("Iobby"))).name == "Iobby"
