"""A fresh server's first page load shows no error in the browser's console. The page asked
for #lobby's members as it showed the room, before its subscription made the room: one
`404` ("Failed to load resource") in the console of everyone's first visit."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_the_first_visit_to_a_fresh_server_leaves_the_console_clean(
    server: App, open_page: PageFactory
) -> None:
    page = await open_page(server)
    await page.register("alice")
    await expect(page.page.locator("#conv-title")).to_have_text("#lobby")
    await expect(page.member("alice")).to_be_visible()  # the list read once the room is
    await page.page.reload()  # and again, the room there now
    await page.expect_online()
    await expect(page.member("alice")).to_be_visible()
    assert page.console == []
