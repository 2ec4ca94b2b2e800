"""Found walking the page with two users, one on a phone (web57): the tab's title said
"torbit" whatever came, so a person in another tab never saw that bob wrote; and a message
in the room shown while the page was out of sight counted nowhere. The title now carries
the unread count, as the rooms button does, and what comes in the shown conversation while
the page is hidden is unread until it is looked at again. On a phone (or a narrow window)
Escape did not close the room or member drawer; it does now."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PHONE, PageFactory, TelnetFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def look_away(chat: ChatPage, hidden: bool) -> None:
    """The page goes out of sight (another tab) or comes back, as the browser tells it."""
    await chat.page.evaluate(
        """(hidden) => {
          Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
          Object.defineProperty(document, "visibilityState",
            { value: hidden ? "hidden" : "visible", configurable: true });
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


async def test_the_title_counts_what_is_unread(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await expect(alice.page.locator("#conv-title")).to_have_text("#lobby")
    await expect(alice.page).to_have_title("torbit")
    # a room's messages in its first moments after subscribing are history, not unread
    # (the page's QUIET): waited for here, as the page's own clock has it
    quiet_from = await alice.page.evaluate("performance.now()")
    bob = await telnet(server, "bob", "lobby")
    bob.send("/msg alice lunch?")
    await expect(alice.conv_button("bob").locator(".badge")).to_have_text("1")
    await expect(alice.page).to_have_title("(1) torbit")
    await alice.open("bob")
    await alice.expect_message("bob", "lunch?")
    await expect(alice.page).to_have_title("torbit")

    await alice.open("#lobby")
    await alice.page.wait_for_function("(t) => performance.now() > t + 1500", arg=quiet_from)
    await look_away(alice, True)
    bob.send("anyone?")
    bob.send("hello?")
    await alice.expect_message("bob", "hello?")  # drawn all the same
    await expect(alice.page).to_have_title("(2) torbit")
    await look_away(alice, False)
    await expect(alice.page).to_have_title("torbit")
    await expect(alice.conv_button("#lobby").locator(".badge")).to_have_count(0)
    bob.send("seen")
    await alice.expect_message("bob", "seen")
    await expect(alice.page).to_have_title("torbit")  # looked at: not unread

    await look_away(alice, True)
    bob.send("/msg alice still there?")
    await expect(alice.page).to_have_title("(1) torbit")
    await alice.page.click("#logout")
    await expect(alice.page.locator("#login")).to_be_visible()
    await expect(alice.page).to_have_title("torbit")  # nothing left of the account's


async def test_escape_closes_a_drawer_on_a_phone(server: App, open_page: PageFactory) -> None:
    alice = await open_page(server, viewport=PHONE)
    await alice.register("alice")
    sidebar, members, scrim = (alice.page.locator(s) for s in ("#sidebar", "#members", "#scrim"))
    await alice.show_rooms()
    await alice.page.keyboard.press("Escape")
    await expect(sidebar).to_be_hidden()
    await expect(scrim).to_be_hidden()
    await alice.show_members()
    await alice.page.keyboard.press("Escape")
    await expect(members).to_be_hidden()
    await expect(scrim).to_be_hidden()
    await alice.page.keyboard.press("Escape")  # none open: nothing opens
    await expect(sidebar).to_be_hidden()
    await expect(members).to_be_hidden()
