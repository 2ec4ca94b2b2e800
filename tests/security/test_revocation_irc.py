"""The IRC door's sessions under revocation (tests/security/test_revocation.py covers telnet,
the WebSocket and HTTP): a client logged in with SASL stays open after its account's
password is changed on another door or the account is deleted, and is told ERROR and closed
at once; its rooms are told it left. Held before this test (no hole), kept so that it stays so."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, bearer, change_password, login, register
from tests.helpers.irc import irc_user
from tests.security.conftest import http_from, telnet_login
from torbit.app import App


async def irc_app(make_server: ServerFactory) -> App:
    app = await make_server(irc={"guests": True})
    async with http_from(app) as client:
        await register(client, "ivy", "bob")
    return app


async def test_a_password_change_closes_the_irc_session(make_server: ServerFactory) -> None:
    app = await irc_app(make_server)
    ivy = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",))
    bob = await telnet_login(app, "bob")
    async with http_from(app) as client:
        token = await login(client, "ivy")
        r = await change_password(client, "new-secret", headers=bearer(token))
        assert r.status_code == 204
    error = await ivy.expect("ERROR")
    assert "login revoked" in error.params[0]
    await bob.expect(r"ivy left #lobby")
    await bob.close()


async def test_a_deletion_closes_the_irc_session(make_server: ServerFactory) -> None:
    app = await irc_app(make_server)
    ivy = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",))
    assert app.core is not None
    await app.core.accounts.delete("ivy")  # as `torbit user del`
    error = await ivy.expect("ERROR")
    assert "login revoked" in error.params[0]
