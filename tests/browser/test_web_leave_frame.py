"""The page leaves a room on its own WebSocket (a `leave` frame), not by REST: the server then
knows which connection asked. By REST it told the page's own socket "you left #garden (on
another connection)", which the page had to hide and say again in its own words; a second
page of the same user is told the leave was elsewhere, and drops the room too."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import WebSocket, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory
from torbit.app import App
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def frames_of(chat: ChatPage) -> tuple[list[str], list[str]]:
    """What the page's WebSockets receive and send from now on, as text."""
    received: list[str] = []
    sent: list[str] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: received.append(str(payload)))
        ws.on("framesent", lambda payload: sent.append(str(payload)))

    chat.page.on("websocket", on_socket)
    return received, sent


async def test_a_leave_from_the_page_is_its_own_not_another_connections(
    server: App, open_page: PageFactory
) -> None:
    here = await open_page(server)
    received, sent = frames_of(here)
    await here.register("alice")
    await here.join("garden")
    there = await open_page(server)
    await there.login("alice")
    await there.open("#garden")

    await here.conv_button("#garden").hover()  # its leave button shows on hover
    await here.page.click('#sidebar button[aria-label="Leave #garden"]')
    await expect(here.conv_button("#garden")).to_have_count(0)
    await expect(here.page.locator("#conv-title")).to_have_text("#lobby")
    left = here.page.locator("#scroller .notice", has_text="you left #garden")
    await expect(left).to_have_text(["you left #garden"])  # once, in the page's own words

    await expect(there.conv_button("#garden")).to_have_count(0)  # told, and followed
    told = there.page.locator("#scroller .notice", has_text="you left #garden")
    await expect(told).to_have_text(["you left #garden (on another connection)"])

    asked = [json.loads(f) for f in sent if '"leave"' in f]
    assert [(f["type"], f["room"]) for f in asked] == [("leave", "garden")]
    parts = [json.loads(f) for f in received if '"part"' in f]
    assert [p["text"] for p in parts if p["user"] == "alice"] == ["you left #garden"]
    assert not [f for f in received if "another connection" in f]


async def test_a_leave_offline_is_refused_in_words(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    """With the WebSocket down, the × says so instead of leaving by REST behind the back of
    the reconnection (whose subscribe would join the room again)."""
    port = free_port()
    app = await make_server(http={"port": port}, node={"drain_delay_seconds": 0})
    alice = await open_page(app)
    await alice.register("alice")
    await alice.join("garden")
    alice.provokes("ERR_CONNECTION_REFUSED")  # its reconnections while the server is down
    await app.stop()
    await expect(alice.page.locator("#status")).not_to_have_text("online")
    await alice.conv_button("#garden").hover()
    await alice.page.click('#sidebar button[aria-label="Leave #garden"]')
    error = alice.page.locator("#scroller .error", has_text="not connected")
    await expect(error).to_have_text(["not connected: try again in a moment"])
    await expect(alice.conv_button("#garden")).to_have_count(1)
    await make_server(http={"port": port}, node={"drain_delay_seconds": 0})
    await alice.expect_online(timeout=30_000)
    await alice.conv_button("#garden").hover()
    await alice.page.click('#sidebar button[aria-label="Leave #garden"]')
    await expect(alice.conv_button("#garden")).to_have_count(0)
