"""`update_room(settings_fields=...)` writes only those settings: another admin's change of
another setting, written since the caller read the room, stays (core: Moderation.configure;
tests/core/test_settings_race.py)."""

from __future__ import annotations

from dataclasses import replace

from tests.contract.conftest import STORE_BACKENDS
from tests.contract.test_store import room
from torbit.core.models import RoomSettings
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_only_the_named_settings_are_written(store: Store) -> None:
    await store.create_room(room("hall"))
    read = RoomSettings()
    await store.update_room("hall", settings=replace(read, moderated=True))  # another admin
    mine = replace(read, join_key="sesame", member_limit=5)

    updated = await store.update_room(
        "hall", settings=mine, settings_fields=["join_key", "member_limit"]
    )

    assert updated is not None
    assert updated.settings == RoomSettings(join_key="sesame", member_limit=5, moderated=True)
    assert await store.get_room("hall") == updated


async def test_without_fields_the_settings_are_replaced_whole(store: Store) -> None:
    await store.create_room(room("hall"))
    await store.update_room("hall", settings=RoomSettings(moderated=True))
    updated = await store.update_room("hall", settings=RoomSettings(join_key="k"))
    assert updated is not None and updated.settings == RoomSettings(join_key="k")
