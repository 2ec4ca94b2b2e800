"""`/help` in the page's composer is a question, answered as a notice in the conversation.
On main it fell through to the unknown-command branch: the list of commands came back in the
composer's red error line, as if /help were a mistake (stop 32's newcomer)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_help_is_shown_as_a_notice_and_unknown_commands_as_errors(
    server: App, open_page: PageFactory
) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    await alice.page.fill("#text", "/help")
    await alice.page.press("#text", "Enter")
    notice = alice.page.locator("#scroller li.notice", has_text="/join ROOM [KEY]")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("/help")
    await expect(alice.page.locator("#composer-error")).to_be_hidden()
    await expect(alice.page.locator("#scroller li.error")).to_have_count(0)
    await expect(alice.page.locator("#text")).to_have_value("")  # done with, as a message sent
    await alice.page.fill("#text", "/frobnicate")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#composer-error")).to_contain_text(
        "/frobnicate is not a command here; the composer knows /me"
    )
    await expect(alice.page.locator("#text")).to_have_value("/frobnicate")  # kept to mend


async def test_a_known_command_without_its_words_is_told_its_usage(
    server: App, open_page: PageFactory
) -> None:
    """`/join` alone and telnet's `/msg bob hi` both came back as "/join: here /me ACTION
    (in a room), ...": /join read as unknown, and the line as broken English (fh52)."""
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    error = alice.page.locator("#composer-error")
    for line, told in [
        ("/join", "usage: /join ROOM [KEY]"),
        ("/decline", "usage: /decline ROOM"),
        ("/me", "usage: /me ACTION (in a room)"),
        ("/msg bob hi", "/msg is not a command here; the composer knows /me ACTION"),
        ("/constructor", "/constructor is not a command here"),
    ]:
        await alice.page.fill("#text", line)
        await alice.page.press("#text", "Enter")
        await expect(error).to_contain_text(told)
        await expect(alice.page.locator("#text")).to_have_value(line)  # kept to mend
