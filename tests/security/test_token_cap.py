"""A user holds at most `limits.tokens_per_user` live bearer tokens: a new login revokes the
oldest, and closes the WebSockets opened with it (4001). On main only the issuing rate
bounded them (`limits.token_rate`, ~30,000 rows a user a week): with the rate off, every
one of the logins below kept a working token."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, http_client, login, register
from tests.security.conftest import closed, ws_from
from torbit.frontends.http.ws_session import REVOKED

CAP = 3


async def test_a_new_token_past_the_cap_revokes_the_oldest(make_server: ServerFactory) -> None:
    app = await make_server(limits={"token_rate": 0, "tokens_per_user": CAP})
    async with http_client(app) as http:
        await register(http, "alice", "bob")
        tokens = [await login(http, "alice") for _ in range(CAP)]
        ws_oldest = await ws_from(app, bearer(tokens[0]), logged_in=True)
        bobs = await login(http, "bob")
        tokens += [await login(http, "alice") for _ in range(2)]
        status = [(await http.get("/api/v1/me", headers=bearer(t))).status_code for t in tokens]
        assert status == [401, 401, 200, 200, 200]  # main: all 200
        code, reason, _ = await closed(ws_oldest)
        assert (code, reason) == (REVOKED, "a newer login replaced this token: you are logged out")
        # another user's tokens are theirs: bob's stays
        assert (await http.get("/api/v1/me", headers=bearer(bobs))).status_code == 200
