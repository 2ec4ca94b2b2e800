"""`torbit room add`: an operator prepares rooms before anyone joins, on the real SQLite file
the server uses (in-process through typer's runner: the process itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import CHEAP_ARGON2
from torbit.backends.registry import open_store
from torbit.cli import app
from torbit.core.models import Room

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/torbit.db"
    monkeypatch.setenv("TORBIT_STORAGE__URL", url)
    monkeypatch.setenv("TORBIT_LOG__DIR", str(tmp_path / "logs"))
    for k, v in CHEAP_ARGON2.items():
        monkeypatch.setenv(f"TORBIT_ACCOUNTS__{k.upper()}", str(v))
    monkeypatch.chdir(tmp_path)
    return url


def stored(url: str, key: str) -> tuple[Room | None, list[str]]:
    async def read() -> tuple[Room | None, list[str]]:
        store = open_store(url, "normal")
        await store.open()
        try:
            return await store.get_room(key), await store.list_members(key)
        finally:
            await store.close()

    return asyncio.run(read())


def test_room_add_with_an_owner_makes_a_private_room_they_own(url: str) -> None:
    r = runner.invoke(app, ["user", "add", "Alice", "--password-stdin"], input="pass-word-1\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["room", "add", "#Lobby", "--owner", "alice", "--private"])
    assert r.exit_code == 0, r.output
    assert "added private room #Lobby, owned by Alice" in r.stdout
    room, members = stored(url, "lobby")
    assert room is not None and room.owner == "Alice" and room.private
    assert members == ["Alice"]
    listed = runner.invoke(app, ["room", "list"])
    assert "#Lobby  1 member  (private)" in listed.stdout


def test_room_add_refuses_a_taken_name_a_bad_name_and_an_unknown_owner(url: str) -> None:
    assert runner.invoke(app, ["room", "add", "lobby"]).exit_code == 0
    room, members = stored(url, "lobby")
    assert room is not None and room.owner is None and not room.private and members == []
    taken = runner.invoke(app, ["room", "add", "LOBBY"])
    assert taken.exit_code == 1 and "#LOBBY is taken" in taken.stderr
    bad = runner.invoke(app, ["room", "add", "no spaces"])
    assert bad.exit_code == 1 and "invalid room name" in bad.stderr
    nobody = runner.invoke(app, ["room", "add", "other", "--owner", "ghost"])
    assert nobody.exit_code == 1 and "no user 'ghost'" in nobody.stderr
    assert stored(url, "other") == (None, [])


def test_room_list_shows_name_members_topic_as_the_doors_do(url: str) -> None:
    """On main `torbit room list` left the topic out, which every door lists third."""
    assert runner.invoke(app, ["room", "add", "den"]).exit_code == 0

    async def set_topic() -> None:
        store = open_store(url, "normal")
        await store.open()
        try:
            await store.update_room("den", topic="all welcome")
        finally:
            await store.close()

    asyncio.run(set_topic())
    listed = runner.invoke(app, ["room", "list"])
    assert listed.exit_code == 0, listed.output
    assert "#den  0 members - all welcome" in listed.stdout.splitlines()
