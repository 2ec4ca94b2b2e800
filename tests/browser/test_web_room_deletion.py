"""The web page's Delete room button: shown to the room's owner only, it asks first, and the
room leaves every page in it, each told who deleted it. On main the page had no such button."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, expect

from tests.browser.conftest import PageFactory
from tests.helpers.http import register
from tests.helpers.moderation import api, create_room
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_the_owner_deletes_the_room_from_the_page(
    server: App, open_page: PageFactory
) -> None:
    async with api(server, "alice") as alice:
        await register(alice, "alice", "bob")
        await create_room(alice, "den")
    bob = await open_page(server)
    await bob.login("bob")
    await bob.join("den")
    await expect(bob.page.locator("#delete-room")).to_be_hidden()  # not bob's room
    owner = await open_page(server)
    await owner.login("alice")
    await owner.join("den")
    button = owner.page.locator("#delete-room")
    await expect(button).to_be_visible()

    asked: list[str] = []

    async def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    owner.page.once("dialog", lambda d: answer(d, False))
    await button.click()
    await expect(owner.conv_button("#den")).to_be_visible()  # dismissed: nothing deleted
    assert await server.core.store.get_room("den") is not None  # type: ignore[union-attr]
    owner.page.once("dialog", lambda d: answer(d, True))
    await button.click()
    await expect(owner.conv_button("#den")).to_have_count(0)
    assert asked == ["Delete #den and all its messages, for everyone in it?"] * 2
    await expect(bob.conv_button("#den")).to_have_count(0)
    told = bob.page.locator("#scroller .notice").filter(has_text="#den was deleted by alice")
    await expect(told).to_be_visible()
    assert await server.core.store.get_room("den") is None  # type: ignore[union-attr]
