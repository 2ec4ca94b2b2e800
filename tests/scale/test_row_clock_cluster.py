"""Node a's wall clock runs a day behind the store's (a VM resumed, NTP); node b's is right
(this test's other process, on the machine's clock, as PostgreSQL's). A message sent on a
was dated by a's clock (rowclock60): every read on b hid it at once (`/receive`, a telnet
join), as older than the retention by the store's time. It is dated by the store's time
as a tells it now (core/storeclock.py), and b shows it."""

from __future__ import annotations

import asyncio
import datetime as datetime_module
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.helpers.http import basic
from tests.helpers.moderation import command, in_hall, open_hall
from tests.helpers.telnet_client import TelnetClient
from tests.integration.test_token_clock_step import step_wall_clock
from tests.scale.conftest import NodeFactory, ProcessFactory
from tests.security.conftest import basic_header, http_from
from torbit.backends.registry import open_store
from torbit.cli import app as cli_app

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

DAY = timedelta(days=1)
SLACK = timedelta(seconds=5)


async def test_a_message_sent_on_a_node_a_day_behind_is_read_on_another(
    make_node: NodeFactory, make_process: ProcessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention 24 h. On a (a day behind) alice sends over HTTP (`POST /send`) and bob over
    telnet; on b carol `/receive`s and dave joins #hall by telnet: both show both messages,
    dated by the store's time (on main: neither door on b showed either, 0 of 2)."""
    b = make_process("b", TORBIT_CHAT__RETENTION_HOURS="24")
    await asyncio.to_thread(b.start)
    try:
        step_wall_clock(monkeypatch, lambda: -DAY)
        a = await make_node("a", chat={"retention_hours": 24})
        before = datetime.now(UTC)
        await open_hall(a, "dave")
        async with http_from(a) as client:
            r = await client.post(
                "/send/hall/alice", content="by http", headers=basic_header("alice")
            )
            assert r.status_code == 201, r.text
        bob = await in_hall(a, "bob")
        await command(bob, "by telnet", r"<bob> by telnet$")
        await bob.close()
        after = datetime.now(UTC)

        url = f"http://127.0.0.1:{b.http_port}"
        async with httpx.AsyncClient(base_url=url, timeout=20) as on_b:
            # dave's line, sent on b after a's were stored: b has read the room's log up
            # to it (one partition, in order) once carol's reads reach it
            r = await on_b.post("/send/hall/dave", content="marker", auth=basic("dave"))
            assert r.status_code == 201, r.text
            got: list[dict[str, str]] = []
            async with asyncio.timeout(30):
                while not any(m["text"] == "marker" for m in got):
                    r = await on_b.get("/receive/hall/carol", auth=basic("carol"))
                    assert r.status_code == 200, r.text
                    got += r.json()["messages"]
        got = [m for m in got if m["text"] != "marker"]
        assert [m["text"] for m in got] == ["by http", "by telnet"], got
        for m in got:
            at = datetime.fromisoformat(m["sent_at"])
            assert before - SLACK <= at <= after + SLACK, m

        assert b.telnet_port is not None
        dave = await TelnetClient.connect(b.telnet_port)
        await dave.login("dave", "secret-pw")
        await command(dave, "/join hall", r"^\* you are (already )?in #hall")
        await command(dave, "shown after the history", r"<dave> shown after the history$")
        shown = [s for s in dave.seen if "<alice> by http" in s or "<bob> by telnet" in s]
        assert len(shown) == 2, dave.seen
        await dave.close()
    finally:
        b.kill()


def test_the_cli_on_a_machine_a_day_behind_dates_a_room_by_the_store_s_clock(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torbit room add` on a machine whose clock runs a day behind PostgreSQL's: the room
    was dated by the machine's clock, a day old at once (a node's floor then hid every
    message sent to it for the day; `Membership.floor`). The CLI reads the store's clock
    once now and dates the room by it."""
    monkeypatch.setenv("TORBIT_STORAGE__URL", pg_url)
    monkeypatch.setenv("TORBIT_LOG__DIR", str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)

    class Behind(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) - DAY

    step_wall_clock(monkeypatch, lambda: -DAY)  # the modules' own `datetime`
    monkeypatch.setattr(datetime_module, "datetime", Behind)  # and one imported in a call
    before = datetime.now(UTC)
    done = CliRunner().invoke(cli_app, ["room", "add", "clidated"])
    after = datetime.now(UTC)
    assert done.exit_code == 0, done.output

    async def made() -> datetime:
        store = open_store(pg_url)
        await store.open()
        try:
            room = await store.get_room("clidated")
        finally:
            await store.close()
        assert room is not None
        return room.created_at

    created = asyncio.run(made())
    assert before - SLACK <= created <= after + SLACK, created - before
