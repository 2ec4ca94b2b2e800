"""The web page shows the room's topic with who set it, as text (a topic holding markup is
shown as typed, never run), and follows changes live; a kick's reason reaches the page too.
On main the page showed no topic at all, and telnet's /kick took no reason."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory, TelnetFactory
from tests.helpers.http import register
from tests.helpers.moderation import api, create_room
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> read me'


async def test_the_topic_is_shown_as_text_and_follows_changes(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    async with api(server, "alice") as alice:
        await register(alice, "alice")
        await create_room(alice, "den")
        r = await alice.patch("/api/v1/rooms/den", json={"topic": HOSTILE})
        assert r.status_code == 200, r.text
    bob = await open_page(server)
    await bob.register("bob")
    await bob.join("den")
    topic = bob.page.locator("#topic")
    await expect(topic.locator("#topic-text")).to_have_text(HOSTILE)
    credit = re.compile(r"^set by alice on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    await expect(topic.locator("#topic-credit")).to_have_text(credit)
    assert await topic.locator("script, img").count() == 0
    assert await bob.page.evaluate("window.pwned") is None

    owner = await telnet(server, "alice", "den")
    owner.send("/topic plans for monday")
    await owner.expect(r"alice set the topic of #den: plans for monday$")
    await expect(topic.locator("#topic-text")).to_have_text("plans for monday")  # live
    await expect(topic.locator("#topic-credit")).to_have_text(credit)
    owner.send("/topic off")
    await owner.expect(r"alice cleared the topic of #den$")
    await expect(topic).to_be_hidden()

    owner.send("/kick bob too loud <b>today</b>")
    await owner.expect(r"bob was kicked from #den by alice \(too loud <b>today</b>\)$")
    told = bob.page.locator("#scroller .notice").filter(
        has_text="you were kicked from #den by alice (too loud <b>today</b>)"
    )
    await expect(told).to_be_visible()
