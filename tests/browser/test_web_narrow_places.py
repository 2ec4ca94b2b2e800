"""What a newcomer walking the page found hard to read (web55): a member's name beside its
Message and Ignore buttons was cut to a few letters ("newbie" read "new…"); on a phone a
message from a long name was left one letter a line; and on a phone a join refused was said
in the conversation, under the open room list, where nobody saw it."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, expect

from tests.browser.conftest import PHONE, PageFactory, TelnetFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONGEST = "Maximilian_Alexander-Longname-32"  # 32 characters, the most a name may have


async def whole(locator: Locator) -> bool:
    """Whether the element shows all of its text: nothing cut off (an ellipsis, a clip)."""
    return bool(await locator.evaluate("e => e.scrollWidth <= e.clientWidth"))


async def test_member_names_are_shown_whole_beside_their_buttons(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    for name in ("newbie", LONGEST):
        await telnet(server, name, "garden")
        who = alice.member(name).locator(".who")
        await expect(who).to_have_text(name)
        await expect(alice.member(name).get_by_role("button", name="Ignore")).to_be_visible()
        assert await whole(who), f"{name} is cut in the member list"


async def test_a_long_name_leaves_the_message_room_on_a_phone(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server, viewport=PHONE)
    await alice.register("alice")
    await alice.join("garden")
    long = await telnet(server, LONGEST, "garden")
    long.send("hello there, how is everyone today")
    item = await alice.expect_message(LONGEST, "hello there, how is everyone today")
    assert await whole(item.locator(".who")), "the sender's name is cut"
    row = await item.bounding_box()
    text = await item.locator(".text").bounding_box()
    assert row is not None and text is not None
    assert text["width"] >= row["width"] / 3, (text, row)  # was a letter wide


async def test_a_refused_join_is_said_where_the_phone_shows_it(
    server: App, open_page: PageFactory
) -> None:
    alice = await open_page(server, viewport=PHONE)
    await alice.register("alice")
    await alice.show_rooms()
    await alice.page.fill("#join-room", "my new room")
    await alice.page.press("#join-room", "Enter")
    error = alice.page.locator("#join-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("a room name has no spaces")
    await expect(alice.page.locator("#sidebar")).to_be_visible()  # still open, error beside it
    await alice.page.fill("#join-room", "my-new-room")  # typing again clears it
    await expect(error).to_be_hidden()
    await alice.page.press("#join-room", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#my-new-room")
