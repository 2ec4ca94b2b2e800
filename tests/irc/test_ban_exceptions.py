"""Ban and invite exceptions on the IRC door (`MODE #room +e mask`, `+I mask`,
core/banmasks.py): a client matching a ban exception is not barred by the room's ban masks,
and lifting one puts out the members listening that a ban mask then bars; a client matching
an invite exception joins the invite-only room uninvited (not past a ban or the key). Both are
listed (348/349, 346/347) with who set them and when, advertised (EXCEPTS, INVEX, CHANMODES,
MAXLIST) and bounded (478)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc, raw_guest
from torbit.app import App
from torbit.core.banmasks import MAX_BAN_MASKS


async def _server(make_server: ServerFactory) -> App:
    return await make_server(irc={"guests": True}, limits={"moderation_rate": 0})


async def test_an_exception_lets_in_whom_a_ban_mask_bars_and_its_lifting_puts_them_out(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")
    op.send("MODE #den +b ba*!*@*")
    await op.expect("MODE #den +b ba*!*@*")
    bar = await raw_guest(app, "Bar")
    bar.send("JOIN #den")
    await bar.expect(" 474 Bar #den ")
    op.send("MODE #den +e *AR!*@*")  # CASEMAPPING=ascii: stored folded
    await op.expect(":chanop!~chanop@irc.torbit MODE #den +e *ar!*@*")
    bar.send("JOIN #den")
    await bar.expect(" 366 Bar #den ")
    baz = await raw_guest(app, "baz")  # matches the ban, not the exception
    baz.send("JOIN #den")
    await baz.expect(" 474 baz #den ")
    bar.send("MODE #den +e")  # any member may list
    listed = await bar.expect(" 348 ")
    assert listed.split()[2:6] == ["Bar", "#den", "*ar!*@*", "chanop"]
    await bar.expect(" 349 Bar #den ")
    bar.send("MODE #den -e *ar!*@*")  # only the room's admins
    await bar.expect(" 482 Bar #den ")
    op.send("MODE #den -e *ar!*@*")
    await op.expect("MODE #den -e *ar!*@*")
    await bar.expect("KICK #den Bar :banned: ba*!*@*")  # the ban mask bars bar again
    bar.send("JOIN #den")
    await bar.expect(" 474 Bar #den ")
    op.send("MODE #den +e")
    await op.expect(" 349 chanop #den ")


async def test_a_ban_mask_set_after_an_exception_leaves_the_excepted_members_in(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")
    good = await raw_guest(app, "goodguy", "#den")
    pest = await raw_guest(app, "pest", "#den")
    op.send("MODE #den +e goodguy")  # a nick alone: goodguy!*@*
    await op.expect("MODE #den +e goodguy!*@*")
    op.send("MODE #den +b *!*@127.0.0.1")  # everyone here comes from that address
    await op.expect("MODE #den +b *!*@127.0.0.1")
    await pest.expect("KICK #den pest :banned: *!*@127.0.0.1")
    good.send("PRIVMSG #den :still in", "NAMES #den")
    await op.expect(":goodguy!~goodguy@irc.torbit PRIVMSG #den :still in")
    names = await good.expect(" 353 goodguy ")
    assert "goodguy" in names.split(":")[-1].split() and "pest" not in names
    assert not any(" KICK #den goodguy" in line for line in op.lines + good.lines)


async def test_exceptions_are_advertised_and_bounded(make_server: ServerFactory) -> None:
    app = await _server(make_server)
    op = await RawIrc.connect(app)
    op.send("NICK chanop", "USER chanop 0 * :chanop", "CAP END")
    tokens = (await op.expect("MAXLIST=")).split()
    assert "EXCEPTS=e" in tokens and "INVEX=I" in tokens
    assert f"MAXLIST=b:{MAX_BAN_MASKS},e:{MAX_BAN_MASKS},I:{MAX_BAN_MASKS}" in tokens
    assert next(t for t in tokens if t.startswith("CHANMODES=")).split(",")[0] == "CHANMODES=beI"
    await op.expect(" 376 ")
    op.send("JOIN #den")
    await op.expect(" 366 chanop #den ")
    masks = [f"n{i}!*@*" for i in range(MAX_BAN_MASKS)]
    for i in range(0, MAX_BAN_MASKS, 4):
        op.send(f"MODE #den +eeee {' '.join(masks[i : i + 4])}")
    await op.expect(f"MODE #den +e {masks[-1]}")
    op.send("MODE #den +e one!too@many")
    await op.expect(" 478 chanop #den e ")
    op.send("MODE #den +b still!room@for.bans")  # each list has its own bound
    await op.expect("MODE #den +b still!room@for.bans")
    op.send("MODE #den +I still!room@for.invites")
    await op.expect("MODE #den +I still!room@for.invites")
    op.send("MODE #den +e a,b!*@*")
    await op.expect("NOTICE chanop :invalid ban mask")
    op.send("MODE #den -e n0!*@*", "MODE #den +e one!too@many")
    await op.expect("MODE #den +e one!too@many")


async def test_an_invite_exception_lets_whoever_matches_join_an_invite_only_room(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    op = await raw_guest(app, "chanop", "#den")
    op.send("MODE #den +i")
    await op.expect("MODE #den +i")
    bar = await raw_guest(app, "Bar")
    bar.send("JOIN #den")
    await bar.expect(" 473 Bar #den ")
    op.send("MODE #den +I BAR!*@*")
    await op.expect(":chanop!~chanop@irc.torbit MODE #den +I bar!*@*")
    bar.send("JOIN #den")
    await bar.expect(" 366 Bar #den ")
    baz = await raw_guest(app, "baz")
    baz.send("JOIN #den")
    await baz.expect(" 473 baz #den ")
    bar.send("MODE #den +I")  # any member may list
    listed = await bar.expect(" 346 ")
    assert listed.split()[2:6] == ["Bar", "#den", "bar!*@*", "chanop"]
    await bar.expect(" 347 Bar #den ")
    bar.send("PART #den")
    await bar.expect("PART #den")
    op.send("MODE #den +k sesame")  # the key still holds for whom an exception lets in
    await op.expect("MODE #den +k sesame")
    bar.send("JOIN #den")
    await bar.expect(" 475 Bar #den ")
    op.send("MODE #den +b bar!*@*")  # and so does a ban
    await op.expect("MODE #den +b bar!*@*")
    bar.send("JOIN #den sesame")
    await bar.expect(" 474 Bar #den ")
    op.send("MODE #den -b bar!*@*", "MODE #den -I bar!*@*")
    await op.expect("MODE #den -I bar!*@*")
    bar.send("JOIN #den sesame")
    await bar.expect(" 473 Bar #den ")
    op.send("MODE #den +I")
    await op.expect(" 347 chanop #den ")
