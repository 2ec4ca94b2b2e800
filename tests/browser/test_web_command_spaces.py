"""The web page's composer and join box split a command at ASCII spaces only, as telnet and
IRC do. On main they split at JavaScript's `\\s` (any Unicode space), so `/join a\\u00a0b` put
the user in room `a` with key `b`, which is not what was typed."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory, TelnetFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_no_break_space_is_part_of_the_room_name(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    await telnet(server, "bob", "a")  # room a exists, with no key
    alice = await open_page(server)
    alice.provokes(422)  # the room name refused
    await alice.register("alice")
    await alice.join("garden")
    await alice.page.fill("#text", "/join a\u00a0b")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#composer-error")).to_be_visible()
    await expect(alice.page.locator("#text")).to_have_value("/join a\u00a0b")  # kept
    await expect(alice.page.locator("#conv-title")).to_have_text("#garden")
    await alice.show_rooms()
    await alice.page.fill("#join-room", "a\u00a0b")
    await alice.page.press("#join-room", "Enter")
    await expect(alice.page.locator("#join-error")).to_be_visible()  # refused, under the box
    await expect(alice.page.locator("#conv-title")).to_have_text("#garden")
    await expect(alice.conv_button("#a")).to_have_count(0)
    await alice.say("/join a")  # an ASCII space still splits
    await expect(alice.page.locator("#conv-title")).to_have_text("#a")


async def test_a_room_name_with_spaces_is_refused_not_cut_short(
    server: App, open_page: PageFactory
) -> None:
    """`/join Room With Spaces` in the composer (or the join box) made and entered #Room,
    taking `With` as a key the new room ignored and dropping `Spaces`: a room nobody meant.
    Telnet answers such a line with its usage; the page now says so and joins nothing."""
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    await alice.page.fill("#text", "/join Room With Spaces")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#composer-error")).to_contain_text("no spaces")
    await expect(alice.page.locator("#text")).to_have_value("/join Room With Spaces")  # kept
    await alice.show_rooms()
    await alice.page.fill("#join-room", "Room With Spaces")
    await alice.page.press("#join-room", "Enter")
    await expect(alice.page.locator("#join-error")).to_contain_text("no spaces")
    await expect(alice.page.locator("#conv-title")).to_have_text("#garden")
    await expect(alice.conv_button("#room")).to_have_count(0)
    assert server.core is not None
    assert await server.core.store.get_room("room") is None
