"""ignore63 on two nodes sharing PostgreSQL and Kafka: alice joins #hall on node b, held
while its history is shown (tests/security/test_ignore_during_replay.py's holds), and her
ignore list changes on node a (`PUT`/`DELETE /api/v1/me/ignores/bob`, answered once every
node applied it: a settled node event). bob posts on node a; carol, live in #hall on node
b, is the witness that each line reached node b. Counted: what alice is shown of bob's."""

from __future__ import annotations

import pytest

from tests.helpers.moderation import api
from tests.helpers.telnet_client import TelnetClient
from tests.scale.conftest import NodeFactory
from tests.security.test_ignore_during_replay import (
    WINDOWS,
    Holder,
    _replay,
    held_names,
    post,
    set_ignore,
)
from tests.security.test_put_out_during_replay import put_out_replay
from torbit.app import App

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.usefixtures("patient_settling")]


@pytest.mark.parametrize("on", [True, False], ids=["ignore", "unignore"])
@pytest.mark.parametrize(("kind", "holder"), WINDOWS)
@pytest.mark.parametrize("scale_store", ["postgresql"])
async def test_an_ignore_list_changed_on_another_node_during_a_joins_history(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    holder: Holder,
    on: bool,
) -> None:
    """An ignore on node a: none of bob's lines on node b (on main: "held", and "old" on
    IRC with NAMES held). An unignore: his line after it, and the history if written after
    it, never the line held while he was ignored."""
    a, b = await make_node("a"), await make_node("b")

    async def meanwhile(carol: TelnetClient) -> None:
        await post(a, "bob", "held", carol)
        await set_ignore(a, on)
        await post(a, "bob", "after", carol)

    async def ignoring() -> None:
        await set_ignore(a, True)

    before = None if on else ignoring
    door = await _replay(a, monkeypatch, kind, holder, meanwhile, before, near=b)
    heard = [line.rsplit(" ", 1)[-1].lstrip(":") for line in door.heard("bob")]
    if on:
        assert heard == []
    else:
        assert heard == (["after"] if holder is held_names else ["old", "after"])
    await door.close()


async def kick_over_http(app: App, owner: TelnetClient) -> None:
    """alice kicks mal from #hall over HTTP on `app` (node a)."""
    async with api(app, "alice") as c:
        r = await c.delete("/api/v1/rooms/hall/members/mal")
        assert r.status_code in (200, 204), r.text


@pytest.mark.parametrize(("kind", "holder"), WINDOWS)
@pytest.mark.parametrize("scale_store", ["postgresql"])
async def test_a_kick_on_another_node_during_a_joins_history(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, kind: str, holder: Holder
) -> None:
    """mal, joining on node b, kicked on node a: shown none of bob's lines (on main: IRC
    with NAMES held showed "old" and "before" after the KICK)."""
    a, b = await make_node("a"), await make_node("b")
    door = await put_out_replay(a, monkeypatch, kind, holder, kick_over_http, near=b)
    assert door.heard("bob") == []
    await door.close()
