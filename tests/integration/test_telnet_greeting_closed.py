"""With `chat.registration = "closed"` the telnet greeting still said "Log in with your
name, or pick a new one to register.": a newcomer picked one, was asked a password, and
was told "wrong name or password". The greeting says registration is closed now (the
dialogue itself is unchanged: a name unknown or not is asked its password alike)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient


async def test_a_closed_server_does_not_invite_new_names(make_server: ServerFactory) -> None:
    app = await make_server(chat={"registration": "closed"})
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    greeting = await telnet.read_until("Name: ")
    assert "pick a new one to register" not in greeting, greeting
    assert (
        "torbit chat server. Log in with your name (registration is closed: an administrator"
        " adds accounts)." in greeting
    ), greeting
    await telnet.close()


async def test_an_open_server_still_does(make_server: ServerFactory) -> None:
    app = await make_server()
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    greeting = await telnet.read_until("Name: ")
    assert "Log in with your name, or pick a new one to register." in greeting, greeting
    await telnet.close()
