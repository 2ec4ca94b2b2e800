"""The web page's rough edges a newcomer hit: a message the server refuses stays in the
composer with the error next to it; Unignore brings back what was said meanwhile; URLs are
links, and only http(s) ones; slash commands are not sent to the room as text; the member
list shows who is here now; a first visit opens the room joined last."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import ViewportSize, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import DESKTOP, PHONE, PageFactory, TelnetFactory
from torbit.app import App

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_refused_message_stays_in_the_composer(server: App, open_page: PageFactory) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("lobby")
    too_long = "x" * (server.settings.chat.max_message_bytes + 1)
    await alice.page.fill("#text", too_long)
    await alice.page.press("#text", "Enter")
    error = alice.page.locator("#composer-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("bytes")
    await expect(alice.page.locator("#text")).to_have_value(too_long)  # not lost
    await alice.page.fill("#text", "short enough")
    await expect(error).to_be_hidden()
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#text")).to_have_value("")  # stored, so cleared
    await alice.expect_message("alice", "short enough")


async def test_unignore_shows_what_was_said_meanwhile(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    bob = await telnet(server, "bob", "garden")
    bob.send("before the ignore")
    await alice.expect_message("bob", "before the ignore")
    await alice.member_action("bob", "Ignore")
    await expect(alice.messages("bob", "before the ignore")).to_be_hidden()
    bob.send("while ignored")
    await bob.expect(r"<bob> while ignored$")
    await alice.member_action("bob", "Unignore")
    await alice.expect_message("bob", "before the ignore")
    await alice.expect_message("bob", "while ignored")  # without a reload


async def test_urls_become_safe_links(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    bob = await telnet(server, "bob", "garden")
    text = (
        "see https://example.org/a?b=1&c=2. or javascript:alert(1) or http://x.test/(y) "
        "(http://z.test/w)."
    )
    bob.send(text)
    item = alice.messages("bob").last
    await expect(item).to_be_visible()
    links = item.locator(".text a")
    await expect(links).to_have_count(3)
    await expect(links.nth(0)).to_have_attribute("href", "https://example.org/a?b=1&c=2")
    await expect(links.nth(0)).to_have_text("https://example.org/a?b=1&c=2")
    await expect(links.nth(1)).to_have_attribute("href", "http://x.test/(y)")
    await expect(links.nth(2)).to_have_attribute("href", "http://z.test/w")
    for i in range(3):
        await expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")
        await expect(links.nth(i)).to_have_attribute("target", "_blank")
    await expect(item.locator(".text")).to_have_text(text)


async def test_slash_commands_in_the_composer(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """`/me waves` and `/help` went to the room as text, for everyone to read."""
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    bob = await telnet(server, "bob", "garden")
    await alice.say("/me waves")
    await bob.expect(r"\* alice waves$")
    item = alice.messages("alice").last
    await expect(item).to_have_class(re.compile(r"\baction\b"))
    await expect(item.locator(".text")).to_have_text("waves")
    await alice.page.fill("#text", "/help")
    await alice.page.press("#text", "Enter")
    # answered as a notice (test_web_help.py), not sent
    await expect(alice.page.locator("#scroller li.notice", has_text="/me ACTION")).to_be_visible()
    await alice.say("//usr/bin is a path")
    await bob.expect(r"<alice> /usr/bin is a path$")
    await alice.say("/join #porch")
    await expect(alice.page.locator("#conv-title")).to_have_text("#porch")
    bob.send("/history 5")
    shown = await bob.read_until("is a path")
    assert "* alice waves" in shown and "/help" not in shown


async def test_invitations_are_listed_and_declined_from_the_composer(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """The page shows an invitation's notice; it had no way to list or decline one."""
    alice = await open_page(server)
    alice.provokes(404)  # no invitation left to decline
    await alice.register("alice")
    await alice.join("lobby")
    carol = await telnet(server, "carol")
    carol.send("/create den private")
    await carol.expect(r"^\* you are in #den")
    carol.send("/invite alice")
    await carol.expect(r"you invited alice to #den")
    await alice.say("/invites")
    notices = alice.page.locator("li.notice")
    await expect(notices.last).to_have_text("your invitations, newest first: #den from carol")
    await alice.say("/decline #den")
    await expect(notices.last).to_have_text("you declined the invitation to #den")
    await alice.page.fill("#text", "/decline den")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#composer-error")).to_have_text(
        "you have no invitation to #den"
    )
    await alice.page.fill("#text", "/invites")
    await alice.page.press("#text", "Enter")
    await expect(notices.last).to_have_text("you have no invitations")


async def test_the_member_list_shows_who_is_here(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """Every member looked the same, there or not: only telnet's /who told. Then the page
    showed an away user as any other (and called those not here "away"): an away user is
    marked, with the message as the title, live."""
    alice = await open_page(server)
    await alice.register("alice")
    await alice.join("garden")
    bob = await telnet(server, "bob", "garden")
    bob.send("/quit")
    await bob.expect(r"^\* bye")
    carol = await telnet(server, "carol", "garden")
    await alice.show_members()
    for name, state in (("alice", "online"), ("bob", "offline"), ("carol", "online")):
        await expect(alice.member(name)).to_have_class(re.compile(rf"\b{state}\b"))
    names = alice.page.locator("#member-list .member .who")
    await expect(names).to_have_text(["alice", "carol", "bob"])  # here first
    carol.send("/away out to lunch")
    await expect(alice.member("carol")).to_have_class(re.compile(r"\baway\b"))  # live
    await expect(alice.member("carol")).to_have_attribute("title", "carol is away: out to lunch")
    carol.send("/away")
    await expect(alice.member("carol")).to_have_class(re.compile(r"\bonline\b"))
    carol.send("/away back soon")
    await expect(alice.member("carol")).to_have_attribute("title", "carol is away: back soon")
    carol.send("/quit")
    await expect(alice.member("carol")).to_have_class(re.compile(r"\boffline\b"))  # live
    await expect(names).to_have_text(["alice", "bob", "carol"])
    listed = await alice.page.evaluate(
        "fetch('/api/v1/rooms/garden/members', {headers: {authorization: 'Bearer ' + "
        "localStorage.getItem('torbit.token')}}).then((r) => r.json())"
    )
    assert listed == {
        "members": ["alice", "bob", "carol"],
        "voiced": [],
        "online": ["alice"],
        "away": {},
        "live": True,
    }

    # her own away: the button asks for the message; a telnet session of hers is told, and
    # the page follows a change made there, and /away in the composer (on main: no button,
    # and "/away: here /me ACTION ... work")
    alice.page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("in a meeting")))
    await alice.page.click("#away-button")
    await expect(alice.member("alice")).to_have_attribute("title", "alice is away: in a meeting")
    await expect(alice.page.locator("#away-button")).to_have_text("Back")
    await expect(alice.page.locator("#me-name")).to_have_class(re.compile(r"\baway\b"))
    tel = await telnet(server, "alice")  # a new session: away as she is
    tel.send("/who")
    await tel.expect(r"alice \(away: in a meeting\)")
    tel.send("/away")
    await tel.expect(r"^\* you are back$")
    await expect(alice.page.locator("#away-button")).to_have_text("Away")  # told, live
    await expect(alice.member("alice")).to_have_class(re.compile(r"\bonline\b"))
    await alice.say("/away brb")
    await tel.expect(r"^\* you are marked away: brb$")
    await expect(alice.page.locator("#away-button")).to_have_text("Back")  # the page told too
    await alice.page.click("#away-button")  # back
    await tel.expect(r"^\* you are back$")
    await expect(alice.member("alice")).to_have_class(re.compile(r"\bonline\b"))


async def test_a_room_with_a_join_key_can_be_joined_from_the_page(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """The page had nowhere to type a join key: a keyed room could not be joined from it."""
    carol = await telnet(server, "carol", "vault")
    carol.send("/set key sesame")
    await carol.expect(r"key")
    alice = await open_page(server)
    alice.provokes(403)  # no key given
    await alice.register("alice")
    await alice.join("lobby")
    await alice.page.fill("#text", "/join vault")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#composer-error")).to_contain_text("key")
    await alice.page.fill("#text", "/join #vault sesame")
    await alice.page.press("#text", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#vault")
    await carol.expect(r"^\* alice joined #vault")
    await alice.show_rooms()
    await alice.page.fill("#join-room", "porch")
    await alice.page.press("#join-room", "Enter")
    await expect(alice.page.locator("#conv-title")).to_have_text("#porch")
    carol.send("/set key another-key")
    await carol.expect(r"key")
    bob = await open_page(server)
    await bob.register("bob")
    await bob.show_rooms()
    await bob.page.fill("#join-room", "vault another-key")  # the join form takes it too
    await bob.page.press("#join-room", "Enter")
    await expect(bob.page.locator("#conv-title")).to_have_text("#vault")


async def test_a_first_visit_opens_the_room_joined_last_as_telnet_does(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """A user already in other rooms logs in from another browser (nothing saved there): the
    page opens #zebra, the room they joined last (`GET /api/v1/me`'s `last_room`), where a
    telnet login brings them back too; not #aardvark, which sorts first, nor #lobby. On main
    it opened #lobby (`chat.default_room`) whatever the user had joined since."""
    first = await open_page(server)
    await first.register("alice")
    await first.join("aardvark")
    await first.join("zebra")
    again = await open_page(server)  # a browser of its own: nothing saved
    await again.login("alice")
    await expect(again.page.locator("#conv-title")).to_have_text("#zebra")
    await expect(again.page.locator(".conv", has_text="aardvark")).to_have_count(1)
    alice = await telnet(server, "alice")
    assert alice.seen[-1].startswith("* you are in #zebra ("), alice.seen


async def test_typing_right_after_login_or_join_goes_to_the_room(
    server: App, open_page: PageFactory
) -> None:
    """A newcomer logs in and types: the keys land in the message box, not on the password
    field that had focus (on main the line went nowhere); the same after joining a room."""
    alice = await open_page(server)
    await alice.register("alice")
    await expect(alice.page.locator("#text")).to_be_focused()
    await alice.page.keyboard.type("typed without a click")
    await alice.page.keyboard.press("Enter")
    await alice.expect_message("alice", "typed without a click")
    await alice.join("garden")
    await expect(alice.page.locator("#text")).to_be_focused()
    await alice.page.keyboard.type("in the garden")
    await alice.page.keyboard.press("Enter")
    await alice.expect_message("alice", "in the garden")


async def test_a_phone_keeps_its_keyboard_down_after_login(
    server: App, open_page: PageFactory
) -> None:
    """On a phone a focused box pops the keyboard over the messages: nothing is focused."""
    bob = await open_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    await bob.register("bob")
    await expect(bob.page.locator("#text")).not_to_be_focused()


LINES_OF = """(el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_the_sidebar_footer_stays_on_one_line_when_away(
    server: App, open_page: PageFactory, viewport: ViewportSize
) -> None:
    """Marked away, the footer's "Log out" broke onto two lines beside "gwen (away)" and
    "Back" on a 1280-pixel screen; a long name is cut with an ellipsis instead."""
    for name in ("gwen", "a-name-of-thirty-two-characters1"):
        page = await open_page(server, viewport)
        await page.register(name)
        await page.page.fill("#text", "/away brb")
        await page.page.press("#text", "Enter")
        await page.show_rooms()
        await expect(page.page.locator("#away-button")).to_have_text("Back")
        for part in ("#me-name", "#away-button", "#logout"):
            lines = await page.page.locator(part).evaluate(LINES_OF)
            assert lines == 1, (name, part, lines)


FITS = """(count) => {
  const row = count.closest("li").getBoundingClientRect();
  const box = count.getBoundingClientRect();
  return box.width > 0 && box.right <= row.right + 0.5 && count.scrollWidth <= count.clientWidth;
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_a_long_room_name_in_more_rooms_keeps_its_member_count(
    server: App, open_page: PageFactory, telnet: TelnetFactory, viewport: ViewportSize
) -> None:
    """Under "More rooms", "# room-that-does-not-exist" pushed its "1 member" out of the
    sidebar ("1 m" was left): the name is cut with an ellipsis, the count stays whole."""
    long_name = "a-room-name-of-thirty-two-chars1"
    await telnet(server, "carol", long_name)
    page = await open_page(server, viewport)
    await page.register("gwen")
    await page.show_rooms()
    count = page.page.locator("#other-rooms li", has_text=long_name[:20]).locator(".count")
    await expect(count).to_have_text("1 member")
    assert await count.evaluate(FITS)


async def test_logging_out_in_one_tab_says_so_in_the_other(
    server: App, open_page: PageFactory
) -> None:
    """Two tabs as one user; Log out in one. The other showed "Your session has expired: log
    in again." though nothing expired: it now says where the session ended."""
    first = await open_page(server)
    await first.register("hana")
    second = ChatPage(await first.page.context.new_page(), server)
    await second.goto()
    await second.expect_online()
    await expect(second.page.locator("#me-name")).to_have_text("hana")
    await first.page.click("#logout")
    await expect(second.page.locator("#login")).to_be_visible()
    await expect(second.page.locator("#login-error")).to_have_text(
        "You logged out in another tab or window."
    )


async def test_logging_in_in_one_tab_logs_in_the_other(server: App, open_page: PageFactory) -> None:
    """Two tabs on the login form; log in in one. The other went on asking for a password
    (and logging in there made a second token): it follows now, as it follows a logout."""
    first = await open_page(server)
    second = ChatPage(await first.page.context.new_page(), server)
    await second.goto()
    await expect(second.page.locator("#login")).to_be_visible()
    await first.register("ines")
    await second.expect_online()
    await expect(second.page.locator("#me-name")).to_have_text("ines")
    await first.page.click("#logout")  # and out again, in both
    await expect(second.page.locator("#login-error")).to_have_text(
        "You logged out in another tab or window."
    )
