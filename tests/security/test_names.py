"""Issue 10, item 17: lookalike and reserved names registered (`aIice` beside `alice`,
`alice.`, `admin`, `torbit`, `root`). Now, with the default `accounts.reserved_names`, new
names must start and end with a letter or digit, may not be reserved in any case or lookalike
form, and may not read like a taken name (TR39 skeleton); on every door that registers.
The admin CLI may give reserved names (tests/security/test_cli.py)."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import RawIrc
from tests.security.conftest import DEFAULT_ACCOUNTS, http_from, telnet_from
from torbit.app import App

REFUSED = [
    ("aIice", 409, "reads too much like 'alice'"),
    ("a1ice", 409, "reads too much like 'alice'"),
    ("ALICE", 409, "is taken"),
    ("alice.", 422, "start and end with a letter or a digit"),
    (".alice", 422, "start and end with a letter or a digit"),
    ("b0b", 409, "reads too much like 'bob'"),
    ("rnary", 409, "reads too much like 'mary'"),
    ("john_doe", 409, "reads too much like 'john.doe'"),
    ("admin", 422, "reserved"),
    ("Admin", 422, "reserved"),
    ("torbit", 422, "reserved"),
    ("T0RBIT", 422, "reserved"),
    ("root", 422, "reserved"),
    ("r00t", 422, "reserved"),
    ("NickServ", 422, "reserved"),
]


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    app = await make_server(accounts=DEFAULT_ACCOUNTS)
    async with http_from(app) as client:
        await register(client, "alice", "bob", "mary", "john.doe")
    return app


async def test_http_refuses_lookalike_reserved_and_badly_ended_names(app: App) -> None:
    async with http_from(app) as client:
        for name, status, why in REFUSED:
            r = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD})
            assert why in error_of(r, status), name
        await register(client, "alicia", "bobby", "marty", "johndoe")  # distinct enough


async def test_telnet_refuses_them_at_the_name_prompt(app: App) -> None:
    client = await telnet_from(app)
    await client.read_until("Name: ")
    for name, _, why in REFUSED:
        if why == "is taken":
            continue  # a taken name is a login: asked for its password
        client.send(name)
        line = (await client.expect(r"^! ")).string
        assert why in line, (name, line)
        await client.read_until("Name: ")
    client.send("alicia")
    await client.read_until("New user alicia. Choose a password: ")
    await client.close()


async def test_existing_accounts_keep_working_whatever_their_names(
    make_server: ServerFactory,
) -> None:
    """Names registered before the rules (here: with no reserved names) still log in."""
    app = await make_server()
    async with http_from(app) as client:
        await register(client, "root", "alice")
    assert app.core is not None
    await app.stop()
    app = await make_server(
        data_dir=None, accounts=DEFAULT_ACCOUNTS, storage={"url": app.settings.storage.url}
    )
    async with http_from(app) as client:
        r = await client.post("/api/v1/sessions", json={"name": "root", "password": PASSWORD})
        assert r.status_code == 201, r.text


async def test_irc_guests_at_once_and_renamed_take_no_look_alike(
    make_server: ServerFactory,
) -> None:
    """Guests (IRC without an account) on several connections at once asking for names
    that read alike, one of them twice: one gets it. A guest's NICK to a look-alike of an
    account, or of a reserved name, in any case, is refused as a new guest's would be."""
    app = await make_server(accounts=DEFAULT_ACCOUNTS, irc={"guests": True})
    async with http_from(app) as client:
        await register(client, "alice")
    conns = [await RawIrc.connect(app) for _ in range(4)]
    for irc, nick in zip(conns, ("zed1", "zedl", "ZEDI", "zedl"), strict=True):
        irc.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    answers = [await _first(irc) for irc in conns]
    assert sorted(a.split()[1] for a in answers) == ["001", "433", "433", "433"], answers
    gus = await RawIrc.connect(app)
    await gus.register("gus")
    for nick in ("aIice", "a1ice", "ALICE", "r00t", "ADMlN", "N1ckServ"):
        gus.send(f"NICK {nick}")
        line = await _first(gus, " 432 ", " 433 ", " NICK ")
        assert " NICK " not in line.split(" :")[0], (nick, line)
    for irc in [*conns, gus]:
        await irc.close()


async def _first(irc: RawIrc, *needles: str) -> str:
    """The next line holding any of `needles` (registration's outcome by default)."""
    wanted = needles or (" 001 ", " 432 ", " 433 ")
    while True:
        line = await irc.expect(" ")
        if any(n in line for n in wanted):
            return line


SERVER = "irc.example.org"


async def test_no_account_takes_the_irc_server_name(make_server: ServerFactory) -> None:
    """An account named as the IRC server wrote to IRC users as
    `:irc.example.org!irc.example.org@torbit PRIVMSG bob :*** ...`, a query window named as
    the server, while guests were already refused it. Refused on HTTP and telnet, in its
    look-alike forms too, even with `accounts.reserved_names` emptied (as these tests do)."""
    app = await make_server(irc={"server_name": SERVER})
    names = [SERVER, "IRC.Example.ORG", "irc.examp1e.org", "irc_example-org"]
    async with http_from(app) as client:
        for name in names:
            r = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD})
            assert "reserved" in error_of(r, 422), name
        await register(client, "irc.example.net")  # another name
    tel = await telnet_from(app)
    await tel.read_until("Name: ")
    tel.send(SERVER)
    assert "reserved" in (await tel.expect(r"^! ")).string
    await tel.close()
