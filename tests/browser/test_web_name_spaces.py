"""The web page and names typed with spaces that are not ASCII: around the login name they
are trimmed like ASCII spaces (kept so: JavaScript's trim takes them); a room name in the
composer's `/join` that holds one is refused with a message naming it (on main: only
"invalid room name '\\xa0den': use 1-32 letters…", the space invisible on the page)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_login_name_trimmed_and_a_composer_room_name_refused_in_words(
    server: App, open_page: PageFactory
) -> None:
    dora = await open_page(server)
    dora.provokes(422)  # a room name refused
    await dora.register("\u3000dora\u00a0")
    await expect(dora.page.locator("#me-name")).to_have_text("dora")
    await dora.join("garden")
    await dora.page.fill("#text", "/join \u00a0den")
    await dora.page.press("#text", "Enter")
    await expect(dora.page.locator("#composer-error")).to_contain_text(
        "it holds U+00A0, a space that is not ASCII"
    )
    await expect(dora.page.locator("#conv-title")).to_have_text("#garden")
