"""The `torbit` command: serve, and administer users, rooms and the database. Commands only
parse arguments, load the config and call the app or the services.

Exit codes, one rule for every command (docs/operations.md): 0 done; 1 refused or failed, the
store or node answered no (a taken name, no such user, an older schema); 2 cannot tell, no
answer came (a bad config or arguments, the store or node unreachable, no SQLite file), so a
script may retry or page instead of acting on a no. `serve` exits 3 when its node is stopped.

This module is the app with `serve` and `version`; each group of commands has its module
(users.py, rooms.py, database.py, node.py) over what they share (common.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import typer

from torbit import __version__
from torbit.cli.common import CANNOT_TELL, ConfigOption, fail, settings_of
from torbit.cli.database import db_app
from torbit.cli.node import node_app
from torbit.cli.rooms import room_app
from torbit.cli.users import user_app
from torbit.config_file import find_config
from torbit.errors import ConfigError, NodeStopped

app = typer.Typer(
    help="torbit: a multi-room chat server.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(user_app, name="user")
app.add_typer(room_app, name="room")
app.add_typer(db_app, name="db")
app.add_typer(node_app, name="node")


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the server (telnet, HTTP and IRC, each door as configured) until SIGINT or SIGTERM."""
    from torbit.app import App

    path = find_config(config)
    settings = settings_of(path)  # the start-up banner says which config and database
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(App(settings, config_path=path).run())
    except ConfigError as e:
        fail(e.message, CANNOT_TELL)
    except NodeStopped:
        raise typer.Exit(3) from None  # its line is logged
    except KeyboardInterrupt:
        pass


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    app()
