"""The README's `curl -u dave:daves-secret $B/send/lobby/dave --data 'hello from curl'`,
typed without `--data`, is a GET: the web page's mount took every GET outside /api, so the
answer was 404 "no such route: GET /send/lobby/dave", for a route that exists. A wrong
method on a known route is a 405 everywhere now, saying which method the route takes."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, http_client, register


async def test_a_get_of_send_says_it_takes_post(make_server: ServerFactory) -> None:
    app = await make_server()
    async with http_client(app) as client:
        await register(client, "dave")
        r = await client.get("/send/lobby/dave", auth=basic("dave"))
        said = error_of(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"
        assert said == "GET /send/lobby/dave is not allowed: use POST", said
        # the same on an API route, which the mount never took
        r = await client.delete("/api/v1/users")
        said = error_of(r, 405, "method_not_allowed")
        assert said == "DELETE /api/v1/users is not allowed: use POST", said
        # the page is still served, and a path nobody takes is still a 404
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/app.js")).status_code == 200
        said = error_of(await client.get("/send"), 404, "not_found")
        assert said == "no such route: GET /send", said
