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
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from irctest.controllers.external_server import ExternalServerController

OPER_NAME, OPER_PASSWORD = "operuser", "operpassword"  # irctest's own controllers use these


class TorbitController(ExternalServerController):
    software_name = "torbit"
    supported_sasl_mechanisms: ClassVar[set[str]] = {"PLAIN"}
    registered: ClassVar[list[str]] = []  # the accounts the running test made
    oper_made: ClassVar[bool] = False

    def run(self, *args: Any, **kwargs: Any) -> None:
        super().run(*args, **kwargs)
        if not TorbitController.oper_made and os.environ.get("TORBIT_IRCTEST_CLI"):
            made = _cli("user", "add", OPER_NAME, "--admin", "--password-stdin",
                        stdin=OPER_PASSWORD)
            if not made:  # left by an earlier run against the same store
                assert _cli("user", "passwd", OPER_NAME, "--password-stdin",
                            stdin=OPER_PASSWORD), OPER_NAME
                assert _cli("user", "set-admin", OPER_NAME), OPER_NAME
            TorbitController.oper_made = True

    def kill(self) -> None:
        """The end of a test: the accounts it made are deleted, so that later tests find
        their nicks free for guests, as on a fresh server."""
        super().kill()
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
    done = subprocess.run([cli, *args], input=stdin + "\n", capture_output=True, text=True,
                          check=False)
    return done.returncode == 0


def get_irctest_controller_class() -> type[TorbitController]:
    return TorbitController
