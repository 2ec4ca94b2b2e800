"""attack61 on one node (SQLite): the machine's clock stepped back. SQLite's clock is the
machine's (`Store.clock`), so a step back is the store's clock stepping back too, read by
the node's next feed mark: what the node tells as the store's time (`StoreClock.now`)
stepped back with it, and every row dated after the read stood before the rows dated
before it."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import texts
from tests.helpers.moderation import api, in_hall, mute, open_hall, services
from tests.integration.test_mute_skewed_clock import skew_clock
from torbit.backends.store import sql_guests
from torbit.core.storeclock import read_clock


def step_machine_clock(monkeypatch: pytest.MonkeyPatch, jump: list[timedelta]) -> None:
    """The machine's clock `jump[0]` off: the node's modules' (`skew_clock`) and the SQLite
    store's own clock (`Store.clock`), which is the machine's."""
    skew_clock(monkeypatch, lambda: jump[0])

    class Machine(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + jump[0]

    monkeypatch.setattr(sql_guests, "datetime", Machine)


async def test_a_message_sent_after_the_machine_s_clock_stepped_back_is_read(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#hall made; the machine's clock steps 2 minutes back (NTP setting right a clock that
    ran fast); the node's next feed mark reads the store's clock (SQLite's: the machine's);
    bob sends by HTTP and by telnet: alice's `/receive`, a page of history and carol's
    telnet join each show both, after the first. On main both were dated by the stepped
    clock, before the room's creation (`Membership.floor`), and no read showed them."""
    jump = [timedelta(0)]
    step_machine_clock(monkeypatch, jump)
    app = await open_hall(await make_server(chat={"history_on_join": 10}), "dave")
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "before the step"})
        assert r.status_code == 201, r.text
        r = await alice.get("/receive/hall/alice")
        assert texts(r.json()) == ["before the step"], r.text
        jump[0] = -timedelta(minutes=2)
        core = services(app)
        await read_clock(core.store, core.clock)  # what the node's next feed mark does
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "after the step h"})
        assert r.status_code == 201, r.text
        tn = await in_hall(app, "bob")
        tn.send("after the step t")
        await tn.expect(r"<bob> after the step t$")
        await tn.close()
        got = texts((await alice.get("/receive/hall/alice")).json())
        page = await alice.get("/api/v1/rooms/hall/messages")
        shown = [m["text"] for m in page.json()["messages"]]
    dave = await in_hall(app, "dave")  # history_on_join: the room's last 10 lines
    dave.send("dave here")
    await dave.expect(r"<dave> dave here$")
    history = [line.rsplit("> ", 1)[1] for line in dave.seen if "<bob> " in line]
    await dave.close()
    print(f"after a 2 min step back: /receive {got}, history {shown}, join {history}")
    assert sorted(got) == ["after the step h", "after the step t"]
    assert shown[-2:] == ["after the step h", "after the step t"], shown
    assert history == ["before the step", "after the step h", "after the step t"]


async def test_a_mute_set_after_the_machine_s_clock_stepped_back_holds(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#hall made; the machine's clock steps 2 minutes back and the node reads it (a mark);
    alice mutes bob 5 minutes: his HTTP and telnet lines are refused. On main the mute's
    start, by the stepped store's clock, stood before the room's creation, and the mute was
    taken for an earlier room's of that name (`Mutes.until`): bob spoke."""
    jump = [timedelta(0)]
    step_machine_clock(monkeypatch, jump)
    app = await open_hall(await make_server())
    tn = await in_hall(app, "bob")
    jump[0] = -timedelta(minutes=2)
    core = services(app)
    await read_clock(core.store, core.clock)
    await mute(app, "bob", 5)
    refused = 0
    async with api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "muted h"})
        refused += r.status_code == 403 and "muted in #hall" in r.text
    tn.send("muted t")
    said = await tn.expect(r"^! you are muted in #hall|<bob> muted t$")
    refused += said.string.startswith("!")
    await tn.close()
    stored = [m.text for m in await core.message_log.read("hall") if m.sender == "bob"]
    print(f"muted after a 2 min step back: {refused} of 2 refused, stored {stored}")
    assert refused == 2 and stored == []
