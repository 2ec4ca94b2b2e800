"""Ban masks on the IRC door (core/banmasks.py): `MODE #room +b nick!user@host` with
wildcards bars whoever matches, guests to come and addresses included, puts out the members
who match it now, lists with who set it and when, and is bounded (MAXLIST, 478)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc, raw_guest
from torbit.app import App
from torbit.core.banmasks import MAX_BAN_MASKS


async def _server(make_server: ServerFactory) -> App:
    return await make_server(irc={"guests": True}, limits={"moderation_rate": 0})


async def test_an_address_mask_bars_a_guest_who_comes_back_under_another_nick(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")  # founded the guest's room: its admin
    pest = await raw_guest(app, "pest", "#den")
    op.send("MODE #den +b *!*@127.0.0.1")
    await op.expect("MODE #den +b *!*@127.0.0.1")
    await pest.expect("KICK #den pest")  # a member who matches is put out at once
    op.send("PRIVMSG #den :still here")  # the room's admin is not barred by a mask
    pest.send("QUIT :bye")
    await pest.expect("ERROR")
    again = await raw_guest(app, "newface")  # the same address, a new guest
    again.send("JOIN #den")
    await again.expect(" 474 newface #den ")
    op.send("MODE #den +b")
    listed = await op.expect(" 367 ")
    assert listed.split()[3:6] == ["#den", "*!*@127.0.0.1", "chanop"]
    await op.expect(" 368 chanop #den ")
    op.send("MODE #den -b *!*@127.0.0.1")
    await op.expect("MODE #den -b *!*@127.0.0.1")
    again.send("JOIN #den")
    await again.expect(" 366 newface #den ")


async def test_a_nick_mask_bars_nicks_nobody_holds_yet_whatever_their_case(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")
    op.send("MODE #den +b BAD*!*@*")  # CASEMAPPING=ascii: stored folded
    await op.expect("MODE #den +b bad*!*@*")
    bad = await raw_guest(app, "BadGuy")
    bad.send("JOIN #den")
    await bad.expect(" 474 BadGuy #den ")
    good = await raw_guest(app, "goodguy", "#den")
    good.send("MODE #den +b")  # any member may list
    await good.expect(" 367 goodguy #den bad*!*@* chanop ")
    op.send("MODE #den -b bad*!*@*")
    await op.expect("MODE #den -b bad*!*@*")
    bad.send("JOIN #den")
    await bad.expect(" 366 BadGuy #den ")
    op.send("MODE #den +b goodguy")  # a guest's nick alone: goodguy!*@*, a mask
    await op.expect("MODE #den +b goodguy!*@*")
    await good.expect("KICK #den goodguy :banned: goodguy!*@*")
    good.send("QUIT :bye")
    await good.expect("ERROR")
    back = await raw_guest(app, "GoodGuy")  # the guest's account went with it; the mask stays
    back.send("JOIN #den")
    await back.expect(" 474 GoodGuy #den ")


async def test_the_ban_list_is_bounded_and_bad_masks_are_refused(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await RawIrc.connect(app)
    op.send("NICK chanop", "USER chanop 0 * :chanop", "CAP END")
    assert f"MAXLIST=b:{MAX_BAN_MASKS}," in await op.expect("MAXLIST=")
    await op.expect(" 376 ")
    op.send("JOIN #den")
    await op.expect(" 366 chanop #den ")
    masks = [f"n{i}!*@*" for i in range(MAX_BAN_MASKS)]
    for i in range(0, MAX_BAN_MASKS, 4):
        op.send(f"MODE #den +bbbb {' '.join(masks[i : i + 4])}")
    await op.expect(f"MODE #den +b {masks[-1]}")
    op.send("MODE #den +b one!too@many")
    await op.expect(" 478 chanop #den b ")
    op.send("MODE #den +b " + "x" * 130 + "!*@*")
    await op.expect("NOTICE chanop :a ban mask is 1-128 characters")
    op.send("MODE #den +b a,b!*@*")
    await op.expect("NOTICE chanop :invalid ban mask")
    op.send("MODE #den -b n0!*@*", "MODE #den +b one!too@many")
    await op.expect("MODE #den +b one!too@many")


async def test_a_mask_bars_messages_from_outside_too(make_server: ServerFactory) -> None:
    """A room that takes non-members' messages (-n) takes none from a client matching one
    of its masks, as from a banned account; others outside still get through."""
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")
    op.send("MODE #den -n", "MODE #den +b pest!*@*")
    await op.expect("MODE #den +b pest!*@*")
    pest = await raw_guest(app, "pest")
    pest.send("PRIVMSG #den :from outside")
    await pest.expect(" 404 pest #den :Cannot send to channel: you are banned from #den")
    other = await raw_guest(app, "other")
    other.send("PRIVMSG #den :also from outside")
    await op.expect(":other!~other@irc.torbit PRIVMSG #den :also from outside")
    assert not any("from outside" in line for line in op.lines if "pest" in line)
