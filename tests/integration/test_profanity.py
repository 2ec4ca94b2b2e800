"""The optional profanity filter, on telnet and HTTP, with words of our own."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.filters import ProfanityFilter


async def login(app: App, name: str) -> TelnetClient:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login(name)
    return c


def test_filter_masks_words_and_phrases_case_insensitively(tmp_path: Path) -> None:
    extra = tmp_path / "words.txt"
    extra.write_text("# our own\nfrobnitz\n")
    f = ProfanityFilter("mask", str(extra))
    assert f.apply("you SHIT, a frobnitz!") == "you ****, a ********!"
    assert f.apply("2 girls 1 cup") == "*************"
    assert f.apply("Scunthorpe and classic assignments") == "Scunthorpe and classic assignments"


async def test_mask_on_telnet(make_server: ServerFactory) -> None:
    app = await make_server(moderation={"profanity": "mask"})
    alice, bob = await login(app, "alice"), await login(app, "bob")
    alice.send("well shit happens")
    await bob.expect(r"<alice> well \*\*\*\* happens$")
    await alice.close()
    await bob.close()


async def test_reject_on_telnet_and_http(make_server: ServerFactory, tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("frobnitz\n")
    app = await make_server(moderation={"profanity": "reject", "extra_words_file": str(words)})
    alice = await login(app, "alice")
    alice.send("a frobnitz here")
    await alice.expect("^! message refused")
    alice.send("a clean one")
    await alice.expect("<alice> a clean one$")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        r = await http.post(
            "/send/lobby/alice",
            content="FROBNITZ!",
            auth=("alice", "secret-pw"),
            headers={"content-type": "text/plain"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["message"].startswith("message refused")
    assert not any("frobnitz" in line.lower() for line in alice.seen)
    await alice.close()
