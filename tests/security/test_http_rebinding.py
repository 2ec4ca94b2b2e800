"""DNS rebinding: a web page at `http://evil.example:PORT` whose name the attacker points at
127.0.0.1 is same-origin with itself, so a browser on the server's host sends its requests,
from 127.0.0.1, with `Host: evil.example:PORT`. On main the local-only routes trusted the
address alone: such a page read `/metrics` (200) and drained the node (`POST /admin/drain`,
202, `/readyz` 503 after). Now they also ask that `Host` be `localhost` or an address."""

from __future__ import annotations

from tests.helpers.http import http_client
from torbit.app import App


async def test_local_only_routes_refuse_a_rebound_name(server: App) -> None:
    port = server.http_port
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    async with http_client(server) as http:
        assert (await http.get("/metrics", headers=rebound)).status_code == 403
        assert (await http.post("/admin/drain", headers=rebound)).status_code == 403
        assert (await http.get("/readyz")).status_code == 200  # not draining
        # the host's own tools name it by address or as localhost
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
            r = await http.get("/metrics", headers={"Host": host})
            assert r.status_code == 200, host
