"""The password field told password managers "current-password" even to someone registering,
so none offered to make up a new password or saved it as new. Registering now says
"new-password", logging in "current-password"."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.chat_page import PASSWORD
from tests.browser.conftest import PageFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_registering_asks_for_a_new_password_logging_in_for_the_current_one(
    server: App, open_page: PageFactory
) -> None:
    page = await open_page(server)
    password = page.page.locator("#login-password")
    await expect(password).to_have_attribute("autocomplete", "current-password")

    await page.page.click("#register-button")  # an empty form: asked for a name first
    await expect(password).to_have_attribute("autocomplete", "new-password")
    await expect(page.page.locator("#login-error")).to_have_text(
        "Pick a name and a new password, then press Enter or Register."
    )
    await expect(page.page.locator("#login-name")).to_be_focused()
    await page.page.fill("#login-name", "alice")
    await page.page.fill("#login-password", PASSWORD)
    await page.page.press("#login-password", "Enter")  # registers: no such user to log in
    await page.expect_online()

    await page.page.click("#logout")
    await expect(page.page.locator("#login")).to_be_visible()
    await expect(password).to_have_attribute("autocomplete", "current-password")
    await page.login("alice")

    other = await open_page(server)  # filled in, then Register: new-password as it is sent
    await other.register("bob")
    await expect(other.page.locator("#login-password")).to_have_attribute(
        "autocomplete", "new-password"
    )


async def test_the_log_in_button_logs_in_after_register_was_pressed(
    server: App, open_page: PageFactory
) -> None:
    assert server.core is not None
    await server.core.accounts.register("carol", PASSWORD)
    page = await open_page(server)
    await page.page.click("#register-button")  # changed their mind: they have an account
    await page.page.fill("#login-name", "carol")
    await page.page.fill("#login-password", PASSWORD)
    await page.page.click("#login-button")
    await page.expect_online()
    await page.page.click("#logout")
    await expect(page.page.locator("#login-password")).to_have_attribute(
        "autocomplete", "current-password"
    )


async def test_enter_after_a_taken_name_logs_in(server: App, open_page: PageFactory) -> None:
    assert server.core is not None
    await server.core.accounts.register("dave", PASSWORD)
    page = await open_page(server)
    page.provokes(409)  # the name taken
    await page.page.fill("#login-name", "dave")
    await page.page.fill("#login-password", PASSWORD)
    await page.page.click("#register-button")  # filled in: registers at once, and is refused
    await expect(page.page.locator("#login-error")).to_have_text("the name 'dave' is taken")
    await page.page.press("#login-password", "Enter")  # they had an account after all
    await page.expect_online()
