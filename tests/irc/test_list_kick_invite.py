"""Small commands serious servers have, which irctest skipped torbit for (each was skipped on
main, and failed here): LIST by mask and by not-mask (ISUPPORT ELIST=MNU), KICK of several
users at once and RFC 2812's channel-by-user pairs (TARGMAX KICK:4), INVITE alone listing
the client's invitations (336, 337), and HELPOP as HELP."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc
from torbit.app import App


async def _user(app: App, nick: str, cleanup: list[Any]) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register(nick)
    return raw


async def _replies(raw: RawIrc, line: str) -> list[str]:
    """The lines answering `line`, up to a PING's answer."""
    start = len(raw.lines)
    raw.send(line, "PING :sync")
    await raw.expect(" PONG torbit sync")
    return raw.lines[start:-1]


def _listed(lines: list[str]) -> set[str]:
    return {line.split(" ")[3] for line in lines if line.split(" ")[1] == "322"}


def test_glob_match_is_linear_and_right() -> None:
    from torbit.frontends.irc.channels import glob_match  # new: main has none

    assert glob_match("*an1", "#chan1") and not glob_match("*an1", "#chan2")
    assert glob_match("#c?an*", "#chan2") and glob_match("*", "") and not glob_match("?", "")
    assert not glob_match("*a" * 300 + "b", "a" * 60)  # no backtracking blow-up


async def test_list_by_mask_and_not_mask(app: App, cleanup: list[Any]) -> None:
    """On main a mask was no room name: `LIST *an1` listed every room, and ELIST said U."""
    foo = await _user(app, "foo", cleanup)
    bar = await _user(app, "bar", cleanup)
    assert any(" ELIST=MNU " in line for line in bar.lines), "ELIST=MNU advertised"
    assert any(" TARGMAX=" in line and "KICK:4" in line for line in bar.lines)
    foo.send("JOIN #chan1", "JOIN #chan2", "JOIN #other")
    await foo.expect(" 366 foo #other ")
    assert _listed(await _replies(bar, "LIST *an1")) == {"#chan1"}
    assert _listed(await _replies(bar, "LIST #C*N2")) == {"#chan2"}
    assert _listed(await _replies(bar, "LIST #ch*")) == {"#chan1", "#chan2"}
    assert _listed(await _replies(bar, "LIST *an1,*her")) == {"#chan1", "#other"}
    assert _listed(await _replies(bar, "LIST !*an1")) == {"#chan2", "#other"}
    assert _listed(await _replies(bar, "LIST !#ch*")) == {"#other"}
    assert _listed(await _replies(bar, "LIST *an3")) == set()


async def test_kick_several_users_and_channel_user_pairs(app: App, cleanup: list[Any]) -> None:
    """On main `KICK #a,#b x,y` found no channel `#a,#b` (403)."""
    op = await _user(app, "op", cleanup)
    x = await _user(app, "x", cleanup)
    y = await _user(app, "y", cleanup)
    op.send("JOIN #a", "JOIN #b")
    await op.expect(" 366 op #b ")
    for raw in (x, y):
        raw.send("JOIN #a", "JOIN #b")
        await raw.expect(" 366 ")
    said = await _replies(op, "KICK #a,#b x,y :bye")
    kicks = [line.split(" ", 1)[1] for line in said if " KICK " in line]
    assert kicks == ["KICK #a x bye", "KICK #b y bye"], said
    said = await _replies(op, "KICK #a,#b y :uneven")
    assert [line for line in said if " 461 op KICK " in line], said
    said = await _replies(op, "KICK #b x :not in it")  # x is still in #b: kicked
    assert [line for line in said if " KICK #b x " in line], said


async def test_invite_alone_lists_ones_invitations(app: App, cleanup: list[Any]) -> None:
    """On main INVITE without parameters was 461."""
    foo = await _user(app, "foo", cleanup)
    bar = await _user(app, "bar", cleanup)
    assert [line for line in await _replies(bar, "INVITE") if " 337 bar " in line]
    foo.send("JOIN #chan", "INVITE bar #chan")
    await foo.expect(" 341 ")
    said = await _replies(bar, "INVITE")
    assert [line.split(" ", 2)[2] for line in said if " 33" in line] == [
        "bar #chan",
        "bar :End of /INVITE list",
    ], said


async def test_helpop_is_help(app: App, cleanup: list[Any]) -> None:
    """On main HELPOP was 421, unknown."""
    foo = await _user(app, "foo", cleanup)
    await foo.expect("You are a guest")  # the NOTICE after registering
    said = await _replies(foo, "HELPOP")
    assert said[0].split(" ")[1] == "704" and said[-1].split(" ")[1] == "706", said
    said = await _replies(foo, "HELPOP NOSUCHTHING")
    assert said[0].split(" ")[1] == "524", said
