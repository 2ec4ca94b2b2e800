"""One failing test makes one failure: what the test helpers opened is closed at the end of the
test that opened it (tests/helpers/opened.py), not freed in a later test, where its
ResourceWarning (an error under `filterwarnings = error`) failed that test too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tests
import torbit

INNER_TESTS = """
import gc

from tests.helpers.irc import RawIrc, irc_user
from tests.helpers.telnet_client import TelnetClient


async def test_fails_with_its_clients_open(make_server):
    app = await make_server(irc={"guests": True})
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.read_until("Name: ")
    raw = await RawIrc.connect(app)
    await raw.register("rawnick")
    pydle_user = await irc_user(app, "pydlenick")
    assert False, "a failure that leaves its clients open"


async def test_runs_next(server):
    gc.collect()  # frees what the failure's traceback held, if nothing else has by now
"""


def test_a_failing_test_leaves_no_client_open_for_the_next(tmp_path: Path) -> None:
    # on main: "1 failed, 1 passed" was "2 failed": the second failed with the first's
    # "ResourceWarning: unclosed <socket.socket ...>" (PytestUnraisableExceptionWarning)
    (tmp_path / "conftest.py").write_text("from tests.conftest import make_server, server\n")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    paths = [str(Path(tests.__file__).parents[1]), str(Path(torbit.__file__).parents[1])]
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = r.stdout.strip().splitlines()[-1]
    assert "1 failed, 1 passed" in summary, r.stdout[-3000:]
