"""A muted member's leave reason is not shown to the room: `PART #room :text`, `QUIT
:text` and `DELETE .../members/me?reason=text` reached every member while the member's
messages were refused (a probe got 13 such lines into a room in 30 s); the leave itself is
still told. Anyone else's reason still is (hostile probe, stop 44)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import joined
from tests.helpers.moderation import api, create_room


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

        mutey.send("PART #quiet :MUTED-PART")
        line = await watcher.expect("@irc.torbit PART #quiet")
        assert line.startswith(":mutey!") and "MUTED" not in line, line
        free.send("PART #quiet :free to say")  # not muted: said
        line = await watcher.expect("@irc.torbit PART #quiet")
        assert line.startswith(":free!") and line.endswith(" :free to say"), line

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
