"""Issue 10, item 8: cross-site request forgery through browser-cached Basic credentials. A
page of another site (or a sibling origin of the same site) made a logged-in browser post to
a room with a `text/plain` form, and create and join a room with an `<img>` GET of
`/receive`. Now the classic and v1 routes refuse state changes (and the classic GET, which
moves the read cursor) whose `Origin` is foreign or whose `Sec-Fetch-Site` names another
site, with 403; and the classic routes answer 404 for an unknown room instead of making it.

The first test is the attack itself, in Chromium, with the victim's Basic credentials
answering the server's challenges; the rest send the headers such a browser sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Request

from tests.browser.conftest import browser  # noqa: F401 (a fixture)
from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url, basic, error_of, http_client, register, texts
from tests.security.http_attack import ATTACKER, REMOTE, attacker_site
from torbit.app import App

CROSS_SITE = {"Origin": "http://127.0.0.2:8000", "Sec-Fetch-Site": "cross-site"}
# a sibling origin of the same site (another port of the same host): the reported attack
SAME_SITE = {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-site"}
IMG_GET = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}


@pytest.fixture
async def client(server: App) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server) as c:
        await register(c, "alice", "bob")
        r = await c.post("/send/lobby/alice", content="before", auth=basic("alice"))
        assert r.status_code == 201
        yield c


async def lobby(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/api/v1/rooms/lobby/messages", auth=basic("alice"))
    assert r.status_code == 200
    return texts(r.json())


async def no_room(client: httpx.AsyncClient, name: str) -> None:
    error_of(await client.get(f"/api/v1/rooms/{name}", auth=basic("alice")), 404, "not_found")


EVIL_PAGE = """<!doctype html><title>cute cats</title>
<img src="{server}/receive/newroom/alice" alt="">
<img src="{server}/receive/lobby/alice" alt="">
<form id="f" method="POST" action="{server}/send/lobby/alice" enctype="text/plain">
<input name="hello from" value="the attacker"></form>
<script>setTimeout(() => document.getElementById("f").submit(), 200)</script>
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("address", [ATTACKER, REMOTE], ids=["same-site", "cross-site"])
async def test_a_foreign_page_cannot_use_the_browsers_credentials(
    server: App,
    client: httpx.AsyncClient,
    browser: Browser,  # noqa: F811
    address: str,
) -> None:
    own = base_url(server)
    context = await browser.new_context(
        http_credentials={"username": "alice", "password": PASSWORD}
    )
    answers: dict[str, int] = {}  # url -> status (0: the browser itself failed the request)
    page = await context.new_page()
    page.on("response", lambda r: answers.__setitem__(r.url, r.status))

    def failed(request: Request) -> None:
        answers.setdefault(request.url, 0)

    page.on("requestfailed", failed)
    try:
        async with attacker_site(address, EVIL_PAGE.format(server=own)) as attacker:
            await page.goto(f"{attacker}/")
            async with asyncio.timeout(20):
                while len([u for u in answers if u.startswith(own)]) < 3:
                    await asyncio.sleep(0.05)
    finally:
        await context.close()
    # all were refused before any credentials were asked for (Chromium keeps the JSON answer
    # from an <img>: the request fails for the page)
    assert answers[f"{own}/send/lobby/alice"] == 403
    assert answers[f"{own}/receive/newroom/alice"] in (0, 403)
    assert answers[f"{own}/receive/lobby/alice"] in (0, 403)
    assert await lobby(client) == ["before"]
    await no_room(client, "newroom")
    # alice's read cursor did not move: she still has the message to receive
    r = await client.get("/receive/lobby/alice", auth=basic("alice"))
    assert texts(r.json()) == ["before"]


async def test_a_text_plain_form_post_is_refused(client: httpx.AsyncClient) -> None:
    for headers in (CROSS_SITE, SAME_SITE, {"Origin": "http://127.0.0.2:8000"}):
        r = await client.post(
            "/send/lobby/alice",
            content="hello from=the attacker",
            auth=basic("alice"),
            headers={**headers, "Content-Type": "text/plain"},
        )
        assert "refused" in error_of(r, 403, "forbidden")
    assert await lobby(client) == ["before"]


async def test_an_img_get_of_receive_neither_moves_the_cursor_nor_makes_a_room(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/receive/lobby/bob", auth=basic("bob"), headers=IMG_GET)
    assert "Sec-Fetch-Site" in error_of(r, 403, "forbidden")
    r = await client.get("/receive/newroom/alice", auth=basic("alice"), headers=IMG_GET)
    error_of(r, 403, "forbidden")
    r = await client.get("/receive/lobby/bob", auth=basic("bob"), headers={"Origin": "null"})
    error_of(r, 403, "forbidden")
    # a browser too old to say where a request comes from: the room is still not made
    error_of(await client.get("/receive/newroom/alice", auth=basic("alice")), 404, "not_found")
    error_of(await client.post("/send/newroom/alice", content="x", auth=basic("alice")), 404)
    await no_room(client, "newroom")
    # bob's cursor did not move: he still gets the message
    assert texts((await client.get("/receive/lobby/bob", auth=basic("bob"))).json()) == ["before"]


V1_CHANGES = [
    ("POST", "/api/v1/rooms", {"json": {"name": "den"}}),
    ("PUT", "/api/v1/rooms/den/members/alice", {}),
    ("POST", "/api/v1/rooms/lobby/messages", {"json": {"text": "forged"}}),
    ("PUT", "/api/v1/me/ignores/bob", {}),
    ("PUT", "/api/v1/me/password", {"json": {"current": PASSWORD, "new": "owned-by-attacker"}}),
    ("POST", "/api/v1/users", {"json": {"name": "mallory", "password": "mallory-pw"}}),
    ("POST", "/api/v1/sessions", {"json": {"name": "alice", "password": PASSWORD}}),
    ("DELETE", "/api/v1/rooms/lobby/members/alice", {}),
]


@pytest.mark.parametrize("headers", [CROSS_SITE, SAME_SITE], ids=["cross-site", "same-site"])
async def test_v1_state_changes_from_another_origin_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path, body in V1_CHANGES:
        r = await client.request(method, path, auth=basic("alice"), headers=headers, **body)  # type: ignore[arg-type]
        error_of(r, 403, "forbidden")
    await no_room(client, "den")
    assert await lobby(client) == ["before"]
    me = await client.get("/api/v1/me/ignores", auth=basic("alice"))
    assert me.json() == {"users": []}
    r = await client.post("/api/v1/sessions", json={"name": "mallory", "password": "mallory-pw"})
    error_of(r, 401)  # never registered
    r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
    assert r.status_code == 201  # the password is unchanged


async def test_the_own_origin_and_non_browser_clients_are_served(
    server: App, client: httpx.AsyncClient
) -> None:
    own = {"Origin": base_url(server), "Sec-Fetch-Site": "same-origin"}
    for headers in (own, {}):
        r = await client.post(
            "/send/lobby/alice", content="fine", auth=basic("alice"), headers=headers
        )
        assert r.status_code == 201, r.text
        r = await client.get("/receive/lobby/bob", auth=basic("bob"), headers=headers)
        assert r.status_code == 200, r.text
    r = await client.post("/api/v1/rooms", json={"name": "den"}, auth=basic("alice"), headers=own)
    assert r.status_code == 201, r.text
    # reading is not a state change: a cross-site GET of the API is answered (and the browser
    # keeps the answer from the page that asked, as it has no CORS headers)
    r = await client.get("/api/v1/rooms/den", auth=basic("alice"), headers=CROSS_SITE)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_allowed_origins_are_configurable(make_server: ServerFactory) -> None:
    app = await make_server(http={"allowed_origins": ["https://Chat.Example.com/"]})
    async with http_client(app) as c:
        await register(c, "alice")
        ok = {"Origin": "https://chat.example.com", "Sec-Fetch-Site": "cross-site"}
        r = await c.post("/send/lobby/alice", content="hi", auth=basic("alice"), headers=ok)
        assert r.status_code == 201, r.text
        r = await c.post(
            "/send/lobby/alice",
            content="hi",
            auth=basic("alice"),
            headers={"Origin": "https://evil.example.com"},
        )
        error_of(r, 403, "forbidden")
