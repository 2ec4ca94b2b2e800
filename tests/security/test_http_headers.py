"""Issue 10, item 14: the page could be framed and sent no security headers (its CSP was only
a meta tag); the WebSocket accepted any `Origin`; `/docs` loaded Swagger UI from a CDN,
without integrity, on the origin that holds the token; `/metrics` was public. Now: a CSP
header with `frame-ancestors 'none'`, `X-Frame-Options: DENY`, `nosniff`, `no-referrer`,
HSTS under HTTPS; WebSocket handshakes from foreign origins are refused
(`http.allowed_origins`); `/docs` is served from the `swagger-ui-bundle-v2` package; and
`/metrics` answers 127.0.0.1 and ::1, or `Authorization: Bearer <http.metrics_token>`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.browser.conftest import browser  # noqa: F401 (a fixture)
from tests.conftest import ServerFactory
from tests.helpers.http import (
    base_url,
    bearer,
    error_of,
    http_client,
    login,
    register,
    ws_url,
)
from tests.helpers.tls import tls_doors, trusting
from tests.security.http_attack import REMOTE, attacker_site, client_from
from torbit.app import App

TOKEN = "scrape-me-please-0123456789"


def assert_protected(response: httpx.Response) -> None:
    h = response.headers
    csp = [d.strip() for d in h["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert not any("unsafe-eval" in d for d in csp)
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"


async def test_every_answer_carries_the_headers(server: App) -> None:
    async with http_client(server) as c:
        page = await c.get("/")
        assert page.status_code == 200 and "<title>torbit</title>" in page.text
        assert "http-equiv" not in page.text  # the policy is a header now, not a meta tag
        csp = page.headers["content-security-policy"]
        assert "script-src" not in csp or "'unsafe-inline'" not in csp
        for r in (
            page,
            await c.get("/app.js"),
            await c.get("/api/v1/me"),
            await c.get("/openapi.json"),
            await c.get("/docs"),
            await c.get("/nowhere"),
        ):
            assert_protected(r)
        assert "strict-transport-security" not in page.headers  # plain HTTP: no HSTS


async def test_https_answers_carry_hsts(make_server: ServerFactory, tmp_path: Path) -> None:
    ca, _, https = tls_doors(tmp_path)
    app = await make_server(http=https)
    async with httpx.AsyncClient(verify=trusting(ca)) as c:
        r = await c.get(f"https://127.0.0.1:{app.http_port}/")
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    assert_protected(r)


FRAMER = """<!doctype html><title>win a prize</title>
<iframe id="victim" src="{server}/" width="800" height="600"></iframe>
"""


@pytest.mark.browser
@pytest.mark.slow
async def test_another_site_cannot_frame_the_page(server: App, browser: Browser) -> None:  # noqa: F811
    own = base_url(server)
    context = await browser.new_context()
    page = await context.new_page()
    answers: dict[str, int] = {}
    page.on("response", lambda r: answers.__setitem__(r.url, r.status))
    try:
        async with attacker_site(REMOTE, FRAMER.format(server=own)) as attacker:
            await page.goto(f"{attacker}/")
            frame = next(f for f in page.frames if f != page.main_frame)
            async with asyncio.timeout(20):  # the page came, and the browser would not show it
                while answers.get(f"{own}/") != 200 or not frame.url.startswith("chrome-error:"):
                    await asyncio.sleep(0.05)
            assert await frame.query_selector("#login-form") is None
            assert f"{own}/app.js" not in answers  # its script never ran in the frame
    finally:
        await context.close()


async def test_websocket_handshakes_from_foreign_origins_are_refused(
    make_server: ServerFactory,
) -> None:
    app = await make_server(http={"allowed_origins": ["https://chat.example.com"]})
    async with http_client(app) as c:
        await register(c, "alice")
        token = await login(c, "alice")
    for origin in ("http://127.0.0.2:8000", "http://evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(app), origin=origin, additional_headers=bearer(token))  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert json.loads(refused.value.response.body)["error"]["code"] == "forbidden"
    # the server's own page, an allowed origin, and clients that are not browsers
    for allowed in (base_url(app), "https://chat.example.com", None):
        async with connect(ws_url(app), origin=allowed, additional_headers=bearer(token)) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["text"] == "logged in as alice"


@pytest.mark.browser
@pytest.mark.slow
async def test_docs_come_from_this_server_only(server: App, browser: Browser) -> None:  # noqa: F811
    own = base_url(server)
    async with http_client(server) as c:
        docs = await c.get("/docs")
        assert "cdn" not in docs.text.lower() and "https://" not in docs.text
        assert "<script>" not in docs.text  # no inline script: the policy forbids it
        assert (
            "'unsafe-inline'"
            not in docs.headers["content-security-policy"].split("script-src")[-1].split(";")[0]
        )
        assert (await c.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
        # only what the page needs is served from the bundle
        error_of(await c.get("/docs/assets/index.html"), 404)
        error_of(await c.get("/docs/assets/swagger-initializer.js"), 404)
        error_of(await c.get("/docs/assets/..%2F..%2F__init__.py"), 404)
    context = await browser.new_context()
    page = await context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        await page.goto(f"{own}/docs")
        await page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = await page.eval_on_selector_all(
            ".opblock-summary-path", "els => els.map(e => e.textContent)"
        )
        assert any("/send/" in p for p in paths)
        await page.click(".opblock-summary-path >> nth=0")  # open an operation, and try it
        await page.wait_for_selector(".opblock-body .responses-wrapper", timeout=20_000)
        await page.click("text=Try it out")
        await page.wait_for_selector(".execute", timeout=20_000)
    finally:
        await context.close()
    assert [u for u in requests if not u.startswith(own)] == []
    assert problems == []  # no script errors, no policy violations


async def test_metrics_are_for_this_host_or_the_token_holder(make_server: ServerFactory) -> None:
    app = await make_server(http={"metrics_token": TOKEN})
    async with client_from(app, REMOTE) as remote:
        for headers in (
            {},
            {"X-Forwarded-For": "127.0.0.1"},
            bearer("wrong-token-wrong-token"),
            {"Authorization": f"Basic {TOKEN}"},
        ):
            r = await remote.get("/metrics", headers=headers)
            assert "this host only" in error_of(r, 403, "forbidden")
            assert "torbit_" not in r.text
        r = await remote.get("/metrics", headers=bearer(TOKEN))
        assert r.status_code == 200 and "torbit_connected_clients" in r.text
    async with http_client(app) as local:
        r = await local.get("/metrics")
        assert r.status_code == 200 and "torbit_connected_clients" in r.text


async def test_metrics_through_a_trusted_proxy_are_not_local(make_server: ServerFactory) -> None:
    """A reverse proxy on this host relays a request from the internet: that is not local."""
    app = await make_server(http={"trusted_proxies": ["127.0.0.1"]})
    async with http_client(app) as proxy:
        r = await proxy.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9"})
        error_of(r, 403, "forbidden")
        assert (await proxy.get("/metrics")).status_code == 200  # the proxy host itself


async def test_a_trusted_proxy_on_a_dual_stack_socket_is_still_trusted(
    make_server: ServerFactory,
) -> None:
    """Bound to `::`, an IPv4 proxy's requests arrive from `::ffff:127.0.0.1`: it is still
    the trusted `127.0.0.1`, so the client it names is not taken for the local host."""
    app = await make_server(http={"host": "::", "trusted_proxies": ["127.0.0.1"]})
    async with http_client(app) as proxy:
        r = await proxy.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9"})
        error_of(r, 403, "forbidden")
        assert (await proxy.get("/metrics")).status_code == 200  # the proxy host itself
