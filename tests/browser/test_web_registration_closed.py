"""With `chat.registration = "closed"` the login form still offered Register: a newcomer
filled it in and only then read "registration is closed". The form now asks the server
(`GET /api/v1/server`), offers no Register button and says why; the server's 403 stays the
guard. An open server still offers it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.chat_page import PASSWORD
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory
from tests.helpers.http import http_client

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_closed_server_offers_no_register_button(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    app = await make_server(chat={"registration": "closed"})
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)  # as `torbit user add`
    page = await open_page(app)
    await expect(page.page.locator("#login-intro")).to_contain_text(
        "Registration is closed on this server: ask an administrator for an account."
    )
    await expect(page.page.locator("#register-button")).to_be_hidden()
    await expect(page.page.locator("#login-button")).to_be_visible()
    await page.login("alice")  # an account an administrator made logs in as before
    await page.page.click("#logout")
    await expect(page.page.locator("#login")).to_be_visible()
    await expect(page.page.locator("#register-button")).to_be_hidden()
    async with http_client(app) as client:  # the server still refuses, whatever a page shows
        r = await client.post("/api/v1/users", json={"name": "zed", "password": PASSWORD})
        assert r.status_code == 403


async def test_an_open_server_offers_it(make_server: ServerFactory, open_page: PageFactory) -> None:
    app = await make_server()
    page = await open_page(app)
    await expect(page.page.locator("#login-intro")).to_have_text(
        "Log in, or pick a name and password to register."
    )
    await expect(page.page.locator("#register-button")).to_be_visible()
    await page.register("bob")
