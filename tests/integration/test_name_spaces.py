"""Names typed with spaces that are not ASCII (U+00A0 no-break, U+3000 ideographic, as input
methods and pasted text give them). Around a name at the telnet login they are trimmed like
ASCII spaces (kept so: Python's strip takes them); anywhere else a name holding one is
refused with a message that says which character it is: on main it showed only the name's
repr (`'\\xa0den'`, or `'den\\u3000'`) and the usual "use 1-32 letters" line, or at the
telnet login "names are 1-32 letters" with nothing to see in what was typed."""

from __future__ import annotations

from tests.helpers.http import basic, http_client
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

RULE = "use 1-32 letters a-z or A-Z, digits, '-', '_' or '.'"


async def refused_at_login(tel: TelnetClient, name: str) -> str:
    """The line that refuses `name` typed at the telnet login's prompt."""
    await tel.read_until("Name: ")
    tel.send(name)
    return (await tel.expect(r"^! .*"))[0]


async def test_telnet_login_trims_them_and_names_them_inside(server: App) -> None:
    assert server.telnet_port is not None
    tel = await TelnetClient.connect(server.telnet_port)
    try:
        await tel.login("\u00a0alice\u3000")
        tel.send("/who")
        await tel.expect(r"^\* here in #lobby \(1\): alice$")
        assert not any("\u00a0" in line or "\u3000" in line for line in tel.seen)
        tel.send("/join \u00a0den")
        await tel.expect(
            r"^! invalid room name '\\xa0den': it holds U\+00A0, a space that is not ASCII; "
        )
        tel.send("/msg bob\u3000 hi")
        await tel.expect(r"^! invalid user name 'bob\\u3000': it holds U\+3000, a space ")
    finally:
        await tel.close()
    tel = await TelnetClient.connect(server.telnet_port)
    try:
        line = await refused_at_login(tel, "bo\u3000b")
        assert line == f"! not a name: it holds U+3000, a space that is not ASCII; {RULE}"
        line = await refused_at_login(tel, "bo\u200bb")  # asked again: a zero-width space
        assert line == f"! not a name: it holds U+200B, an invisible character; {RULE}"
    finally:
        await tel.close()


async def test_http_names_the_space_in_a_name(server: App) -> None:
    async with http_client(server) as client:
        r = await client.post(
            "/api/v1/users", json={"name": "\u00a0carol", "password": "secret-pw-1"}
        )
        assert r.status_code == 422
        assert "it holds U+00A0, a space that is not ASCII" in r.json()["error"]["message"]
        r = await client.post("/api/v1/users", json={"name": "carol", "password": "secret-pw-1"})
        assert r.status_code == 201, r.text
        r = await client.put(
            "/api/v1/rooms/den%E3%80%80/members/carol", auth=basic("carol", "secret-pw-1")
        )
        assert r.status_code == 422
        assert r.json()["error"]["message"] == (
            f"invalid room name 'den\\u3000': it holds U+3000, a space that is not ASCII; {RULE}"
        )


async def test_a_letter_outside_a_z_is_told_apart(server: App) -> None:
    """'zoë' and 'café' were refused with "use 1-32 letters, ...": ë and é are letters, so
    the rule read as if the name were fine. It says which letters."""
    assert server.telnet_port is not None
    tel = await TelnetClient.connect(server.telnet_port)
    try:
        assert await refused_at_login(tel, "zoë") == f"! not a name: {RULE}"
        await tel.login("zoe")
        tel.send("/join café")
        line = (await tel.expect(r"^! .*"))[0]
        assert line == f"! invalid room name 'café': {RULE}"
    finally:
        await tel.close()
    async with http_client(server) as client:
        r = await client.post("/api/v1/users", json={"name": "zoë", "password": "secret-pw-1"})
        assert r.status_code == 422
        assert r.json()["error"]["message"].endswith(RULE), r.text
