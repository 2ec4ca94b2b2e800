"""The transcript as an operator reads it: `/me` keeps its marker, rooms go by the name they
were created with; and a transcript that cannot be written (a full disk) is told once, shown
in /readyz, counted in /metrics, and resumes by itself."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.disk import fill, small_disk
from tests.helpers.http import eventually, http_client
from tests.helpers.moderation import telnet


def transcript(log_dir: Path) -> str:
    path = log_dir / "transcript.log"
    return path.read_text() if path.exists() else ""


async def test_actions_and_room_names_as_shown(make_server: ServerFactory, tmp_path: Path) -> None:
    app = await make_server()
    alice, bob = await telnet(app, "alice"), await telnet(app, "bob")
    alice.send("/join Dev-Room")
    await alice.read_until("you are in #Dev-Room")
    bob.send("/join dev-ROOM")  # typed in another case
    await bob.read_until("you are in #Dev-Room")
    await alice.read_until("bob joined #Dev-Room")
    bob.send("/me waves")
    await alice.read_until("* bob waves")
    bob.send("plain words")
    await alice.read_until("<bob> plain words")
    await bob.close()
    await alice.read_until("bob left #Dev-Room")
    await alice.close()
    await eventually(lambda: "plain words" in transcript(tmp_path / "logs"))
    lines = transcript(tmp_path / "logs").splitlines()
    assert any(ln.endswith(" #Dev-Room * bob waves") for ln in lines), lines
    assert any(ln.endswith(" #Dev-Room <bob> plain words") for ln in lines), lines
    assert not any("#dev-room" in ln for ln in lines), lines


async def test_a_transcript_on_a_full_disk_is_reported_once_and_resumes(
    make_server: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, "torbit")
    with small_disk(tmp_path / "disk") as disk:
        app = await make_server(log={"dir": str(disk / "logs")})
        alice = await telnet(app, "alice")
        filler = fill(disk)

        async def lost_at_least(lines: int) -> None:
            await eventually(lambda: app.metrics.transcript_lost._value.get() >= lines)

        for n in range(3):
            alice.send(f"secret words {n}")
            await alice.read_until(f"<alice> secret words {n}")
            await lost_at_least(n + 1)  # one transcript batch each: failed before the next line
        async with http_client(app) as client:
            await eventually(lambda: app.metrics.transcript_lost._value.get() >= 3)
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "ready"
            assert ready["detail"] == "transcript: cannot be written: No space left on device"
            metrics = (await client.get("/metrics")).text
            assert "torbit_transcript_lines_lost_total 3.0" in metrics
            told = [r for r in caplog.records if "transcript cannot be written" in r.message]
            assert len(told) == 1, told
            # the app log shares the full disk: said once (when its next batch, 50 ms at most
            # after the line, fails), its lines still on stderr
            err = ""

            def app_log_said() -> bool:
                nonlocal err
                err += capsys.readouterr().err
                return "torbit.log cannot be written: No space left" in err

            await eventually(app_log_said)
            assert "Traceback" not in err and "secret words" not in err
            assert err.count("torbit.log cannot be written: No space left") == 1, err
            assert "transcript cannot be written" in err

            filler.unlink()
            alice.send("after the cleanup")
            await alice.read_until("<alice> after the cleanup")
            await eventually(lambda: "after the cleanup" in transcript(disk / "logs"))
            assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert any("transcript: writing again" in r.message for r in caplog.records)
        await eventually(
            lambda: "transcript: writing again" in (disk / "logs/torbit.log").read_text()
        )
        # said on stderr by the app log's thread right after that batch reached the file
        err = ""

        def said_again() -> bool:
            nonlocal err
            err += capsys.readouterr().err
            return "torbit.log is written again" in err

        await eventually(said_again)
        await alice.close()
        await app.stop()
