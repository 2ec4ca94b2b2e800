"""ignore63: an ignore that lands while a join's history is shown (attack62 noticed it).

A join listens before it reads the room's history, and the live messages that arrive while
the history is read and written are held (`Hub.enter(hold=True)`) and delivered once it is
shown (`Hub.release`). They were filtered by the ignore list when they arrived and not again
when released: bob's line held so was shown to alice after her `PUT /me/ignores/bob` was
answered, on telnet's `/join`, a WebSocket's `subscribe` and IRC's `JOIN`. IRC holds a second
time, its own (`IrcOutput.hold`): the history and the live lines wait there while the JOIN's
NAMES is read (`Membership.roles`), and were written unfiltered after it.

The join is held at one call (the log's read of #hall's history once it has answered, or
IRC's read of the room's roles for NAMES) while bob posts and alice's other session changes
her list; carol, live in #hall on telnet, is the witness that each line was dispatched.
Counted, never timed: what alice is shown of bob's, after a marker of carol's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import Ws, api, in_hall, open_hall, telnet
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.models import Room


class Door:
    """alice (or `name`) on one door, joining #hall: `join` starts it, `joined` waits for its end,
    `heard` is what she was shown of a sender's lines in #hall."""

    def __init__(self, app: App, kind: str, name: str = "alice") -> None:
        self.app = app
        self.kind = kind
        self.name = name
        self.telnet: TelnetClient | None = None
        self.ws: Ws | None = None
        self.irc: RawIrc | None = None

    async def open(self) -> None:
        if self.kind == "telnet":
            self.telnet = await telnet(self.app, self.name)
        elif self.kind == "ws":
            self.ws = await Ws.open(self.app, self.name)
        else:
            self.irc = await joined(self.app, self.name, password=PASSWORD)

    async def join(self) -> None:
        if self.telnet is not None:
            self.telnet.send("/join hall")
        elif self.ws is not None:
            await self.ws.send(type="subscribe", room="hall")
        else:
            assert self.irc is not None
            self.irc.send("JOIN #hall")

    async def joined(self) -> None:
        if self.telnet is not None:
            await self.telnet.expect(r"^\* you are in #hall")
        elif self.ws is not None:
            await self.ws.next("notice", "you are in #hall")
        else:
            assert self.irc is not None
            await self.irc.expect(f" 366 {self.name} #hall ")

    async def sees(self, sender: str, text: str) -> None:
        if self.telnet is not None:
            await self.telnet.expect(f"<{sender}> {text}$")
        elif self.ws is not None:
            await self.ws.next("message", text)
        else:
            assert self.irc is not None
            while not (await self.irc.expect(" PRIVMSG #hall ")).endswith(text):
                pass

    def heard(self, sender: str) -> list[str]:
        if self.telnet is not None:
            return [line for line in self.telnet.seen if f"<{sender}> " in line]
        if self.ws is not None:
            return [
                f["message"]["text"]
                for f in self.ws.frames
                if f["type"] == "message" and f["message"]["sender"] == sender
            ]
        assert self.irc is not None
        return [line for line in self.irc.lines if line.startswith(f":{sender}!")]

    async def close(self) -> None:
        if self.telnet is not None:
            await self.telnet.close()
        if self.ws is not None:
            await self.ws.close()
        if self.irc is not None:
            await self.irc.close()


async def post(app: App, sender: str, text: str, witness: TelnetClient) -> None:
    """`sender` posts in #hall over HTTP; carol (`witness`, live there) has it: dispatched."""
    async with api(app, sender) as c:
        r = await c.post("/api/v1/rooms/hall/messages", json={"text": text})
        assert r.status_code == 201, r.text
    await witness.expect(f"<{sender}> {text}$")


async def set_ignore(app: App, on: bool) -> None:
    """alice, on another session (HTTP), ignores bob (or stops); answered once applied here."""
    async with api(app, "alice") as c:
        r = await (c.put if on else c.delete)("/api/v1/me/ignores/bob")
        assert r.status_code in (200, 201, 204), r.text


def held_history(app: App, monkeypatch: pytest.MonkeyPatch) -> HeldCall:
    """The join's read of #hall's history, held once it has answered."""
    assert app.core is not None
    return HeldCall(
        monkeypatch,
        app.core.message_log,
        "read",
        when=lambda channel, *_, **__: channel == "hall",
        once=True,
        after=True,
    )


def held_names(app: App, monkeypatch: pytest.MonkeyPatch) -> HeldCall:
    """IRC's read of #hall's roles for the JOIN's NAMES (the hub has released by then)."""
    assert app.core is not None

    def hall(room: Room, *_: object) -> bool:
        return room.key == "hall"

    return HeldCall(monkeypatch, app.core.membership, "roles", when=hall, once=True)


Holder = Callable[[App, pytest.MonkeyPatch], HeldCall]
WINDOWS: list[tuple[str, Holder]] = [
    ("telnet", held_history),
    ("ws", held_history),
    ("irc", held_history),
    ("irc", held_names),
]


async def _replay(
    server: App,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    holder: Holder,
    meanwhile: Callable[[TelnetClient], Awaitable[None]],
    before: Callable[[], Awaitable[None]] | None = None,
    near: App | None = None,
) -> Door:
    """bob said "old" in #hall; alice joins it on `kind`, held at `holder` while
    `meanwhile(carol)` runs; then carol's "marker", which alice sees. Her door, to count.
    With `near`, alice's door and carol's telnet are on that node, the rest on `server`."""
    near = near or server
    await open_hall(server)
    carol = await in_hall(near, "carol")
    await post(server, "bob", "old", carol)
    if before is not None:
        await before()
    door = Door(near, kind)
    await door.open()
    held = holder(near, monkeypatch)
    await door.join()
    await held.until_reached()
    await meanwhile(carol)
    held.let_go()
    await door.joined()
    await post(server, "carol", "marker", carol)
    await door.sees("carol", "marker")
    await carol.close()
    return door


@pytest.mark.parametrize(("kind", "holder"), WINDOWS)
async def test_an_ignore_during_a_joins_history_silences_what_was_held(
    server: App, monkeypatch: pytest.MonkeyPatch, kind: str, holder: Holder
) -> None:
    """bob's history line ("old"), his line held while it is shown ("held") and the one
    after the ignore ("after"): alice is shown none of them (on main: "held" on telnet, the
    WebSocket and IRC, and "old" too on IRC while NAMES was read)."""

    async def meanwhile(carol: TelnetClient) -> None:
        await post(server, "bob", "held", carol)
        await set_ignore(server, True)
        await post(server, "bob", "after", carol)

    door = await _replay(server, monkeypatch, kind, holder, meanwhile)
    assert door.heard("bob") == []
    await door.close()


@pytest.mark.parametrize(("kind", "holder"), WINDOWS)
async def test_an_unignore_during_a_joins_history_shows_what_came_after_it(
    server: App, monkeypatch: pytest.MonkeyPatch, kind: str, holder: Holder
) -> None:
    """The other way: alice ignored bob, and stops while her join is shown. bob's live line
    held while he was ignored ("held") stays unshown, as on a live session, whose ignore
    dropped it as it came; what he says after the unignore's answer ("after") is shown, and
    the history ("old") as it is written: after the unignore, unless IRC held it written."""

    async def meanwhile(carol: TelnetClient) -> None:
        await post(server, "bob", "held", carol)
        await set_ignore(server, False)
        await post(server, "bob", "after", carol)

    async def ignoring() -> None:
        await set_ignore(server, True)

    door = await _replay(server, monkeypatch, kind, holder, meanwhile, ignoring)
    heard = [line.rsplit(" ", 1)[-1].lstrip(":") for line in door.heard("bob")]
    # the history is written after the unignore unless IRC's NAMES is what was held
    assert heard == (["after"] if holder is held_names else ["old", "after"])
    await door.close()


async def test_an_ignore_during_a_chathistory_around_silences_its_earlier_half(
    server: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRC's `CHATHISTORY AROUND` reads two pages, the earlier and then the later; each is
    filtered by the ignores as they were when it was read. An ignore answered during the
    second read let bob's line of the first through (on main: "b2" shown)."""
    await open_hall(server)
    carol = await in_hall(server, "carol")
    for sender, text in (("bob", "b0"), ("carol", "c1"), ("bob", "b2"), ("carol", "c3")):
        await post(server, sender, text, carol)
    irc = await RawIrc.connect(server)
    irc.send("CAP LS 302", "CAP REQ :batch server-time message-tags draft/chathistory")
    irc.send(f"PASS alice:{PASSWORD}")
    await irc.register("alice")
    irc.send("JOIN #hall", "CHATHISTORY LATEST #hall * 1")
    latest = await irc.expect(" PRIVMSG #hall ")
    assert latest.endswith("c3"), latest
    c3 = latest.split("msgid=")[1].split(";")[0].split(" ")[0]
    assert server.core is not None
    held = HeldCall(  # the later half's read (oldest first), before it runs
        monkeypatch,
        server.core.message_log,
        "read",
        when=lambda channel, *_, **kw: channel == "hall" and kw.get("newest") is False,
        once=True,
    )
    irc.send(f"CHATHISTORY AROUND #hall msgid={c3} 4", "PING :over")
    await held.until_reached()
    await set_ignore(server, True)
    held.let_go()
    await irc.expect("PONG")
    shown = [line.rsplit(" ", 1)[-1] for line in irc.lines if " PRIVMSG #hall " in line]
    assert shown[1:] == ["c3"], shown  # c3 from LATEST, then the page: b2 left out
    await irc.close()
    await carol.close()
