"""Starting a node does what it must and nothing more: tests start hundreds of servers in one
process, so work a start repeats for nothing is paid hundreds of times. (A stop keeps
uvicorn's own 0.1 s pause: without it, driver-thread operations of the tasks a stop cancels
outlived the test's event loop in CI: "Event loop is closed" in aiosqlite's thread.)"""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, http_client, register


async def test_a_second_server_builds_no_pydantic_adapter_again(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on main each start's HTTP app built ~270 adapters, the same ones every time
    await make_server()
    built: list[object] = []
    real = TypeAdapter.__init__

    def counting(self: TypeAdapter[object], *args: object, **kwargs: object) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TypeAdapter, "__init__", counting)
    second = await make_server()
    monkeypatch.undo()
    assert built == []
    # and the shared adapters validate on the second server as on the first
    async with http_client(second) as client:
        await register(client, "alice")
        r = await client.get("/receive/lobby/alice?limit=0", auth=basic("alice"))
        error_of(r, 422)
        r = await client.get("/receive/lobby/alice?limit=2", auth=basic("alice"))
        assert r.status_code == 200, r.text
