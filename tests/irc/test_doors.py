"""IRC clients (pydle) in the same rooms as telnet and WebSocket users, on a real server: what
one door says reaches the others in the same order with the same ids; joins, parts, kicks,
bans, private messages and ignores work across doors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD
from tests.helpers.irc import irc_user
from tests.helpers.telnet_client import TelnetClient
from tests.irc.conftest import ws_expect, ws_subscribe, ws_user
from torbit.app import App

Accounts = Callable[..., Awaitable[None]]


async def telnet_user(app: App, name: str, room: str, cleanup: list[Any]) -> TelnetClient:
    assert app.telnet_port is not None
    tel = await TelnetClient.connect(app.telnet_port)
    cleanup.append(tel)
    await tel.login(name)
    if room != "lobby":
        tel.send(f"/join {room}")
        await tel.expect(rf"you are in #{room}")
    return tel


async def test_irc_telnet_and_websocket_users_share_a_room(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina", "wes")
    tel = await telnet_user(app, "tina", "gen", cleanup)
    ws = await ws_user(app, "wes")
    cleanup.append(ws)
    await ws_subscribe(ws, "gen")
    ivy = await irc_user(app, "ivy", join=("#gen",))
    cleanup.append(ivy)
    await tel.expect(r"\* ivy joined #gen")
    await ws_expect(ws, "notice", "ivy joined #gen")
    names = ivy.find("353", "ivy", "=", "#gen")
    assert {"tina", "wes"} <= {n.split("!")[0].lstrip("~@") for n in names.params[3].split()}

    await ivy.message("#gen", "hello from irc")
    await tel.expect(r"<ivy> hello from irc$")
    first = await ws_expect(ws, "message", "hello from irc")
    echo = await ivy.expect("PRIVMSG", "#gen", "hello from irc")  # echo-message
    assert echo.tags["msgid"] == f"gen-{first['message']['id']}"

    tel.send("one from telnet")
    await ws.send(json.dumps({"type": "send", "room": "gen", "text": "two from the web"}))
    web_order = [(await ws_expect(ws, "message"))["message"] for _ in range(2)]
    irc_order = [await ivy.expect("PRIVMSG", "#gen") for _ in range(2)]
    assert [m.params[1] for m in irc_order] == [m["text"] for m in web_order]
    assert [m.tags["msgid"] for m in irc_order] == [f"gen-{m['id']}" for m in web_order]
    by_text = {m.params[1]: m.source.split("!")[0] for m in irc_order}
    assert by_text == {"one from telnet": "tina", "two from the web": "wes"}
    assert irc_order[0].tags["account"] in ("tina", "wes")  # account-tag


async def test_an_account_logs_in_with_sasl_and_sees_history_on_join(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("amy", "tina", "wes")
    tel = await telnet_user(app, "tina", "alpha", cleanup)
    tel.send("earlier in alpha")
    await tel.expect("<tina> earlier in alpha")
    ws = await ws_user(app, "wes")
    cleanup.append(ws)
    await ws_subscribe(ws, "beta")
    await ws.send(json.dumps({"type": "send", "room": "beta", "text": "earlier in beta"}))
    await ws_expect(ws, "message", "earlier in beta")

    amy = await irc_user(app, "whoever", sasl_username="amy", sasl_password=PASSWORD)
    cleanup.append(amy)
    assert amy.find("900").params[2] == "amy"
    welcome = next(m for m in amy.seen if m.command == 1)
    assert welcome.params[0] == "amy"  # the account's name is its nick
    for room, text in (("alpha", "earlier in alpha"), ("beta", "earlier in beta")):
        await amy.join(f"#{room}")
        await amy.expect("366", "amy", f"#{room}")
        line = await amy.expect("PRIVMSG", f"#{room}")
        assert line.params[1].endswith(text)  # "[HH:MM:SS] text": it has no server-time
    await amy.message("#alpha", "hi tina")
    await tel.expect("<amy> hi tina")
    await amy.rawmsg("WHOIS", "amy")
    await amy.expect("330", "amy", "amy", "amy")


async def test_a_room_admin_on_telnet_kicks_and_bans_an_irc_user(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("olga", "ivan")
    olga = await telnet_user(app, "olga", "lobby", cleanup)
    olga.send("/create den")
    await olga.expect("you are in #den")
    ivan = await irc_user(app, "x", sasl_username="ivan", sasl_password=PASSWORD, join=("#den",))
    cleanup.append(ivan)
    names = ivan.find("353", "ivan", "=", "#den")
    assert "~@olga!olga@torbit" in names.params[3].split()  # the owner (multi-prefix, uhnames)

    olga.send("/kick ivan")
    kick = await ivan.expect("KICK", "#den", "ivan")
    assert kick.source.startswith("olga!")
    await olga.expect("ivan was kicked from #den by olga")
    await ivan.join("#den")
    await ivan.expect("366", "ivan", "#den")
    olga.send("/ban ivan")
    await ivan.expect("MODE", "#den", "+b", "ivan!*@*")
    await ivan.expect("KICK", "#den", "ivan")
    await ivan.join("#den")
    await ivan.expect("474", "ivan", "#den")
    await ivan.message("#den", "let me in")
    await ivan.expect("404", "ivan", "#den")


async def test_an_irc_room_admin_moderates_telnet_users(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("olga", "ivan", "tom")
    olga = await telnet_user(app, "olga", "lobby", cleanup)
    olga.send("/create den")
    await olga.expect("you are in #den")
    tom = await telnet_user(app, "tom", "den", cleanup)
    ivan = await irc_user(app, "x", sasl_username="ivan", sasl_password=PASSWORD, join=("#den",))
    cleanup.append(ivan)
    await ivan.rawmsg("KICK", "#den", "tom", "no")
    await ivan.expect("482", "ivan", "#den")  # not an admin yet
    olga.send("/op ivan")
    await ivan.expect("MODE", "#den", "+o", "ivan")
    await ivan.rawmsg("TOPIC", "#den", "IRC sets the topic")
    await ivan.expect("TOPIC", "#den", "IRC sets the topic")
    await tom.expect("ivan set the topic of #den: IRC sets the topic")
    await ivan.rawmsg("KICK", "#den", "tom", "enough")
    await tom.expect(r"you were kicked from #den by ivan \(enough\)")
    await ivan.expect("KICK", "#den", "tom", "enough")
    await ivan.rawmsg("KICK", "#den", "olga")
    await ivan.expect("482", "ivan", "#den")  # the owner outranks an admin
    await ivan.rawmsg("MODE", "#den", "+b", "tom!*@*")
    await ivan.expect("MODE", "#den", "+b", "tom!*@*")
    await ivan.rawmsg("MODE", "#den", "b")
    await ivan.expect("367", "ivan", "#den", "tom!*@*")
    await ivan.expect("368", "ivan", "#den")


async def test_private_messages_cross_doors(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina", "ivan", "wes")
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    ws = await ws_user(app, "wes")
    cleanup.append(ws)
    ivan = await irc_user(app, "x", sasl_username="ivan", sasl_password=PASSWORD)
    cleanup.append(ivan)
    await ivan.message("tina", "psst tina")
    await tel.expect(r"\(private\) <ivan> psst tina")
    await ivan.message("wes", "psst wes")
    frame = await ws_expect(ws, "message", "psst wes")
    assert frame["message"]["kind"] == "private" and frame["message"]["sender"] == "ivan"
    tel.send("/msg ivan hello back")
    back = await ivan.expect("PRIVMSG", "ivan", "hello back")
    assert back.source.startswith("tina!")
    await ivan.message("nobody", "hello?")
    await ivan.expect("401", "ivan", "nobody")


async def test_joins_parts_and_quits_show_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina", "wes")
    tel = await telnet_user(app, "tina", "gen", cleanup)
    ivy = await irc_user(app, "ivy", join=("#gen",))
    cleanup.append(ivy)
    await tel.expect(r"\* ivy joined #gen")
    ws = await ws_user(app, "wes")
    cleanup.append(ws)
    await ws_subscribe(ws, "gen")
    await ivy.expect("JOIN", "#gen", where=lambda m: m.source.startswith("wes!"))
    await ivy.part("#gen", "see you")
    await ivy.expect("PART", "#gen", "see you")
    await tel.expect(r"ivy left #gen \(see you\)")
    await ws_expect(ws, "notice", "ivy left #gen (see you)")
    await ivy.join("#gen")
    await tel.expect(r"\* ivy joined #gen")
    tel.send("/leave")
    await ivy.expect("PART", "#gen", where=lambda m: m.source.startswith("tina!"))
    await ivy.quit("gone fishing")
    await ws_expect(ws, "notice", "ivy left #gen (gone fishing)")


async def test_silence_and_ignore_are_one_list_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina", "ivan")
    tel = await telnet_user(app, "tina", "gen", cleanup)
    ivan = await irc_user(app, "x", sasl_username="ivan", sasl_password=PASSWORD, join=("#gen",))
    cleanup.append(ivan)
    await ivan.rawmsg("SILENCE", "+tina!*@*")
    await ivan.expect("SILENCE", "+tina!*@*")
    tel.send("/ignored")
    tel.send("say one")  # ivan ignores tina: it never reaches him
    await tel.expect("<tina> say one")
    await ivan.rawmsg("SILENCE")
    await ivan.expect("271", "ivan", "ivan", "tina!*@*")
    await ivan.expect("272", "ivan")
    assert not [m for m in ivan.received("PRIVMSG") if "say one" in m.params[1]]
    await ivan.rawmsg("SILENCE", "-tina")
    await ivan.expect("SILENCE", "-tina!*@*")
    tel.send("say two")
    await ivan.expect("PRIVMSG", "#gen", "say two")


async def test_leaving_one_of_several_sessions_is_a_part_not_a_quit(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina")
    await telnet_user(app, "tina", "gen", cleanup)  # tina stays in #gen on telnet
    watcher = await irc_user(app, "ivy", join=("#gen", "#dev"))
    tina = await irc_user(app, "x", sasl_username="tina", sasl_password=PASSWORD, join=("#dev",))
    cleanup += [watcher, tina]
    await watcher.expect("JOIN", "#dev", where=lambda m: m.source.startswith("tina!"))
    await tina.quit("bye")
    part = await watcher.expect("PART", "#dev", where=lambda m: m.source.startswith("tina!"))
    assert part.params[1] == "Quit: bye"
    await watcher.settle()
    assert not [m for m in watcher.received("QUIT") if m.source.startswith("tina!")]
