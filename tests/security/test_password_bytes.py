"""A password is kept exactly as typed, or refused when it is set (probe51 p6). Telnet read a
line's bytes that are not UTF-8 as U+FFFD and dropped its control characters: `pässwörd`
typed on a Latin-1 terminal was hashed as `p\\ufffdssw\\ufffdrd`, so any other such bytes
(`p\\x80ssw\\xffrd`) logged in too, eight Latin-1 letters were one password, and one
registered as `abc\\x1bdef\\x07g` logged in as `abcdefg`. A new password holding a control
character or U+FFFD is refused on every door (registration, a change, an admin's reset)."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, services
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
        change = {"current_password": PASSWORD, "new_password": password}
        r = await c.put("/api/v1/me/password", json=change)
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
