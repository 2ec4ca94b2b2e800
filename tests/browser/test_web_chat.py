"""The web page in a real browser against a real server: people on the page and on telnet talk
to each other, privately too; ignoring works from the member list; the page survives a server
restart by itself; it is usable on a phone."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.chat_page import PASSWORD, ChatPage
from tests.browser.conftest import PHONE, PageFactory, TelnetFactory
from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.models import Room
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LINE = r"^\[(\d\d:\d\d:\d\d)\] "
DOCS = Path(__file__).resolve().parents[2] / "docs"


def shifted(clock: str, delta: timedelta) -> str:
    t = datetime.strptime(clock, "%H:%M:%S") + delta
    return t.strftime("%H:%M:%S")


async def test_register_log_in_stay_logged_in_and_log_out(
    server: App, open_page: PageFactory
) -> None:
    page = await open_page(server)
    page.provokes(401, 409)  # a wrong password, a name taken
    await expect(page.page.locator("#login")).to_be_visible()
    await page._credentials("alice", "")
    await page.page.click("#login-button")
    await expect(page.page.locator("#login-error")).to_have_text("Enter a name and a password.")

    await page.register("alice")
    await expect(page.page.locator("#me-name")).to_have_text("alice")
    await expect(page.page.locator("#conv-title")).to_have_text("#lobby")  # the default room
    token = await page.page.evaluate("localStorage.getItem('torbit.token')")
    assert isinstance(token, str) and token

    # on a wide screen the member list is beside the messages and can be folded away
    await expect(page.member("alice")).to_be_visible()
    await page.page.click("#toggle-members")
    await expect(page.page.locator("#members")).to_be_hidden()
    await page.page.click("#toggle-members")
    await expect(page.member("alice")).to_be_visible()

    await page.page.reload()  # the token in localStorage logs in again
    await page.expect_online()
    await expect(page.page.locator("#me-name")).to_have_text("alice")

    await page.page.click("#logout")
    await expect(page.page.locator("#login")).to_be_visible()
    assert await page.page.evaluate("localStorage.getItem('torbit.token')") is None
    async with httpx.AsyncClient() as client:  # the token was revoked on the server
        r = await client.get(
            f"http://{page.host}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 401

    await page._credentials("alice", "wrong-password")
    await page.page.click("#login-button")
    await expect(page.page.locator("#login-error")).to_have_text(
        re.compile("wrong name or password")
    )
    await page._credentials("alice", PASSWORD)
    await page.page.click("#register-button")  # taken
    await expect(page.page.locator("#login-error")).not_to_be_empty()
    await page.login("alice")
    await expect(page.page.locator("#me-name")).to_have_text("alice")


async def test_two_browsers_and_a_telnet_user_chat(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    # alice's browser is five and a half hours ahead of the server's UTC
    alice = await open_page(server, timezone_id="Asia/Kolkata")
    bob = await open_page(server)
    await alice.register("alice")
    await bob.register("bob")
    await alice.join("garden")
    await bob.join("garden")
    carol = await telnet(server, "carol", "garden")

    # browser -> browser and telnet, with the time in the browser's own time zone
    await alice.say("hello from the browser")
    await bob.expect_message("alice", "hello from the browser")
    m = await carol.expect(LINE + r"<alice> hello from the browser$")
    shown = await alice.expect_message("alice", "hello from the browser")
    ist = shifted(m.group(1), timedelta(hours=5, minutes=30))
    await expect(shown.locator(".ts")).to_have_text(ist)

    # telnet -> browsers
    carol.send("hi from telnet")
    await alice.expect_message("carol", "hi from telnet")
    await bob.expect_message("carol", "hi from telnet")
    carol.send("/me waves")
    await expect(alice.messages("carol", "waves").locator(".who")).to_have_text("* carol")
    await bob.say("hi everyone")
    await alice.expect_message("bob", "hi everyone")
    await carol.expect(LINE + r"<bob> hi everyone$")

    # nothing from a user becomes HTML on the page
    evil = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    carol.send(evil)
    await alice.expect_message("carol", evil)
    assert await alice.page.evaluate("window.pwned") is None
    await expect(alice.page.locator("#scroller b, #scroller img")).to_have_count(0)

    # the member list knows everyone who joined, including the telnet user
    await bob.show_members()
    for name in ("alice", "bob", "carol"):
        await expect(bob.member(name)).to_be_visible()

    # a private message from the member list; it opens a conversation on the other side
    await bob.member_action("alice", "Message")
    await expect(bob.page.locator("#conv-title")).to_have_text("alice")
    await bob.say("psst, alice")
    await bob.expect_message("bob", "psst, alice")
    await expect(alice.conv_button("bob").locator(".badge")).to_have_text("1")
    await expect(alice.messages("bob", "psst, alice")).to_have_count(0)  # not in #garden
    await alice.open("bob")
    await alice.expect_message("bob", "psst, alice")
    await expect(alice.conv_button("bob").locator(".badge")).to_have_count(0)
    # ... and with the telnet user, both ways
    carol.send("/msg alice only for you")
    await expect(alice.conv_button("carol")).to_be_visible()
    await alice.open("carol")
    await alice.expect_message("carol", "only for you")
    await alice.say("got it")
    await carol.expect(LINE + r"\(private\) <alice> got it$")
    assert not any("psst" in line for line in carol.seen)

    # ignore from the member list: carol's messages disappear for alice, not for bob
    await alice.open("#garden")
    await bob.open("#garden")
    await alice.member_action("carol", "Ignore")
    unignore = alice.member("carol").get_by_role("button", name="Unignore")
    await expect(unignore).to_be_visible()
    await expect(alice.messages("carol", "hi from telnet")).to_be_hidden()
    carol.send("can anyone hear me")
    await bob.expect_message("carol", "can anyone hear me")
    await bob.say("I can")
    await alice.expect_message("bob", "I can")  # sent after carol's, so carol's was dropped
    await expect(alice.messages("carol", "can anyone hear me")).to_have_count(0)
    carol.send("/msg alice still there?")
    await carol.expect(LINE + r"\(private to alice\) <carol> still there\?$")
    await bob.say("and again")
    await alice.expect_message("bob", "and again")
    await alice.open("carol")
    await expect(alice.messages("carol", "still there?")).to_have_count(0)

    # unignore: her messages show again, old and new
    await alice.open("#garden")
    await alice.member_action("carol", "Unignore")
    await alice.expect_message("carol", "hi from telnet")
    carol.send("back in the game")
    await alice.expect_message("carol", "back in the game")


async def test_the_page_reconnects_after_a_server_restart(
    make_server: ServerFactory, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    port = free_port()
    app = await make_server(http={"port": port})
    alice = await open_page(app)
    await alice.register("alice")
    await alice.join("garden")
    await alice.say("before the restart")
    await alice.expect_message("alice", "before the restart")

    alice.provokes("ERR_CONNECTION_REFUSED")  # its reconnections while the server is down
    await app.stop()
    await expect(alice.page.locator("#status")).not_to_have_text("online")
    # history on join is short: what is missed beyond it must come from the history API
    app = await make_server(http={"port": port}, chat={"history_on_join": 2})
    bob = ("bob", PASSWORD)
    async with httpx.AsyncClient(base_url=f"http://{alice.host}/api/v1") as client:
        r = await client.post("/users", json={"name": "bob", "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = await client.put("/rooms/garden/members/bob", auth=bob)
        assert r.status_code == 200, r.text
        for i in range(1, 6):
            r = await client.post(
                "/rooms/garden/messages", auth=bob, json={"text": f"while you were away {i}"}
            )
            assert r.status_code == 201, r.text

    await alice.expect_online(timeout=20_000)
    for i in range(1, 6):
        await alice.expect_message("bob", f"while you were away {i}")
    await alice.expect_message("alice", "before the restart")  # once: no duplicates
    ids = await alice.page.eval_on_selector_all(
        "#scroller .msg", "items => items.map(i => Number(i.dataset.id))"
    )
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids

    carol = await telnet(app, "carol", "garden")
    await alice.say("after the restart")
    await carol.expect(LINE + r"<alice> after the restart$")
    carol.send("welcome back")
    await alice.expect_message("carol", "welcome back")


async def test_usable_at_phone_width(server: App, open_page: PageFactory) -> None:
    alice = await open_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    await alice.register("alice")
    page = alice.page
    # the lists are tucked away; the messages and the composer fill the screen
    await expect(page.locator("#sidebar")).to_be_hidden()
    await expect(page.locator("#members")).to_be_hidden()
    for selector in ("#text", "#composer button", "#toggle-rooms", "#toggle-members"):
        await expect(page.locator(selector)).to_be_in_viewport()
    box = await page.locator("#composer").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["y"] + box["height"] <= PHONE["height"]

    await alice.join("garden")
    await expect(page.locator("#sidebar")).to_be_hidden()  # picking a room closes the list
    long = "a long line that must wrap on a narrow screen " * 6
    await alice.say(long.strip())
    item = await alice.expect_message("alice", long.strip())
    await expect(item).to_be_in_viewport()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways"

    await alice.show_members()
    await expect(alice.member("alice")).to_be_in_viewport()
    await page.mouse.click(20, PHONE["height"] // 2)  # the scrim closes the drawer
    await expect(page.locator("#members")).to_be_hidden()
    await alice.open("#lobby")
    await alice.say("hello from my phone")
    await alice.expect_message("alice", "hello from my phone")


async def test_screenshots(
    server: App, open_page: PageFactory, telnet: TelnetFactory, tmp_path: Path
) -> None:
    """A realistic conversation, for the README. Written to the test's temp dir, or to docs/
    when TORBIT_SCREENSHOTS=1 (then check them in)."""
    out = DOCS if os.environ.get("TORBIT_SCREENSHOTS") == "1" else tmp_path
    alice = await open_page(server)
    bob = await open_page(server)
    await alice.register("alice")
    await bob.register("bob")
    room = "torbit-dev"
    await alice.join(room)
    await bob.join(room)
    carol = await telnet(server, "carol", room)
    dave = await telnet(server, "dave", room)

    script: list[tuple[ChatPage | TelnetClient, str]] = [
        (carol, "morning! the kafka backend passed the contract suite overnight"),
        (bob, "nice. did the restart test flake again?"),
        (carol, "not once in 200 runs since the consumer fix"),
        (alice, "great, I'll tag a release candidate after lunch"),
        (dave, "/me is reading the changelog"),
        (dave, "can we get the web client into the release notes too? it even works on my phone"),
        (alice, "yes, I'm writing that section now"),
        (bob, "ship it"),
    ]
    for shown, (who, text) in enumerate(script, start=1):
        if isinstance(who, ChatPage):
            await who.say(text)
        else:
            who.send(text)
        # each line on alice's page before the next is sent: the script's order, whatever
        # connection each comes from
        await expect(alice.page.locator("#scroller .msg")).to_have_count(shown)
    await alice.expect_message("bob", "ship it")
    carol.send("/msg alice lunch at 12:30?")
    await expect(alice.conv_button("carol").locator(".badge")).to_have_text("1")
    await alice.page.locator("#text").fill("")
    await alice.page.screenshot(path=str(out / "screenshot.png"))

    phone = await open_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    await phone.login("bob")
    await phone.open(f"#{room}")
    await phone.expect_message("bob", "ship it")
    await phone.page.screenshot(path=str(out / "screenshot-phone.png"))
    if out != DOCS:
        assert (out / "screenshot.png").stat().st_size > 10_000


async def test_the_room_list_loads_a_page_at_a_time(server: App, open_page: PageFactory) -> None:
    """`GET /api/v1/rooms` is paginated: the page shows the first 100 rooms and fetches the
    next ones on "Show more…"."""
    assert server.core is not None
    store = server.core.store
    for i in range(150):  # named to come before the lobby
        await store.create_room(Room(name=f"a-room{i:03}", created_at=datetime.now(), owner="x"))
    page = await open_page(server)
    await page.register("alice")
    await page.show_rooms()
    listed = page.page.locator("#other-rooms li").filter(has_text="a-room")
    await expect(listed).to_have_count(100)
    await page.page.click("#other-rooms .more button")
    await expect(listed).to_have_count(150)
    await expect(page.page.locator("#other-rooms .more")).to_have_count(0)
    await expect(page.page.locator("#other-rooms")).to_contain_text("a-room149")


async def test_a_room_left_on_another_connection_goes_from_the_page(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """alice leaves #garden on telnet while the page shows it: the page is told (the leave
    went to her other connections silently before stop 46) and drops the room."""
    page = await open_page(server)
    await page.register("alice")
    await page.join("garden")
    await page.join("den")
    await expect(page.conv_button("#garden")).to_have_count(1)
    alice = await telnet(server, "alice")
    alice.send("/leave garden")
    await alice.expect(r"you left #garden;")
    await expect(page.conv_button("#garden")).to_have_count(0)
    await expect(page.conv_button("#den")).to_have_count(1)
    told = page.page.locator("#scroller .notice").filter(has_text="you left #garden")
    await expect(told).to_have_count(1)  # said in the room shown


async def test_a_room_one_is_kicked_from_goes_from_the_page(
    server: App, open_page: PageFactory, telnet: TelnetFactory
) -> None:
    """bob kicks alice from #garden while she is also in #den: the page kept #garden listed,
    as if she were still in it (web56c)."""
    page = await open_page(server)
    await page.register("alice")
    bob = await telnet(server, "bob", "garden")
    await page.join("garden")
    await page.join("den")
    await bob.expect(r"alice joined #garden")
    bob.send("/kick alice enough")
    await bob.expect(r"alice was kicked from #garden")
    await expect(page.conv_button("#garden")).to_have_count(0)
    await expect(page.page.locator("#conv-title")).to_have_text("#den")
    told = page.page.locator("#scroller .notice").filter(has_text="you were kicked")
    await expect(told).to_have_text(["you were kicked from #garden by bob (enough)"])
