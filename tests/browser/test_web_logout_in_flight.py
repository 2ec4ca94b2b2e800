"""Logging out while the page's own reads were still on their way: the server revoked the
token first and answered them 401, two "Failed to load resource: ... 401" errors in the
console (ci172's flake of test_registering_asks_for_a_new_password_logging_in_for_the_current_one,
on a loaded machine), and a late one ran sessionEnded, which could end a session begun since.
The page now cancels what it has in flight before it asks for the revocation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from playwright.async_api import Error, Request, Route

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_logging_out_with_reads_in_flight_shows_no_error(
    server: App, open_page: PageFactory
) -> None:
    """The reads the page makes once online (private messages, the room list, the away
    state, the members and the room after the "you are in" notice) are held, as a loaded
    server holds them, until the logout's DELETE is answered: none may come back 401."""
    page: ChatPage = await open_page(server)
    revoked = asyncio.Event()
    live = asyncio.Event()
    held: list[str] = []
    statuses: list[tuple[int, str]] = []

    async def hold(route: Route, request: Request) -> None:
        if request.method == "GET" and live.is_set() and not revoked.is_set():
            held.append(request.url)
            await revoked.wait()
        with contextlib.suppress(Error):  # cancelled by the page meanwhile
            await route.continue_()

    page.page.on("websocket", lambda _: live.set())
    page.page.on("response", lambda r: statuses.append((r.status, r.url)))
    await page.page.route("**/api/v1/**", hold)
    await page.register("alice")
    async with page.page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        await page.page.click("#logout")
    assert (await deleted.value).status == 204
    assert held  # reads were in flight when the logout was asked
    revoked.set()
    await page.page.locator("#login").wait_for()
    await page.login("alice")  # in again: nothing late ends the new session
    await page.page.unroute("**/api/v1/**")
    assert [(s, u) for s, u in statuses if s == 401] == []
