"""A node killed with IRC guests online leaves their accounts in the store; the next start on
one node sweeps them (core/guests.py `sweep`). The sweep ran before the message log did, and a
guest's release tells every node its memberships ended through the log: the node refused to
start ("message log unavailable: it is not running") for as long as one was left (the attack
pass of stop 51, after `kill -9` with one guest in #lobby)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ServerFactory


async def test_a_start_after_a_crash_sweeps_the_guests_left_over(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server(data_dir=tmp_path, irc={"guests": True})
    assert app.core is not None
    # what a guest online at the crash leaves: its account and its membership, no session
    await app.core.guests.admit("crashg")
    await app.core.membership.become_member("crashg", "lobby")
    await app.stop()
    again = await make_server(data_dir=tmp_path, irc={"guests": True})
    assert again.core is not None
    assert await again.core.store.get_user("crashg") is None
    assert "crashg" not in await again.core.store.list_members("lobby")
