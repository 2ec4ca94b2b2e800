"""Found walking the page as a newcomer: leaving one's only room left its name in the title,
its member list beside it and "Message #lobby" in the composer, which then swallowed what was
typed without a word (and /join there did nothing either). The page now says it is in no
room, and how to join one; /join from the composer works."""

from __future__ import annotations

import pytest
from playwright.async_api import ViewportSize, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import DESKTOP, PHONE, PageFactory, TelnetFactory
from tests.conftest import ServerFactory
from torbit.app import App
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_leaving_the_only_room_says_so_and_join_still_works(
    server: App, open_page: PageFactory, viewport: ViewportSize
) -> None:
    alice = await open_page(server, viewport=viewport)
    await alice.register("alice")
    await expect(alice.page.locator("#conv-title")).to_have_text("#lobby")
    await alice.show_rooms()
    await alice.page.click('#sidebar button[aria-label="Leave #lobby"]')
    await expect(alice.page.locator("#conv-title")).to_have_text("no room")
    await expect(alice.page.locator("#scroller")).to_contain_text("You are in no room")
    await expect(alice.page.locator("#member-list li")).to_have_count(0)
    await expect(alice.page.locator("#text")).to_have_attribute("placeholder", "/join ROOM")

    await alice.page.fill("#text", "hello?")
    await alice.page.press("#text", "Enter")
    error = alice.page.locator("#composer-error")
    await expect(error).to_have_text("you are in no room: join one first (/join ROOM)")
    await expect(alice.page.locator("#text")).to_have_value("hello?")  # not lost

    await alice.page.fill("#text", "/join garden")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#garden")
    await expect(error).to_be_hidden()
    await alice.say("hello again")
    await alice.expect_message("alice", "hello again")


async def test_help_and_invites_answer_in_no_room(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """/help, /invites and /decline typed there were answered into no conversation: nothing
    was shown, the composer emptied as if answered (polish56's walk)."""
    alice = await open_page(server)
    alice.provokes(422)  # a room name refused
    await alice.register("alice")
    await expect(alice.page.locator("#conv-title")).to_have_text("#lobby")
    carol = await telnet(server, "carol")
    carol.send("/create den private")
    await carol.expect(r"^\* you are in #den")
    await alice.show_rooms()
    await alice.page.click('#sidebar button[aria-label="Leave #lobby"]')
    await expect(alice.page.locator("#conv-title")).to_have_text("no room")
    scroller = alice.page.locator("#scroller")
    error = alice.page.locator("#composer-error")

    await alice.page.fill("#text", "/help")
    await alice.page.press("#text", "Enter")
    help_notice = scroller.locator(".notice", has_text="commands here: ")
    await expect(help_notice).to_contain_text("/join ROOM [KEY]")
    await expect(error).to_be_hidden()
    await expect(alice.page.locator("#text")).to_have_value("")

    await alice.page.fill("#text", "/invites")
    await alice.page.press("#text", "Enter")
    notices = scroller.locator(".notice")
    await expect(notices.last).to_have_text("you have no invitations")
    carol.send("/invite alice")
    await carol.expect(r"you invited alice to #den")
    await alice.page.fill("#text", "/invites")
    await alice.page.press("#text", "Enter")
    await expect(notices.last).to_have_text("your invitations, newest first: #den from carol")
    await alice.page.fill("#text", "/decline #den")
    await alice.page.press("#text", "Enter")
    await expect(notices.last).to_have_text("you declined the invitation to #den")
    await expect(scroller).to_contain_text("You are in no room")  # still said
    await expect(error).to_be_hidden()
    await alice.page.fill("#text", "/decline <img src=x onerror=document.title='pwned'>")
    await alice.page.press("#text", "Enter")
    await expect(error).to_contain_text("invalid room name '<img'")  # words, not HTML
    await expect(alice.page.locator("#scroller img, #composer-error img")).to_have_count(0)
    assert await alice.page.title() != "pwned"

    await alice.page.fill("#text", "/join garden")  # the answers stay behind in no room
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#garden")
    await expect(scroller.locator(".notice", has_text="commands here: ")).to_have_count(0)


async def leave_the_only_room(alice: ChatPage) -> None:
    await expect(alice.page.locator("#conv-title")).to_have_text("#lobby")
    await alice.show_rooms()
    await alice.page.click('#sidebar button[aria-label="Leave #lobby"]')
    await expect(alice.page.locator("#conv-title")).to_have_text("no room")


async def test_leaving_and_an_invitation_are_told_in_no_room(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """In no room the notices that came then were dropped: "you left #lobby" and another
    user's invitation (web56c's walk). They are said under "You are in no room", and the
    join the invitation offers works from there."""
    alice = await open_page(server)
    await alice.register("alice")
    bob = await telnet(server, "bob")
    bob.send("/create den private")
    await bob.expect(r"^\* you are in #den")
    await leave_the_only_room(alice)
    notices = alice.page.locator("#scroller .notice")
    await expect(notices.first).to_contain_text("You are in no room")
    # this page's leave, said once, not as another connection's (the page leaves on its
    # own WebSocket: test_web_leave_frame.py)
    await expect(notices.filter(has_text="you left #lobby")).to_have_text(["you left #lobby"])

    bob.send("/invite alice")
    await bob.expect(r"you invited alice to #den")
    await expect(notices.last).to_have_text("bob invited you to #den: /join den")
    await alice.page.fill("#text", "/join den")  # the join it offers
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#den")
    await bob.expect(r"alice joined #den")


async def test_kicked_from_the_last_room_says_so_in_no_room(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """A kick from one's only room left it in the sidebar, shown as if still in it, and the
    page subscribed to it again on its next connection; /away's answer in no room was
    dropped. The reason, HTML or not, is shown as text."""
    alice = await open_page(server)
    await alice.register("alice")
    bob = await telnet(server, "bob")
    bob.send("/create den private")
    await bob.expect(r"^\* you are in #den")
    bob.send("/invite alice")
    await bob.expect(r"you invited alice to #den")
    await alice.join("den")
    await alice.conv_button("#lobby").hover()  # its leave button shows on hover
    await alice.page.click('#sidebar button[aria-label="Leave #lobby"]')
    await expect(alice.conv_button("#lobby")).to_have_count(0)

    bob.send("/kick alice <img src=x onerror=document.title='pwned'>")
    await bob.expect(r"alice was kicked from #den")
    await expect(alice.page.locator("#conv-title")).to_have_text("no room")
    await expect(alice.conv_button("#den")).to_have_count(0)
    notices = alice.page.locator("#scroller .notice")
    await expect(notices.first).to_contain_text("You are in no room")
    await expect(notices.last).to_have_text(
        "you were kicked from #den by bob (<img src=x onerror=document.title='pwned'>)"
    )
    await expect(alice.page.locator("#scroller img")).to_have_count(0)
    assert await alice.page.title() != "pwned"

    bob.send("/msg alice are you there?")  # no notice of its own: the sidebar says it
    await expect(alice.conv_button("bob").locator(".badge")).to_have_text("1")
    await alice.page.fill("#text", "/away lunch")
    await alice.page.press("#text", "Enter")
    await expect(notices.last).to_have_text("you are marked away: lunch")
    await alice.open("bob")
    await alice.expect_message("bob", "are you there?")


async def test_a_restart_is_told_in_no_room(
    make_server: ServerFactory, open_page: PageFactory
) -> None:
    """The server's restart said nothing to a page in no room."""
    port = free_port()
    node = {"drain_delay_seconds": 0}
    app = await make_server(http={"port": port}, node=node)
    alice = await open_page(app)
    await alice.register("alice")
    await leave_the_only_room(alice)
    await app.drain(within=2)
    line = alice.page.locator("#scroller .notice", has_text="restarting")
    await expect(line).to_have_text("the server is restarting: reconnecting…")
    alice.provokes("ERR_CONNECTION_REFUSED")  # its reconnections while the server is down
    await app.stop()
    await make_server(http={"port": port}, node=node)
    await alice.expect_online(timeout=20_000)
    await expect(line).to_have_count(0)
    await expect(alice.page.locator("#scroller")).to_contain_text("You are in no room")
