"""Found walking the page on a phone: the unread counts are in the room list, and on a phone
that list is a drawer, closed while one reads a room; a private message arrived unseen. The
button that opens the list now carries the count of what is unread elsewhere."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE, PageFactory, TelnetFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_the_rooms_button_shows_what_is_unread_elsewhere(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    await alice.register("alice")
    await alice.join("garden")
    carol = await telnet(server, "carol")
    dave = await telnet(server, "dave")
    await expect(alice.page.locator("#sidebar")).to_be_hidden()
    rooms = alice.page.locator("#toggle-rooms")
    await expect(rooms.locator(".badge")).to_have_count(0)

    carol.send("/msg alice psst")
    dave.send("/msg alice hello")
    badge = rooms.locator(".badge")
    await expect(badge).to_be_visible()
    await expect(badge).to_have_text("2")
    await expect(rooms).to_have_attribute("aria-label", "Rooms (2 unread)")

    await alice.open("carol")  # read: one less
    await alice.expect_message("carol", "psst")
    await expect(badge).to_have_text("1")
    await alice.open("dave")
    await expect(badge).to_have_count(0)
    await expect(rooms).to_have_attribute("aria-label", "Rooms")
