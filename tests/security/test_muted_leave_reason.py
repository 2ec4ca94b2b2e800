"""A muted member's leave reason is not shown to the room: `PART #room :text`, `QUIT
:text` and `DELETE .../members/me?reason=text` reached every member while the member's
messages were refused (a probe got 13 such lines into a room in 30 s); the leave itself is
still told. Anyone else's reason still is (hostile probe, stop 44). So is an unvoiced
member's in a moderated room: its messages were refused, its PART and QUIT reasons were not
(stop 45)."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import api, create_room
from torbit.errors import ServiceUnavailable


async def parted(leaver: RawIrc, nick: str, watcher: RawIrc, room: str, reason: str) -> str:
    """`leaver` PARTs the room with `reason`: the PART line the watcher gets."""
    leaver.send(f"PART #{room} :{reason}")
    line = await watcher.expect(f"@irc.torbit PART #{room}")
    assert line.startswith(f":{nick}!"), line
    return line


async def test_a_muted_members_part_and_quit_reasons_are_not_shown(
    make_server: ServerFactory,
) -> None:
    app = await make_server(chat={"presence_grace_seconds": 0})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "mutey", "watcher", "free")
        await create_room(owner, "quiet")
        watcher = await joined(app, "watcher", "quiet", password=PASSWORD)
        mutey = await joined(app, "mutey", "quiet", password=PASSWORD)
        free = await joined(app, "free", "quiet", password=PASSWORD)
        r = await owner.put("/api/v1/rooms/quiet/mutes/mutey", json={"minutes": 10})
        assert r.status_code == 200, r.text

        assert "MUTED" not in await parted(mutey, "mutey", watcher, "quiet", "MUTED-PART")
        said = await parted(free, "free", watcher, "quiet", "free to say")  # not muted: said
        assert said.endswith(" :free to say"), said

        mutey.send("JOIN #quiet")
        await watcher.expect("@irc.torbit JOIN #quiet")
        async with api(app, "mutey") as http_mutey:  # the HTTP door's leave, with a reason
            r = await http_mutey.delete(
                "/api/v1/rooms/quiet/members/mutey", params={"reason": "MUTED-DELETE"}
            )
            assert r.status_code in (200, 204), r.text
        line = await watcher.expect("@irc.torbit PART #quiet")  # its IRC client leaves
        assert line.startswith(":mutey!") and "MUTED" not in line, line

        mutey.send("JOIN #quiet")
        await watcher.expect("@irc.torbit JOIN #quiet")
        mutey.send("QUIT :MUTED-QUIT")
        line = await watcher.expect("@irc.torbit QUIT")
        assert line.startswith(":mutey!") and "MUTED" not in line, line
    watcher.send("PING :after")
    await watcher.expect("PONG")
    assert not [ln for ln in watcher.lines if "MUTED" in ln], watcher.lines
    await watcher.close()


async def test_an_unvoiced_members_reasons_are_not_shown_in_a_moderated_room(
    make_server: ServerFactory,
) -> None:
    app = await make_server(chat={"presence_grace_seconds": 0})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "plain", "voiced", "watcher", "tele", "closer")
        await create_room(owner, "stage")
        watcher = await joined(app, "watcher", "stage", password=PASSWORD)
        plain = await joined(app, "plain", "stage", password=PASSWORD)
        voiced = await joined(app, "voiced", "stage", password=PASSWORD)
        r = await owner.patch("/api/v1/rooms/stage/settings", json={"moderated": True})
        assert r.status_code == 200, r.text
        r = await owner.put("/api/v1/rooms/stage/voices/voiced")
        assert r.status_code in (200, 204), r.text
        await watcher.expect("+v voiced")

        assert "UNVOICED" not in await parted(plain, "plain", watcher, "stage", "UNVOICED-PART")
        said = await parted(
            voiced, "voiced", watcher, "stage", "a voiced goodbye"
        )  # may speak: said
        assert said.endswith(" :a voiced goodbye"), said

        # the voice taken while the session stays open: silenced at once
        voiced.send("JOIN #stage")
        await watcher.expect("@irc.torbit JOIN #stage")
        r = await owner.put("/api/v1/rooms/stage/voices/voiced")
        assert r.status_code in (200, 204), r.text
        await watcher.expect("+v voiced")
        r = await owner.delete("/api/v1/rooms/stage/voices/voiced")
        assert r.status_code in (200, 204), r.text
        await watcher.expect("-v voiced")
        voiced.send("QUIT :UNVOICED-QUIT")
        line = await watcher.expect("@irc.torbit QUIT")
        assert line.startswith(":voiced!") and "UNVOICED" not in line, line

        async with api(app, "tele") as web:  # the HTTP door's leave, with a reason
            r = await web.put("/api/v1/rooms/stage/members/tele")
            assert r.status_code in (200, 201, 204), r.text
            tele = await joined(app, "tele", "stage", password=PASSWORD)  # seen leaving
            await watcher.expect(" JOIN #stage")
            r = await web.delete(
                "/api/v1/rooms/stage/members/tele", params={"reason": "UNVOICED-DELETE"}
            )
            assert r.status_code in (200, 204), r.text
        line = await watcher.expect(" PART #stage")
        assert line.startswith(":tele!") and "UNVOICED" not in line, line
        await tele.close()

        # a QUIT in the server's words is told, whoever may talk: not the user's words
        closer = await joined(app, "closer", "stage", password=PASSWORD)
        await watcher.expect("@irc.torbit JOIN #stage")
        await closer.close()
        line = await watcher.expect("@irc.torbit QUIT")
        assert line.startswith(":closer!") and line.endswith(" :Quit: Connection closed"), line

        r = await owner.patch("/api/v1/rooms/stage/settings", json={"moderated": False})
        assert r.status_code == 200, r.text
        plain.send("JOIN #stage")
        await watcher.expect("@irc.torbit JOIN #stage")
        said = await parted(plain, "plain", watcher, "stage", "free again")  # not moderated
        assert said.endswith(" :free again"), said
    assert not [ln for ln in watcher.lines if "UNVOICED" in ln], watcher.lines
    await watcher.close()


async def test_a_quit_with_a_reason_while_the_store_is_away_still_logs_out(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking whether a leaver may talk in a moderated room reads the store; the store away,
    the reason is dropped and the leave still happens (the session is not left behind)."""
    app = await make_server(chat={"presence_grace_seconds": 0})
    assert app.core is not None
    async with api(app, "owner") as owner:
        await register(owner, "owner", "leaver", "watcher")
        await create_room(owner, "stage")
        watcher = await joined(app, "watcher", "stage", password=PASSWORD)
        leaver = await joined(app, "leaver", "stage", password=PASSWORD)
        r = await owner.patch("/api/v1/rooms/stage/settings", json={"moderated": True})
        assert r.status_code == 200, r.text
        leaver.send("PRIVMSG #stage :may I?")  # refused: the node now knows it is moderated
        await leaver.expect(" 404 leaver #stage ")

        async def away(*_: object) -> None:
            raise ServiceUnavailable("storage unavailable: connection refused")

        monkeypatch.setattr(app.core.store, "standing", away)
        leaver.send("QUIT :OUTAGE-QUIT")
        line = await watcher.expect("@irc.torbit QUIT")
        assert line.startswith(":leaver!") and "OUTAGE" not in line, line
        monkeypatch.undo()
        assert not app.core.subscriptions.sessions_of("leaver")
    await watcher.close()
