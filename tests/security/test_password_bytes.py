"""A password is kept exactly as typed, or refused when it is set (probe51 p6). Telnet read a
line's bytes that are not UTF-8 as U+FFFD and dropped its control characters: `pässwörd`
typed on a Latin-1 terminal was hashed as `p\\ufffdssw\\ufffdrd`, so any other such bytes
(`p\\x80ssw\\xffrd`) logged in too, eight Latin-1 letters were one password, and one
registered as `abc\\x1bdef\\x07g` logged in as `abcdefg`. A new password holding a control
character or U+FFFD is refused on every door (registration, a change, an admin's reset); a
telnet line that lost bytes on the way is refused as a new password with the advice to use
a UTF-8 terminal. Logins still take what existing accounts were registered with."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import basic, change_password, error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, services
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.errors import InvalidInput

UNKEPT = ["abc\x1bdef\x07g", "tab\there-ok", "p\ufffdssw\ufffdrd", "c1\x85control"]


@pytest.mark.parametrize("password", UNKEPT)
async def test_a_new_password_that_cannot_be_kept_is_refused_on_every_door(
    make_server: ServerFactory, password: str
) -> None:
    app = await make_server()
    async with api(app, "alice") as c:
        r = await c.post("/api/v1/users", json={"name": "bob", "password": password})
        assert "control character or U+FFFD" in error_of(r, 422), r.text
        await register(c, "alice")
        r = await change_password(c, password)
        assert "control character or U+FFFD" in error_of(r, 422), r.text
        assert (await c.get("/api/v1/me", auth=basic("alice"))).status_code == 200  # unchanged
    with pytest.raises(InvalidInput, match="control character or U\\+FFFD"):
        await services(app).accounts.set_password("alice", password)  # `torbit user passwd`
    irc = await RawIrc.connect(app)
    irc.send("NICK carol", f"REGISTER carol * :{password}")
    refused = await irc.expect("FAIL REGISTER")
    assert "WEAK_PASSWORD" in refused and "control character or U+FFFD" in refused, refused
    await irc.close()
    assert await services(app).store.get_user("bob") is None
    assert await services(app).store.get_user("carol") is None


async def _telnet(app: App, name: str) -> TelnetClient:
    """Up to the first password prompt, registering or logging in."""
    assert app.telnet_port is not None
    client = await TelnetClient.connect(app.telnet_port)
    await client.read_until("Name: ")
    client.send(name)
    return client


def _line(password: bytes) -> bytes:
    return password + b"\r\n"


LATIN1 = "p\u00e4ssw\u00f6rd".encode("latin-1")  # `pässwörd` from a Latin-1 terminal


@pytest.mark.parametrize(
    "typed",
    [LATIN1, "\u00e9".encode("latin-1") * 8, b"abc\x1bdef\x07g", "c1\u0085control".encode()],
    ids=["latin-1", "eight-latin-1", "c0-controls", "c1-control"],
)
async def test_a_telnet_password_that_lost_bytes_is_refused_at_registration(
    make_server: ServerFactory, typed: bytes
) -> None:
    app = await make_server()
    dave = await _telnet(app, "dave")
    await dave.read_until("Choose a password: ")
    dave.send_raw(_line(typed))
    await dave.expect(r"^! password refused: your terminal sent bytes that are not UTF-8")
    await dave.read_until("Choose a password: ")  # asked again, nothing registered
    assert await services(app).store.get_user("dave") is None
    dave.send_raw(_line("p\u00e4ssw\u00f6rd".encode()))  # from a UTF-8 terminal: kept as typed
    await dave.read_until("Repeat the password: ")
    dave.send_raw(_line("p\u00e4ssw\u00f6rd".encode()))
    await dave.expect(r"^\* you are in #")
    await dave.close()
    async with api(app, "dave") as c:
        r = await c.get("/api/v1/me", auth=basic("dave", "p\u00e4ssw\u00f6rd"))
        assert r.status_code == 200, r.text
        r = await c.get("/api/v1/me", auth=basic("dave", "p\ufffdssw\ufffdrd"))
        assert r.status_code == 401, r.text


async def test_an_account_registered_with_a_replaced_password_still_logs_in(
    make_server: ServerFactory,
) -> None:
    """Before, a Latin-1 `pässwörd` was kept as `p\\ufffdssw\\ufffdrd`: that account is not
    locked out, and a login with other lost bytes that fails says what the terminal did."""
    app = await make_server()
    core = services(app)
    async with api(app, "erin") as c:
        await register(c, "erin")
    user = await core.accounts.get("erin")
    legacy = await core.accounts.hashing.hash("p\ufffdssw\ufffdrd")  # what telnet hashed
    assert await core.store.set_password_hash(user.key, legacy, expected=user.password_hash)
    erin = await _telnet(app, "erin")
    await erin.read_until("Password: ")
    erin.send_raw(_line(LATIN1))
    await erin.expect(r"^\* you are in #")
    await erin.close()
    erin = await _telnet(app, "erin")
    await erin.read_until("Password: ")
    erin.send_raw(_line(b"\xe4\xe4"))
    await erin.expect(r"^! wrong name or password \(your terminal sent bytes that are not UTF-8")
    await erin.close()
