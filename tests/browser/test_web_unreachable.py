"""Found walking the page as a newcomer: with the server away (restarting), logging in or
joining a room said only the browser's "Failed to fetch". The page now says the server
cannot be reached, and to try again."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.chat_page import PASSWORD
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AWAY = "cannot reach the server: try again in a moment"


async def test_the_server_away_is_said_in_words(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    port = free_port()
    app = await make_server(http={"port": port})
    alice = await open_page(app)
    await alice.register("alice")
    bob = await open_page(app)  # on the login form
    for page in (alice, bob):
        page.provokes("ERR_CONNECTION_REFUSED")  # the server stopped
    await app.stop()
    await expect(alice.page.locator("#status")).not_to_have_text("online")

    await bob.page.fill("#login-name", "bob")
    await bob.page.fill("#login-password", PASSWORD)
    await bob.page.click("#register-button")
    await expect(bob.page.locator("#login-error")).to_have_text(AWAY)

    await alice.show_rooms()
    await alice.page.fill("#join-room", "garden")
    await alice.page.press("#join-room", "Enter")
    await expect(alice.page.locator("#join-error")).to_have_text(AWAY)

    await make_server(http={"port": port})  # back: the same form works
    await bob.page.click("#register-button")
    await bob.expect_online(timeout=20_000)
