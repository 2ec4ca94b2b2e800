"""Browser tests: Playwright drives Debian's Chromium against a real server on this loop.

Chromium must be at /usr/bin/chromium (`apt-get install -y chromium`; ./run-tests installs it).
Without it these tests fail rather than skip: CI must run them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ViewportSize, async_playwright, expect

from tests.browser.chat_page import ChatPage
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

# Playwright's expect() waits 5 s by default: Chromium, the server and the test share two
# loaded cores in CI, where a page's answer can take longer. A condition that holds at once
# costs nothing more; one that never holds fails all the same.
expect.set_options(timeout=15_000)

PageFactory = Callable[..., Awaitable[ChatPage]]
TelnetFactory = Callable[..., Awaitable[TelnetClient]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y "
            "chromium` (./run-tests does it); the browser tests must run, not skip"
        )
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[PageFactory]:
    """`await open_page(app)`: the web page of `app` in a fresh browser context (its own
    localStorage, so its own user). At the end: no script errors happened, the browser's
    console showed no error but those the test provoked (`ChatPage.provokes`), and the page
    never asked anything of a host other than the server (no CDN)."""
    opened: list[ChatPage] = []

    async def factory(app: App, viewport: ViewportSize | None = None, **options: Any) -> ChatPage:
        context = await browser.new_context(viewport=viewport or DESKTOP, **options)
        page = await context.new_page()
        chat = ChatPage(page, app)
        page.on("pageerror", lambda e: chat.errors.append(str(e)))
        page.on("console", lambda m: chat.console.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: chat.requests.append(r.url))
        page.on("websocket", lambda ws: chat.requests.append(ws.url))
        opened.append(chat)
        await chat.goto()
        return chat

    yield factory
    for chat in opened:
        await chat.page.context.close()
    for chat in opened:
        assert chat.errors == [], f"script errors in the page: {chat.errors}"
        unexpected = chat.unexpected_console()
        assert unexpected == [], f"errors in the browser's console: {unexpected}"
        foreign = [u for u in chat.requests if not u.split("://", 1)[1].startswith(chat.host)]
        assert foreign == [], f"the page loaded things from elsewhere: {foreign}"


@pytest.fixture
async def telnet() -> AsyncIterator[TelnetFactory]:
    """`await telnet(app, "carol", "room")`: a logged-in telnet user, in `room` if given."""
    clients: list[TelnetClient] = []

    async def factory(app: App, name: str, room: str | None = None) -> TelnetClient:
        assert app.telnet_port is not None
        c = await TelnetClient.connect(app.telnet_port)
        clients.append(c)
        await c.login(name)
        if room is not None:
            c.send(f"/join {room}")
            await c.expect(rf"^\* you are (already )?in #{room}")
        return c

    yield factory
    for c in clients:
        await c.close()
