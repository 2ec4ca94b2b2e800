"""The web page as a test drives it: log in, join, say, read messages and members."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from torbit.app import App

PASSWORD = "secret-pw"
CLOCK = re.compile(r"^\d\d:\d\d:\d\d$")


class ChatPage:
    def __init__(self, page: Page, app: App) -> None:
        assert app.http_port is not None
        self.page = page
        self.host = f"127.0.0.1:{app.http_port}"
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.console: list[str] = []  # the errors the browser's console showed
        self.provoked: set[str] = set()  # the console errors the test provokes (`provokes`)

    def provokes(self, *errors: int | str) -> None:
        """The test provokes these errors on purpose, each an HTTP status (a wrong password's
        401) or the words of a console error ("ERR_CONNECTION_REFUSED"): the console may
        show them; any other error in it fails the test."""
        self.provoked.update(f"status of {e} (" if isinstance(e, int) else e for e in errors)

    def unexpected_console(self) -> list[str]:
        return [m for m in self.console if not any(p in m for p in self.provoked)]

    async def goto(self) -> None:
        await self.page.goto(f"http://{self.host}/")

    # logging in

    async def _credentials(self, name: str, password: str) -> None:
        await self.page.fill("#login-name", name)
        await self.page.fill("#login-password", password)

    async def register(self, name: str, password: str = PASSWORD) -> None:
        await self._credentials(name, password)
        await self.page.click("#register-button")
        await self.expect_online()

    async def login(self, name: str, password: str = PASSWORD) -> None:
        await self._credentials(name, password)
        await self.page.press("#login-password", "Enter")
        await self.expect_online()

    async def expect_online(self, timeout: float = 10_000) -> None:
        await expect(self.page.locator("#chat")).to_be_visible(timeout=timeout)
        await expect(self.page.locator("#status")).to_have_text("online", timeout=timeout)

    # rooms and drawers (on a phone the room and member lists slide in)

    async def _narrow(self) -> bool:
        return await self.page.locator("#toggle-rooms").is_visible()

    async def show_rooms(self) -> None:
        if await self._narrow() and not await self.page.locator("#sidebar").is_visible():
            await self.page.click("#toggle-rooms")
            await expect(self.page.locator("#sidebar")).to_be_visible()

    async def show_members(self) -> None:
        if await self._narrow() and not await self.page.locator("#members").is_visible():
            await self.page.click("#toggle-members")
            await expect(self.page.locator("#members")).to_be_visible()

    async def join(self, room: str) -> None:
        await self.show_rooms()
        await self.page.fill("#join-room", room)
        await self.page.press("#join-room", "Enter")
        await expect(self.page.locator("#conv-title")).to_have_text("#" + room)
        await expect(self.page.locator("#sidebar")).to_be_visible(visible=not await self._narrow())
        await expect(
            self.page.locator("#scroller .notice").filter(has_text=f"you are in #{room}")
        ).to_be_visible()

    async def open(self, conv: str) -> None:
        """Show a conversation from the sidebar: "#room" or a user's name."""
        await self.show_rooms()
        key = conv if conv.startswith("#") else "@" + conv.lower()
        await self.page.click(f'#sidebar [data-conv="{key.lower()}"]')
        await expect(self.page.locator("#conv-title")).to_have_text(conv)
        await expect(self.page.locator("#sidebar")).to_be_visible(visible=not await self._narrow())

    def conv_button(self, conv: str) -> Locator:
        key = conv if conv.startswith("#") else "@" + conv.lower()
        return self.page.locator(f'#sidebar [data-conv="{key.lower()}"]')

    # messages

    async def say(self, text: str) -> None:
        await self.page.fill("#text", text)
        await self.page.press("#text", "Enter")
        await expect(self.page.locator("#text")).to_have_value("")

    def messages(self, sender: str | None = None, text: str | None = None) -> Locator:
        """Messages shown in the open conversation (hidden ones included)."""
        items = self.page.locator("#scroller .msg")
        if sender is not None:
            items = self.page.locator(f'#scroller .msg[data-sender="{sender.lower()}"]')
        if text is not None:
            items = items.filter(
                has=self.page.locator(".text", has_text=re.compile("^" + re.escape(text) + "$"))
            )
        return items

    async def expect_message(self, sender: str, text: str) -> Locator:
        """The one message from `sender` with exactly `text`, shown with a HH:MM:SS time."""
        item = self.messages(sender, text)
        await expect(item).to_have_count(1)
        await expect(item).to_be_visible()
        await expect(item.locator(".who")).to_have_text(sender)
        await expect(item.locator(".ts")).to_have_text(CLOCK)
        return item

    # members

    def member(self, name: str) -> Locator:
        return self.page.locator(f'#member-list [data-user="{name.lower()}"]')

    async def member_action(self, name: str, action: str) -> None:
        """Click "Message", "Ignore" or "Unignore" next to a member."""
        await self.show_members()
        label = f"Private message to {name}" if action == "Message" else action
        await self.member(name).get_by_role("button", name=label, exact=True).click()
