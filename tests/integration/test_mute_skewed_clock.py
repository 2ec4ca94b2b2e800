"""A mute set on a node whose clock is off (attack57's noticed item). The mute's end was the
muting node's clock plus its minutes: a node 30 s behind set mutes that ended 30 s early in
the store, so on every other node and after any restart (one 30 s ahead, 30 s late). A mute
ends by the store's clock now (`Store.clock`), and the skewed node itself checks it by the
store's time it tells from its own clock, still with no store read on a send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.moderation import api, audit, command, in_hall, mute, open_hall, services
from torbit.core.membership import Membership
from torbit.core.messaging_base import MessagingBase
from torbit.core.moderation import Moderation
from torbit.core.revocation import Revocations
from torbit.core.storeclock import StoreClock


def skew_clock(monkeypatch: pytest.MonkeyPatch, skew: timedelta | Callable[[], timedelta]) -> None:
    """The node's clock `skew` off the machine's (the store's: SQLite's is the machine's),
    for the services that read it (mutes' acts, the feed's marks); a callable `skew` is
    asked at each reading (a clock that jumps). Rooms and messages are dated by the store's
    time as the node tells it (services.py gives Membership and Messaging `clock.now`,
    attack60): a wall clock step does not move them, and the skew leaves them alone."""
    off = skew if callable(skew) else lambda: skew
    for cls in (Membership, Moderation, Revocations, MessagingBase):
        real_init = cls.__init__

        def skewed(self: Any, *args: Any, _real: Any = real_init, **kwargs: Any) -> None:
            _real(self, *args, **{"now": lambda: datetime.now(UTC) + off(), **kwargs})

        monkeypatch.setattr(cls, "__init__", skewed)


@pytest.mark.parametrize("seconds", [-30, 30], ids=["behind", "ahead"])
async def test_a_mute_set_on_a_node_whose_clock_is_off_lasts_its_minutes_everywhere(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, seconds: int
) -> None:
    skew = timedelta(seconds=seconds)
    skew_clock(monkeypatch, skew)
    app = await make_server()
    await open_hall(app)
    before = datetime.now(UTC)
    until = datetime.fromisoformat((await mute(app, "bob", 1))["until"])
    after = datetime.now(UTC)

    # the end every other node (and this one, restarted) reads: the store's clock + 1 minute
    assert before + timedelta(minutes=1) <= until <= after + timedelta(minutes=1), until - before
    store = services(app).store
    late = await store.active_mutes(after + timedelta(seconds=45))
    assert [m.user_key for m in late] == ["bob"]
    assert await store.active_mutes(after + timedelta(seconds=61)) == []

    # the skewed node checks it by the store's time, whatever its own clock reads
    async with api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "still muted"})
    assert r.status_code == 403, r.text
    assert "muted in #hall for 1 more minute" in r.text
    mutes = services(app).mutes
    assert mutes.until("hall", "bob", after + timedelta(seconds=45)) is not None
    assert mutes.until("hall", "bob", after + timedelta(seconds=61)) is None


async def test_an_unmute_right_after_the_node_s_clock_jumped_lifts_the_running_mute(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's clock steps 2 minutes forward (a VM resumed, NTP stepped it) between two of
    its feed marks, which measure how far it is from the store's. A mute is set and lifted
    by the store's clock read then (`read_clock`): an unmute dated by the offset kept since
    the last mark took bob's running 1-minute mute for ended, answered 404 'bob is not muted'
    and deleted it from the store without telling any node, so every other node kept it."""
    jump = [timedelta(0)]
    skew_clock(monkeypatch, lambda: jump[0])
    app = await make_server()
    await open_hall(app)
    await mute(app, "bob", 1)

    marks = HeldCall(monkeypatch, Revocations, "mark")  # no mark measures the jump meanwhile
    await marks.until_reached()
    jump[0] = timedelta(minutes=2)
    async with api(app, "alice") as alice:
        r = await alice.delete("/api/v1/rooms/hall/mutes/bob")
    marks.let_go()
    assert r.status_code == 204, (r.status_code, r.text)
    assert "unmute" in [e.action for e in await audit(app, "hall")]
    # and so on every node: the event that lifts it went out
    async with api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "unmuted"})
    assert r.status_code == 201, (r.status_code, r.text)


async def test_a_send_right_after_the_node_s_clock_jumped_is_still_refused_while_muted(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's wall clock steps 2 minutes forward (a VM resumed, NTP stepped it) between
    two of its feed marks, with 1 minute of bob's mute left. A send's check told the store's
    time by that clock and the offset the last mark measured: it took the mute for ended and
    dropped it from the node's copy for good, so bob spoke there (telnet and HTTP) until the
    mute's end by the store's clock, and after the next mark too (clock58). The store's time
    is told by the monotonic clock since the last read now, and a mute leaves the copy only
    by the store's clock read or by an event."""
    jump = [timedelta(0)]
    skew_clock(monkeypatch, lambda: jump[0])
    app = await make_server()
    await open_hall(app)
    bob_telnet = await in_hall(app, "bob")
    await mute(app, "bob", 1)
    await bob_telnet.expect(r"bob was muted in #hall")

    marks = HeldCall(monkeypatch, Revocations, "mark")  # no mark measures the jump meanwhile
    await marks.until_reached()
    jump[0] = timedelta(minutes=2)
    await command(bob_telnet, "is it over?", r"^! you are muted in #hall for 1 more minute$")
    async with api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "over?"})
        assert r.status_code == 403 and "for 1 more minute" in r.text, (r.status_code, r.text)
        read = asyncio.Event()  # the store's clock read again since the jump (a mark's)
        observe = StoreClock.observe

        def noting(self: StoreClock, *args: Any) -> None:
            observe(self, *args)
            read.set()

        monkeypatch.setattr(StoreClock, "observe", noting)
        marks.let_go()
        async with asyncio.timeout(30):  # a mark reads it every MARK_EVERY seconds at most
            await read.wait()
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "and now?"})
        assert r.status_code == 403 and "for 1 more minute" in r.text, (r.status_code, r.text)
    await command(bob_telnet, "still?", r"^! you are muted in #hall for 1 more minute$")
    await bob_telnet.close()
    assert services(app).mutes.until("hall", "bob") is not None
