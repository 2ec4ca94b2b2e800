"""How many bearer tokens one user gets is rate limited (`limits.token_rate`): each token is a
row of the store until it expires (`http.token_ttl_hours`, a week). On main there was no
limit: one account had 1,000 tokens written in 30 s (50 logins at a time, the password
checked once and then remembered), a week of rows at that pace being ~2.9 million a day."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, http_client, register

BURST = 2


async def test_tokens_per_user_are_rate_limited(make_server: ServerFactory) -> None:
    app = await make_server(limits={"token_rate": 0.001, "token_burst": BURST})
    assert app.core is not None
    async with http_client(app) as http:
        await register(http, "alice", "bob")
        login = {"name": "alice", "password": PASSWORD}
        tokens = [
            (await http.post("/api/v1/sessions", json=login)).json()["token"] for _ in range(BURST)
        ]
        r = await http.post("/api/v1/sessions", json=login)
        assert "too many tokens" in error_of(r, 429)
        assert int(r.headers["Retry-After"]) >= 1
        # no row was written for the refused one; the tokens issued still work
        assert len(set(tokens)) == BURST
        for token in tokens:
            r = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
        # another user has a bucket of their own; a wrong password is a 401 as before
        r = await http.post("/api/v1/sessions", json={"name": "bob", "password": PASSWORD})
        assert r.status_code == 201
        r = await http.post("/api/v1/sessions", json={"name": "bob", "password": "wrong-pw-1"})
        error_of(r, 401)
