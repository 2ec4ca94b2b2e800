"""What the page says while the server restarts under it: it reconnects by itself, so it
says so ("reconnecting…", never "please reconnect"), and takes the words back once online."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESTARTING = "the server is restarting: reconnecting…"


async def test_a_drained_restart_says_the_page_reconnects_then_clears(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    port = free_port()
    node = {"drain_delay_seconds": 0}
    app = await make_server(http={"port": port}, node=node)
    alice = await open_page(app)
    await alice.register("alice")
    await alice.join("garden")
    await alice.say("before the restart")

    await app.drain(within=2)  # as SIGTERM does: the page is asked to go, and tries again
    line = alice.page.locator("#scroller .notice", has_text="restarting")
    await expect(line).to_have_text(RESTARTING)  # one line, however many tries
    alice.provokes("ERR_CONNECTION_REFUSED")  # its reconnections while the server is down
    await app.stop()
    await expect(alice.page.locator("#status")).not_to_have_text("online")
    await expect(alice.page.locator("#scroller")).not_to_contain_text("please reconnect")

    await make_server(http={"port": port}, node=node)
    await alice.expect_online(timeout=20_000)
    await expect(line).to_have_count(0)  # back: the words are gone
    await alice.expect_message("alice", "before the restart")
    await alice.say("after the restart")


async def test_a_stop_says_the_page_reconnects_then_clears(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    port = free_port()
    app = await make_server(http={"port": port})
    alice = await open_page(app)
    await alice.register("alice")
    await alice.join("garden")

    alice.provokes("ERR_CONNECTION_REFUSED")  # its reconnections while the server is down
    await app.stop()  # no drain: the server's notice, then the page's own words
    await expect(alice.page.locator("#status")).not_to_have_text("online")
    line = alice.page.locator("#scroller .notice", has_text="reconnecting")
    await expect(line).to_have_text("the server stopped: reconnecting…")
    await expect(alice.page.locator("#scroller")).not_to_contain_text("restarting")

    await make_server(http={"port": port})
    await alice.expect_online(timeout=20_000)
    await expect(line).to_have_count(0)
