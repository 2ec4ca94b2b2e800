"""The database's disk fills up while the node serves (stop 49's probe, on a real small
tmpfs). Nothing acknowledged was lost and every send got a clear 503, but: /readyz said
"ready" (a ping is a read, and reads still work) while every send failed; the HTTP door
logged a WARNING per failed request (2,717 lines in 87 s from two clients); and every new
SQLite connection wrote `PRAGMA auto_vacuum`, so `torbit user list` and `torbit db status`
failed exactly when an operator needs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.cli import cli
from tests.helpers.disk import small_disk
from tests.helpers.http import basic, http_client, register

SENDS = 30


def fill_up(disk: Path) -> Path:
    """A filler file taking every page left (tests/helpers/disk.py's `fill` also tops up the
    files there, which would write into the database)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    return filler


def failed_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "failed request" in r.getMessage()]


async def test_a_full_disk_makes_the_node_unready_and_its_failures_are_summed_up(
    make_server: ServerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unready while the disk is full, and only then: a load balancer that stops sending to
    an unready node would never see it ready again if only a send could tell."""
    caplog.set_level(logging.INFO, "torbit")
    with small_disk(tmp_path / "disk", "8m") as disk:
        app = await make_server(data_dir=disk / "data", log={"dir": str(tmp_path / "logs")})
        async with http_client(app) as client:
            await register(client, "alice")
            sent = await client.post("/send/lobby/alice", content="hi", auth=basic("alice"))
            assert sent.status_code == 201, sent.text  # in the room: each send is a write
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            filler = fill_up(disk)

            ready = await client.get("/readyz")
            assert ready.status_code == 503
            message = ready.json()["error"]["message"]
            assert re.search(
                r"store: storage unavailable: disk is full: \d+ KiB free for torbit.db", message
            ), message
            for n in range(SENDS):
                sent = await client.post("/send/lobby/alice", content=f"m{n}", auth=basic("alice"))
                assert sent.status_code == 503, sent.text
            assert len(failed_requests(caplog)) == 1, failed_requests(caplog)  # the first told
            metrics = (await client.get("/metrics")).text
            assert 'torbit_backend_failures_total{backend="store",reason="full"}' in metrics

            # the operator's tools read it, beside the running node
            env = dict(
                os.environ,
                TORBIT_STORAGE__URL=f"sqlite:///{disk}/data/torbit.db",
                TORBIT_LOG__DIR=str(tmp_path / "logs"),
            )
            listed = await asyncio.to_thread(cli, env, "user", "list")
            assert listed.returncode == 0 and listed.stdout.startswith("alice"), listed
            status = await asyncio.to_thread(cli, env, "db", "status")
            assert status.returncode == 0, status

            filler.unlink()  # ready again at once: nothing to wait out
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            sent = await client.post("/send/lobby/alice", content="back", auth=basic("alice"))
            assert sent.status_code == 201, sent.text
        await app.stop()  # what was counted and not told yet is told at a stop
        told = failed_requests(caplog)
        assert len(told) == 2 and f"{SENDS - 1} more" in told[1], told
        assert "POST /send/{room}/{user}" in told[1] and "disk is full" in told[1], told
