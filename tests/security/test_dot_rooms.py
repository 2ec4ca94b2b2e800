"""A room named `.` or `..` could be made (`POST /api/v1/rooms {"name": "."}` answered 201),
but those are path steps in a URL, which browsers, curl and httpx remove: the web page's
calls for such a room went to other routes (`/api/v1/rooms/./messages` read the room
`messages`). Now a new room's name may not be dots alone, on every door that makes rooms
(core/names.py's `check_new_room_name`); dots beside other characters stay allowed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import CHEAP_ARGON2
from tests.helpers.http import PASSWORD, basic, error_of, register
from tests.helpers.irc import joined
from tests.security.conftest import basic_header, first_frames, http_from, telnet_login, ws_from
from torbit.app import App
from torbit.cli import app as cli

DOTS = [".", "..", "..."]
WHY = "dots alone read as a path step in a web address"


async def rooms_named(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/api/v1/rooms", auth=basic("alice"))
    assert r.status_code == 200, r.text
    return [room["name"] for room in r.json()["rooms"]]


async def test_http_makes_no_room_of_dots_alone(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice")
        for name in DOTS:
            r = await client.post("/api/v1/rooms", json={"name": name}, auth=basic("alice"))
            assert WHY in error_of(r, 422, "invalid_input"), name
            # a join makes a room too; %2E is a dot no client removes
            r = await client.put(
                f"/api/v1/rooms/{'%2E' * len(name)}/members/alice", auth=basic("alice")
            )
            assert WHY in error_of(r, 422, "invalid_input"), name
        r = await client.post("/api/v1/rooms", json={"name": "a.b"}, auth=basic("alice"))
        assert r.status_code == 201, r.text
        r = await client.post("/api/v1/rooms", json={"name": ".x."}, auth=basic("alice"))
        assert r.status_code == 201, r.text
        assert not set(DOTS) & set(await rooms_named(client))


async def test_the_other_doors_make_none_either(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice")
    ws = await ws_from(server, basic_header("alice"), logged_in=True)
    await ws.send('{"type": "subscribe", "room": ".."}')
    [frame] = await first_frames(ws, 1)
    assert frame["type"] == "error" and WHY in frame["message"], frame
    await ws.close()

    telnet = await telnet_login(server, "alice")
    for command in ("/join ..", "/create ."):
        telnet.send(command)
        line = (await telnet.expect(r"^! ")).string
        assert WHY in line, (command, line)
    await telnet.close()

    irc = await joined(server, "alice", password=PASSWORD)
    irc.send("JOIN #..")
    assert WHY in await irc.expect(" 479 alice #.. ")
    await irc.close()

    async with http_from(server) as client:
        assert not set(DOTS) & set(await rooms_named(client))


def test_the_cli_adds_no_room_of_dots_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORBIT_STORAGE__URL", f"sqlite:///{tmp_path}/torbit.db")
    monkeypatch.setenv("TORBIT_LOG__DIR", str(tmp_path / "logs"))
    for k, v in CHEAP_ARGON2.items():
        monkeypatch.setenv(f"TORBIT_ACCOUNTS__{k.upper()}", str(v))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["room", "add", ".."])
    assert r.exit_code == 1 and WHY in r.stderr, r.output
