"""`remove_masks_naming`: once an account is deleted, the exception masks naming exactly it
(`/invex alice` is `alice!*@*`) are lifted in every room (core/accounts.py), so that whoever
registers the name next does not come in by them (attack6). Wildcard masks, other names' and
ban masks stay."""

from __future__ import annotations

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.banmasks import EXCEPT, INVEX
from torbit.core.models import BanMask
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_the_exceptions_naming_an_account_are_lifted_in_every_room(store: Store) -> None:
    await users(store, "owner")
    for name in ("den", "hall", "yard"):
        await store.create_room(room(name, owner="owner"))
    entries = {
        "den": [("alice!*@*", INVEX), ("alice!*@*", EXCEPT), ("alicex!*@*", INVEX)],
        "hall": [("ali*!*@*", INVEX), ("alice!*@10.*", EXCEPT)],
        "yard": [("alice!*@*", EXCEPT), ("bob!*@*", EXCEPT)],
    }
    for key, masks in entries.items():
        for mask, kind in masks:
            assert await store.add_exception_mask(key, BanMask(mask, "owner", NOW, kind), 100)
    await store.add_ban_mask("den", BanMask("alice!*@*", "owner", NOW), 100)
    assert await store.remove_masks_naming("alice") == ["den", "yard"]
    left = {
        key: [(m.mask, m.kind) for m in await store.list_exception_masks(key)] for key in entries
    }
    assert left == {
        "den": [("alicex!*@*", INVEX)],
        "hall": [("ali*!*@*", INVEX), ("alice!*@10.*", EXCEPT)],
        "yard": [("bob!*@*", EXCEPT)],
    }
    assert [m.mask for m in await store.list_ban_masks("den")] == ["alice!*@*"]
    assert await store.remove_masks_naming("alice") == []
