"""irctest's external-server controller, and the one thing torbit offers that a bare IRC server
does not: accounts without a services package. `registerUser` creates the account over IRC
itself, with draft/account-registration (REGISTER), so irctest's tests marked `services`
(SASL, account-tag, CHATHISTORY of a logged-in user) run against torbit too.

run_irctest.py puts this directory on PYTHONPATH and passes
`--controller torbit_controller` in its `torbit` mode; irctest itself is not modified.
The server is one torbit for the whole run, as with the external controller: the accounts a
test makes are deleted when it ends (`kill`), or later tests would find their guest nicks
taken. Some tests use passwords longer than a REGISTER line holds. When REGISTER cannot do it, the account is
made or its password set with torbit's admin CLI (`torbit user add` / `passwd`), which
$TORBIT_IRCTEST_CLI names, run with the server's TORBIT_* environment.

irctest's operator tests OPER as `operuser`/`operpassword`. torbit's operators are server
admins' accounts (docs/irc.md, "Operators"), so before the first test that account is made
a server admin with the same CLI, as an administrator would.

One state of a shared server cannot be taken back when a test ends: WHOWAS history (a
quitting client is in it for good, as on any server). irctest's WHOWAS tests quit `nick2`
test after test and expect to find only their own entries, which a fresh server per test
gives them (irctest's own controllers start one per test). So each test of
`server_tests/whowas.py` (and `ListTestCase::testListEmpty`, which wants no channel at all
while earlier tests' rooms may still be going) gets a torbit node of its own, started in this process on a new
SQLite store (`FreshServer`: a few hundred ms, where a new interpreter took seconds); the
rest share the one server. The server was right: a full WHOWAS search returns every entry.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

from irctest.controllers.external_server import ExternalServerController

OPER_NAME, OPER_PASSWORD = "operuser", "operpassword"  # irctest's own controllers use these
# irctest modules, or single tests, that need a server no earlier test used (see the
# module's docstring)
FRESH_SERVER_TESTS = (
    "server_tests/whowas.py",
    # "no channel at all": the rooms of earlier tests' clients may still be going (a kicked
    # guest's departure is worked off after its QUIT), so on the shared server it failed
    # now and then
    "server_tests/list.py::ListTestCase::testListEmpty",
)


def _wants_fresh_server() -> bool:
    test = os.environ.get("PYTEST_CURRENT_TEST", "")  # "path::Class::test (setup)"
    node = test.split(" ")[0]
    return bool(os.environ.get("TORBIT_IRCTEST_CLI")) and any(
        f"/{node}".endswith(f"/{wanted}") or f"/{wanted}::" in f"/{node}"
        for wanted in FRESH_SERVER_TESTS
    )


class FreshServer:
    """A torbit node for one test, run on an event loop in a thread of this process: IRC on
    a free port with what tests/irctest/README.md asks of the server, a new SQLite store
    in a temporary directory, telnet and HTTP off. Its settings are all given here (the
    shared server's TORBIT_* environment is not read: its store is that server's). The
    store is a copy of one made by a first node that served no one (the schema's
    migrations, once), and hashing is cheap, as on the shared server: a start is ~0.1 s."""

    _loop: ClassVar[asyncio.AbstractEventLoop | None] = None
    _template: ClassVar[tempfile.TemporaryDirectory[str] | None] = None

    def __init__(self) -> None:
        if FreshServer._loop is None:
            loop = FreshServer._loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="fresh-torbit", daemon=True).start()
        if FreshServer._template is None:
            template = tempfile.TemporaryDirectory(prefix="torbit-fresh-template-")
            self._call(self._stop(self._call(self._start(Path(template.name)))))
            FreshServer._template = template
        self._dir = tempfile.TemporaryDirectory(prefix="torbit-fresh-")
        data = Path(self._dir.name)
        shutil.copy(Path(FreshServer._template.name) / "torbit.db", data / "torbit.db")
        self._app: Any = self._call(self._start(data))
        self.port: int = self._app.irc_port

    def _call(self, coro: Any) -> Any:
        assert FreshServer._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, FreshServer._loop).result(60)

    @staticmethod
    async def _start(data: Path) -> Any:
        from torbit.app import App
        from torbit.config import Settings

        sections: dict[str, Any] = {
            "telnet": {"enabled": False},
            "http": {"enabled": False},
            "irc": {
                "port": 0,
                "tls_port": 0,
                "guests": True,
                "server_name": "My.Little.Server",
                "server_description": "test server",
            },
            "chat": {"presence_grace_seconds": 0},
            "storage": {"url": f"sqlite:///{data}/torbit.db"},
            "log": {"dir": str(data / "logs")},
            "limits": {
                "connections_per_ip": 0,
                "connection_rate": 0,
                "message_rate": 0,
                "room_message_rate": 0,
                "guests_per_address": 0,
            },
            "accounts": {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1},
        }
        app = App(Settings(_env_prefix="TORBIT_FRESH_SERVER_UNUSED_", **sections))
        await app.start()
        return app

    @staticmethod
    async def _stop(app: Any) -> None:
        await app.stop()

    def stop(self) -> None:
        try:
            self._call(self._stop(self._app))
        finally:
            self._dir.cleanup()


class TorbitController(ExternalServerController):
    software_name = "torbit"
    supported_sasl_mechanisms: ClassVar[set[str]] = {"PLAIN"}
    registered: ClassVar[list[str]] = []  # the accounts the running test made
    oper_made: ClassVar[bool] = False
    fresh: FreshServer | None = None  # the running test's own server, if it has one

    def get_hostname_and_port(self) -> tuple[str, int]:
        if _wants_fresh_server():
            self.fresh = FreshServer()
            return "127.0.0.1", self.fresh.port
        return super().get_hostname_and_port()  # type: ignore[no-any-return]

    def run(self, *args: Any, **kwargs: Any) -> None:
        super().run(*args, **kwargs)
        if not TorbitController.oper_made and os.environ.get("TORBIT_IRCTEST_CLI"):
            made = _cli(
                "user", "add", OPER_NAME, "--admin", "--password-stdin", stdin=OPER_PASSWORD
            )
            if not made:  # left by an earlier run against the same store
                assert _cli("user", "passwd", OPER_NAME, "--password-stdin", stdin=OPER_PASSWORD), (
                    OPER_NAME
                )
                assert _cli("user", "set-admin", OPER_NAME), OPER_NAME
            TorbitController.oper_made = True

    def kill(self) -> None:
        """The end of a test: the accounts it made are deleted, so that later tests find
        their nicks free for guests, as on a fresh server."""
        super().kill()
        if self.fresh is not None:
            fresh, self.fresh = self.fresh, None
            fresh.stop()
        while self.registered:
            _cli("user", "del", "--yes", self.registered.pop())

    def wait_for_services(self) -> None:
        pass  # accounts are torbit's own: nothing to wait for

    def registerUser(self, case: Any, username: str, password: str | None = None) -> None:
        assert password, "torbit accounts need a password"
        self.registered.append(username)
        client = case.addClient(show_io=True)
        case.sendLine(client, "CAP LS 302")
        case.sendLine(client, "CAP REQ :draft/account-registration")
        case.sendLine(client, f"REGISTER {username} * {password}")
        done = False
        while True:
            msg = case.getMessage(client, synchronize=False)
            if msg.command == "REGISTER" and msg.params[:1] == ["SUCCESS"]:
                done = True
                break
            if msg.command in ("FAIL", "417"):
                break  # taken by an earlier test, or too long for a line: the CLI does it
            assert msg.command in ("CAP", "NOTICE", "900"), f"REGISTER failed: {msg}"
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)
        if not done and not _cli("user", "add", username, "--password-stdin", stdin=password):
            assert _cli("user", "passwd", username, "--password-stdin", stdin=password), username


def _cli(*args: str, stdin: str = "") -> bool:
    """torbit's admin CLI (passwords go on its stdin: never on a command line). When
    $TORBIT_IRCTEST_CLI is this interpreter's own `torbit`, the same commands run in this
    process (typer's CliRunner, with this process's TORBIT_* environment: the server's): a
    new interpreter importing torbit cost a second or more per account, and the SASL tests
    delete one each."""
    cli = os.environ.get("TORBIT_IRCTEST_CLI")
    assert cli, "REGISTER could not create the account, and TORBIT_IRCTEST_CLI is not set"
    if Path(cli).resolve() == (Path(sys.prefix) / "bin" / "torbit").resolve():
        from typer.testing import CliRunner

        from torbit.cli import app

        return CliRunner().invoke(app, list(args), input=stdin + "\n").exit_code == 0
    done = subprocess.run(
        [cli, *args], input=stdin + "\n", capture_output=True, text=True, check=False
    )
    return done.returncode == 0


def get_irctest_controller_class() -> type[TorbitController]:
    return TorbitController
