"""The Cassandra store's skeleton claims (cassandra_claims.py) and skeleton rows, seen in the
tables: every deletion of a room takes its rooms_by_skeleton row and frees its claim, or hands
it to a look-alike still there; a claim whose room or user is gone is taken over; another
creator's pending claim refuses look-alikes; a creation that lost its claim while it waited
takes its room back. Races across nodes: test_store_room_lookalikes.py, test_store_lookalikes.py."""

from __future__ import annotations

import pytest

from tests.contract.test_store import room, user
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_claims import CLAIM_TTL_S, Exists
from torbit.backends.store.cassandra_cql import Row
from torbit.core.models import Room
from torbit.errors import Conflict, LooksAlike

pytestmark = pytest.mark.cassandra

LOBBY = room("lobby").skeleton


async def skeleton_rows(store: CassandraStore, skel: str) -> list[str]:
    rows = await store.query(
        f"SELECT key FROM {store.ks}.rooms_by_skeleton WHERE skeleton = ?", skel
    )
    return [str(r["key"]) for r in rows]


async def claim(store: CassandraStore, kind: str, skel: str) -> Row | None:
    rows = await store.query(
        f"SELECT key, pending, TTL(key) AS ttl FROM {store.ks}.skeleton_claims "
        f"WHERE kind = ? AND skeleton = ?",
        kind,
        skel,
    )
    return rows[0] if rows else None


async def put_claim(store: CassandraStore, kind: str, skel: str, key: str, pending: bool) -> None:
    """A claim as another node left it: pending (a creator at work, or one that died), or
    confirmed (its room's deleter died before releasing it)."""
    ttl = f" USING TTL {CLAIM_TTL_S}" if pending else ""
    await store.cql.lwt(
        f"INSERT INTO {store.ks}.skeleton_claims (kind, skeleton, key, pending) "
        f"VALUES (?, ?, ?, ?) IF NOT EXISTS{ttl}",
        kind,
        skel,
        key,
        True if pending else None,
    )


async def test_every_deletion_of_a_room_takes_its_skeleton_row_and_claim(
    cstore: CassandraStore,
) -> None:
    """By name (CLI, owner), as empty (housekeeping), with its owner's account."""
    await cstore.create_user(user("olga"))
    made = [room("lobby"), room("den"), room("moon", owner="olga")]
    for r in made:
        await cstore.ensure_room(r)
        assert await skeleton_rows(cstore, r.skeleton) == [r.key]
        assert (await claim(cstore, "room", r.skeleton) or {}).get("key") == r.key
    assert await cstore.delete_room("lobby")
    assert await cstore.delete_room_if_empty("den")
    assert await cstore.delete_user("olga") is not None
    for r in made:
        assert await skeleton_rows(cstore, r.skeleton) == [], r.name
        assert await claim(cstore, "room", r.skeleton) is None, r.name


async def test_a_claim_goes_to_a_look_alike_still_there(cstore: CassandraStore) -> None:
    """`unlike=False` (the default room beside an older look-alike) claims nothing; when the
    holder goes, the claim passes to it, and look-alikes stay refused."""
    await cstore.create_room(room("Iobby"))
    assert (await cstore.ensure_room(room("lobby"), unlike=False)).name == "lobby"
    assert (await claim(cstore, "room", LOBBY) or {}).get("key") == "iobby"
    assert await cstore.delete_room("iobby")
    held = await claim(cstore, "room", LOBBY)
    assert held is not None and (held["key"], held["pending"], held["ttl"]) == ("lobby", None, None)
    with pytest.raises(LooksAlike):
        await cstore.create_room(room("l0bby"))


async def test_a_claim_whose_room_is_gone_is_taken_over(cstore: CassandraStore) -> None:
    await put_claim(cstore, "room", LOBBY, "l0bby", pending=False)
    assert (await cstore.create_room(room("Iobby"))).name == "Iobby"
    held = await claim(cstore, "room", LOBBY)
    assert held is not None and (held["key"], held["pending"], held["ttl"]) == ("iobby", None, None)


async def test_another_creators_pending_claim_refuses_look_alikes_not_the_room(
    cstore: CassandraStore,
) -> None:
    await put_claim(cstore, "room", LOBBY, "lobby", pending=True)
    for name in ("Iobby", "1obby"):
        with pytest.raises(LooksAlike):
            await cstore.create_room(room(name))
        with pytest.raises(LooksAlike):
            await cstore.ensure_room(room(name))
    assert (await cstore.ensure_room(room("lobby"))).name == "lobby"  # its own: confirmed
    held = await claim(cstore, "room", LOBBY)
    assert held is not None and (held["key"], held["pending"], held["ttl"]) == ("lobby", None, None)


async def test_users_claims_are_taken_over_refuse_and_are_released(
    cstore: CassandraStore,
) -> None:
    alice, twin = user("alice"), user("aIice")
    await put_claim(cstore, "user", alice.skeleton, "a1ice", pending=False)  # a1ice is gone
    await cstore.create_user(alice, unlike=True)
    assert (await claim(cstore, "user", alice.skeleton) or {}).get("key") == "alice"
    assert await cstore.delete_user("alice") is not None
    assert await claim(cstore, "user", alice.skeleton) is None
    await put_claim(cstore, "user", alice.skeleton, "a1ice", pending=True)  # at work elsewhere
    with pytest.raises(Conflict):
        await cstore.create_user(twin, unlike=True)
    assert await cstore.get_user(twin.key) is None


async def test_a_creation_that_lost_its_claim_while_it_waited_takes_its_room_back(
    cstore: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the claim's TTL, another node took the skeleton (here: its write, made between
    this node's claim and its insert); the room this node then inserted goes again."""
    insert = cstore._insert_room

    async def late(new: Room) -> tuple[bool, Row]:
        taken, _ = await cstore.cql.lwt(
            f"UPDATE {cstore.ks}.skeleton_claims SET key = 'l0bby', pending = null "
            f"WHERE kind = 'room' AND skeleton = ? IF key = 'lobby'",
            new.skeleton,
        )
        assert taken
        await cstore.cql.lwt(
            f"INSERT INTO {cstore.ks}.rooms (key, name, created_at) VALUES ('l0bby', 'l0bby', 0) "
            f"IF NOT EXISTS"
        )
        return await insert(new)

    monkeypatch.setattr(cstore, "_insert_room", late)
    with pytest.raises(LooksAlike):
        await cstore.create_room(room("lobby"))
    assert await cstore.get_room("lobby") is None
    assert await skeleton_rows(cstore, LOBBY) == []
    assert (await claim(cstore, "room", LOBBY) or {}).get("key") == "l0bby"


async def test_a_claim_released_while_its_room_is_made_again_is_taken_again(
    cstore: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The room's deleter released the claim after this node found it its own: the room made
    again keeps its name, and the claim."""
    await cstore.create_room(room("lobby"))
    # the deleter, half-way: the room is gone, its claim not yet
    await cstore.cql.lwt(f"DELETE FROM {cstore.ks}.rooms WHERE key = 'lobby' IF EXISTS")
    insert = cstore._insert_room

    async def released(new: Room) -> tuple[bool, Row]:
        await cstore.claims.release("room", new.skeleton, new.key, None)
        return await insert(new)

    monkeypatch.setattr(cstore, "_insert_room", released)
    assert (await cstore.ensure_room(room("lobby"))).name == "lobby"
    held = await claim(cstore, "room", LOBBY)
    assert held is not None and (held["key"], held["pending"], held["ttl"]) == ("lobby", None, None)


async def test_a_registration_that_lost_its_claim_while_it_waited_is_taken_back(
    cstore: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for rooms: past the TTL another node's look-alike took the claim and registered."""
    take, rounds = cstore.claims.take, []

    async def late(kind: str, skel: str, key: str, exists: Exists) -> bool:
        mine = await take(kind, skel, key, exists)
        rounds.append(mine)
        if len(rounds) > 1:  # keep() trying again: a1ice holds it now
            return mine
        taken, _ = await cstore.cql.lwt(
            f"UPDATE {cstore.ks}.skeleton_claims SET key = 'a1ice', pending = null "
            f"WHERE kind = 'user' AND skeleton = ? IF key = ?",
            skel,
            key,
        )
        assert mine and taken
        await cstore.create_user(user("a1ice"))
        return mine

    monkeypatch.setattr(cstore.claims, "take", late)
    with pytest.raises(Conflict):
        await cstore.create_user(user("alice"), unlike=True)
    assert await cstore.get_user("alice") is None
    assert [u.name for u in await cstore.list_users()] == ["a1ice"]
    assert rounds == [True, False]
    assert (await claim(cstore, "user", user("alice").skeleton) or {}).get("key") == "a1ice"


async def test_a_name_refused_for_its_key_holds_no_claim_on_its_skeleton(
    cstore: CassandraStore,
) -> None:
    """`Iisa` has the key of a guest or account `iisa` but the skeleton of `lisa`: its
    registration (an IRC guest's `NICK Iisa`, free to send again and again) is refused as
    taken, and must not leave its pending claim on `lisa` behind. Left there for the claim's
    TTL, one such NICK a minute denied `lisa` to everyone for good."""
    await cstore.create_user(user("iisa"), unlike=True)
    lisa = user("lisa").skeleton
    assert user("Iisa").skeleton == lisa != user("iisa").skeleton
    for _ in range(2):
        with pytest.raises(Conflict, match="is taken"):
            await cstore.create_user(user("Iisa"), unlike=True)
        assert await claim(cstore, "user", lisa) is None
    assert (await cstore.create_user(user("lisa"), unlike=True)).name == "lisa"
    assert (await claim(cstore, "user", lisa) or {}).get("key") == "lisa"


async def test_a_room_refused_for_its_key_holds_no_claim_on_its_skeleton(
    cstore: CassandraStore,
) -> None:
    """The same with rooms: `/create Iack` beside a room `iack` is refused as taken (a
    create a minute, well within `limits.create_rate`) and leaves `#lack` free to make."""
    await cstore.create_room(room("iack"))
    lack = room("lack").skeleton
    assert room("Iack").skeleton == lack != room("iack").skeleton
    with pytest.raises(Conflict):
        await cstore.create_room(room("Iack"))
    assert await claim(cstore, "room", lack) is None
    assert (await cstore.create_room(room("lack"))).name == "lack"
    assert (await claim(cstore, "room", lack) or {}).get("key") == "lack"


async def test_a_key_taken_after_the_claim_drops_it(
    cstore: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key read free, then taken (another node registered `iisa`) between the claim and
    the insert: the refused registration drops its pending claim all the same."""
    take = cstore.claims.take

    async def raced(kind: str, skel: str, key: str, exists: Exists) -> bool:
        mine = await take(kind, skel, key, exists)
        if key == "iisa" and skel != user("iisa").skeleton:
            await cstore.create_user(user("iisa"), unlike=True)
        return mine

    monkeypatch.setattr(cstore.claims, "take", raced)
    with pytest.raises(Conflict, match="is taken"):
        await cstore.create_user(user("Iisa"), unlike=True)
    assert (await cstore.get_user("iisa") or user("?")).name == "iisa"
    assert await claim(cstore, "user", user("lisa").skeleton) is None
    assert (await cstore.create_user(user("lisa"), unlike=True)).name == "lisa"
