"""A JOIN the core refuses is answered with the numeric that says why, on the channel tried
(clients show it there), never with a bare NOTICE."""

from __future__ import annotations

from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.irc import irc_user


async def test_a_refused_join_is_answered_with_a_numeric(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """Past the join rate: 437 (try again later), not a NOTICE, so clients show it on the
    channel they tried."""
    app = await make_server(irc={"guests": True}, limits={"join_rate": 0.001, "join_burst": 2})
    ivy = await irc_user(app, "ivy", join=("#one", "#two"))
    cleanup.append(ivy)
    await ivy.rawmsg("JOIN", "#three")
    refused = await ivy.expect("437", "ivy", "#three")
    assert "slow down" in refused.params[2]
    await ivy.settle()
    assert not any(m.command == "JOIN" and m.params[0] == "#three" for m in ivy.seen)
