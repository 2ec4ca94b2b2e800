"""The `torbit` command: serve, and administer users, rooms and the database. Commands only
parse arguments, load the config and call the app or the services.

Exit codes, one rule for every command (docs/operations.md): 0 done; 1 refused or failed, the
store or node answered no (a taken name, no such user, an older schema); 2 cannot tell, no
answer came (a bad config or arguments, the store or node unreachable, no SQLite file), so a
script may retry or page instead of acting on a no. `serve` exits 3 when its node is stopped."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from torbit import __version__
from torbit.config import Settings, find_config, load_settings
from torbit.core.accounts import Accounts
from torbit.core.format import counted
from torbit.core.ports import MessageLog, Store
from torbit.errors import ConfigError, NodeStopped, ServiceUnavailable, TorbitError

T = TypeVar("T")
REFUSED = 1  # the request was answered no
CANNOT_TELL = 2  # no answer: bad config or arguments, store or node unreachable

app = typer.Typer(
    help="torbit: a multi-room chat server.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
room_app = typer.Typer(help="Manage rooms.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(room_app, name="room")
app.add_typer(db_app, name="db")
node_app = typer.Typer(help="Operate a running node.", no_args_is_help=True)
app.add_typer(node_app, name="node")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: $TORBIT_CONFIG, else ./torbit.toml if present, "
        "else built-in defaults)",
    ),
]


_source = ["built-in defaults"]  # which config this process's command read, for _run to say


def _settings(config: Path | None) -> Settings:
    """The settings serve and every command share (config.find_config). Commands say on
    stderr which config and database they use (see _run), so that a command run elsewhere
    cannot silently use another database than the server's."""
    path = find_config(config)
    try:
        settings = load_settings(path)
    except ConfigError as e:
        _fail(e.message, CANNOT_TELL)
    _source[0] = describe_source(settings, path)
    return settings


def describe_source(settings: Settings, path: Path | None) -> str:
    from torbit.backends.urls import redact

    source = f"config {path}" if path is not None else "built-in defaults (no torbit.toml here)"
    return f"database {redact(settings.storage.url)}, {source}"


def _require_database(settings: Settings) -> None:
    """Commands that only read or change what exists never create an SQLite database: run in
    the wrong directory, they would report an empty one instead of the server's."""
    from torbit.backends.urls import sqlite_path

    path = sqlite_path(settings.storage.url)
    if path is not None and not path.exists():
        _fail(
            f"no database at {path} ({_source[0]}): run this where the server runs, or "
            "pass the server's --config (torbit serve and torbit user add create it)",
            CANNOT_TELL,
        )


def _fail(message: str, code: int = REFUSED) -> NoReturn:
    typer.echo(f"torbit: {message}", err=True)
    raise typer.Exit(code)


def _run(settings: Settings, work: Callable[[Store], Awaitable[T]], create: bool = False) -> T:
    """Open the store, run `work(store)`, close; errors become one clear line and the exit
    code of the rule above (an unreachable store is 2, as for `db status`). Only with
    `create` may a new database be made."""
    from torbit.backends.registry import open_store

    if not create:
        _require_database(settings)
    typer.echo(f"torbit: {_source[0]}", err=True)

    async def main() -> T:
        store = open_store(
            settings.storage.url,
            settings.storage.synchronous,
            consistency=settings.storage.consistency,
        )
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (ConfigError, ServiceUnavailable) as e:
        _fail(e.message, CANNOT_TELL)
    except TorbitError as e:
        _fail(e.message, REFUSED)


def _accounts(settings: Settings, store: Store, log: MessageLog | None = None) -> Accounts:
    """The accounts service as the CLI uses it: revocations go to the store, where every
    running node finds them within a second (core/revocation.py)."""
    from torbit.services import account_names, password_hashing

    a = settings.accounts
    return Accounts(
        store,
        registration_open=True,
        min_password_length=a.min_password_length,
        hashing=password_hashing(settings, workers=1, queue=1),
        names=account_names(settings),
        log=log,
    )


async def _with_log(
    settings: Settings, store: Store, work: Callable[[MessageLog], Awaitable[T]]
) -> T:
    """Run `work` with the configured message log started (deleting an account deletes its
    messages too)."""
    from torbit.services import message_log_of

    log = message_log_of(settings, store)
    await log.start(lambda _message: None)
    try:
        return await work(log)
    finally:
        await log.close()


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the server (telnet, HTTP and IRC, each door as configured) until SIGINT or SIGTERM."""
    from torbit.app import App

    path = find_config(config)
    settings = _settings(path)  # the start-up banner says which config and database
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(App(settings, config_path=path).run())
    except ConfigError as e:
        _fail(e.message, CANNOT_TELL)
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


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="read the password from the first line of standard input"
    ),
]


def _password(prompt: str, from_stdin: bool) -> str:
    """Never from the command line, where every user of the machine could read it in the
    process list: asked twice on the terminal, or read from stdin with --password-stdin."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            _fail(
                "--password-stdin: standard input is empty: pipe the password into it", CANNOT_TELL
            )
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        _fail(
            "no terminal to ask for the password on: pass --password-stdin and pipe it", CANNOT_TELL
        )
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} again: ") != first:
        _fail("the passwords do not match")
    return first


@user_app.command("add", short_help="Add a user.")
def user_add(
    name: str,
    config: ConfigOption = None,
    admin: Annotated[bool, typer.Option(help="make the user a server admin")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user (asks for the password twice, or reads it with --password-stdin). Reserved
    names may be given here; the other rules for new names hold."""
    settings = _settings(config)
    pw = _password("Password", password_stdin)

    async def work(store: Store) -> None:
        accounts = _accounts(settings, store)
        user = await accounts.register(name, pw, by_admin=True)
        if admin:
            await accounts.set_admin(name, True)
        typer.echo(f"added user {user.name}")

    _run(settings, work, create=True)


@user_app.command("list")
def user_list(config: ConfigOption = None) -> None:
    """List the users."""
    settings = _settings(config)

    async def work(store: Store) -> None:
        users = await _accounts(settings, store).list()
        for u in users:
            flag = "  (admin)" if u.is_admin else ""
            typer.echo(f"{u.name}  registered {u.created_at:%Y-%m-%d %H:%M}{flag}")
        if not users:
            typer.echo("no users")

    _run(settings, work)


@user_app.command("passwd", short_help="Change a user's password.")
def user_passwd(
    name: str, config: ConfigOption = None, password_stdin: PasswordStdin = False
) -> None:
    """Change a user's password: their tokens are revoked and their open sessions closed on
    every running node within a second."""
    settings = _settings(config)
    pw = _password("New password", password_stdin)

    async def work(store: Store) -> None:
        await _accounts(settings, store).set_password(name, pw)
        typer.echo(f"password of {name} changed")

    _run(settings, work)


@user_app.command("del", short_help="Delete a user and all that is theirs.")
def user_del(
    name: str,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a user: their open sessions are closed, then the account goes with its
    memberships, ignore lists, cursors, tokens and private messages. Rooms they owned are
    deleted if no one else is in them, else become server-owned."""
    settings = _settings(config)
    if not yes and not typer.confirm(
        f"Delete user {name}, their private messages and the rooms only they are in?"
    ):
        _fail("nothing deleted")

    async def work(store: Store) -> None:
        async def delete(log: MessageLog) -> None:
            deletion = await _accounts(settings, store, log).delete(name)
            typer.echo(f"deleted user {name}")
            for room in deletion.rooms_deleted:
                typer.echo(f"deleted room #{room} (no one else was in it)")
            for room in deletion.rooms_kept:
                typer.echo(f"#{room} is now server-owned")

        await _with_log(settings, store, delete)

    _run(settings, work)


@user_app.command("set-admin", short_help="Make a user a server admin, or no longer one.")
def user_set_admin(
    name: str,
    config: ConfigOption = None,
    revoke: Annotated[bool, typer.Option(help="take the admin right away")] = False,
) -> None:
    """Make a user a global server admin; --revoke takes it away and closes their open
    sessions on every running node within a second (they may log in again)."""
    settings = _settings(config)

    async def work(store: Store) -> None:
        await _accounts(settings, store).set_admin(name, not revoke)
        typer.echo(f"{name} is {'no longer ' if revoke else ''}a server admin")

    _run(settings, work)


@room_app.command("list")
def room_list(config: ConfigOption = None) -> None:
    """List the rooms: name, member count, topic (the order every door lists them in)."""
    settings = _settings(config)

    async def work(store: Store) -> None:
        rooms = await store.list_rooms()
        for room, members in rooms:
            flag = "  (private)" if room.private else ""
            topic = f" - {room.topic}" if room.topic else ""
            typer.echo(f"#{room.name}  {counted(members, 'member')}{flag}{topic}")
        if not rooms:
            typer.echo("no rooms")

    _run(settings, work)


@room_app.command("add", short_help="Add a room, optionally with an owner.")
def room_add(
    name: str,
    config: ConfigOption = None,
    owner: Annotated[
        str | None, typer.Option(help="an existing user who owns the room and is its first member")
    ] = None,
    private: Annotated[bool, typer.Option(help="only members and invited users see it")] = False,
) -> None:
    """Add a room before anyone joins it (a leading '#' is dropped). Without --owner nobody
    owns it: a server admin gives out room admin rights (/op)."""
    from datetime import UTC, datetime

    from torbit.core.joinchecks import reads_like, taken
    from torbit.core.models import Room
    from torbit.core.names import check_name, name_key
    from torbit.errors import Conflict, LooksAlike, NotFound

    settings = _settings(config)
    room_name = name.removeprefix("#")

    async def work(store: Store) -> None:
        key = check_name(room_name, "room name")
        made_by = None if owner is None else await store.get_user(name_key(owner))
        if owner is not None and made_by is None:
            raise NotFound(f"no user {owner!r}: torbit user add {owner} first")
        room = Room(
            name=room_name,
            created_at=datetime.now(UTC),
            owner=None if made_by is None else made_by.name,
            private=private,
        )
        try:
            room = await store.create_room(room)
        except LooksAlike:
            raise reads_like(room_name) from None
        except Conflict:
            raise taken(room_name) from None
        if made_by is not None:
            await store.add_member(key, made_by.key)
        kind = "private room" if private else "room"
        by = f", owned by {room.owner}" if room.owner else ""
        typer.echo(f"added {kind} #{room.name}{by}")

    _run(settings, work, create=True)


@room_app.command("del", short_help="Delete a room with its messages.")
def room_del(
    name: str,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a room (a leading '#' is dropped) with its memberships, invitations, bans,
    mutes, admins, read cursors and messages. Everyone in it on a running node leaves it
    within a second, told that the server's operator deleted it. The default room stays."""
    from datetime import UTC, datetime

    from torbit.core.roomdeletion import delete_by_operator

    settings = _settings(config)
    room_name = name.removeprefix("#")
    if not yes and not typer.confirm(f"Delete room #{room_name} and its messages, for everyone?"):
        _fail("nothing deleted")

    async def work(store: Store) -> None:
        async def delete(log: MessageLog) -> None:
            now = lambda: datetime.now(UTC)  # noqa: E731
            room = await delete_by_operator(store, log, room_name, settings.chat.default_room, now)
            typer.echo(f"deleted room #{room.name}")

        await _with_log(settings, store, delete)

    _run(settings, work)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the schema migrations (serve does this by itself at start)."""
    settings = _settings(config)

    async def work(store: Store) -> None:
        typer.echo("database schema is up to date")

    _run(settings, work, create=True)


@db_app.command("status", short_help="Is the schema this torbit's? Exit 1: no; 2: cannot tell.")
def db_status(config: ConfigOption = None) -> None:
    """Say whether the database's schema is this torbit's (exit 0) or not (exit 1: older,
    none, or a newer torbit's), changing nothing: before a rollout, or after restoring a
    backup. Exit 2 when it cannot tell (bad config, no SQLite file where the config points,
    database unreachable), so that a script running `torbit db upgrade` on exit 1 only
    migrates a database that answered, never makes an empty one in the wrong place."""
    settings = _settings(config)
    _require_database(settings)
    typer.echo(f"torbit: {_source[0]}", err=True)
    try:
        current, head, known = asyncio.run(_schema_status(settings))
    except TorbitError as e:  # ConfigError, ServiceUnavailable: no answer from the schema
        _fail(e.message, CANNOT_TELL)
    if current == head:
        typer.echo(f"schema {current}: up to date")
        return
    if current is None:
        typer.echo(f"no schema yet (this torbit's is {head}): run torbit db upgrade")
    elif not known:
        typer.echo(
            f"schema {current} is unknown to torbit {__version__} (its newest is {head}): "
            "it was made by a newer torbit"
        )
    else:
        typer.echo(f"schema {current}, this torbit's is {head}: run torbit db upgrade")
    raise typer.Exit(REFUSED)


async def _schema_status(settings: Settings) -> tuple[str | None, str | None, bool]:
    """The database's schema version, this torbit's newest, and whether this torbit knows
    the database's (a newer torbit's is unknown): Alembic revisions on SQL stores, numbered
    CQL migrations on Cassandra."""
    from torbit.backends.urls import scheme

    url = settings.storage.url
    if scheme(url) == "cassandra":
        from torbit.backends.store import cassandra, cassandra_schema

        version = await cassandra.schema_version(url, settings.storage.consistency)
        head = cassandra_schema.HEAD
        return (
            None if version is None else str(version),
            str(head),
            version is None or version <= head,
        )
    from torbit.backends.store import migrate

    revision = await migrate.current_revision(url)
    return revision, migrate.head_revision(), revision is None or migrate.is_known(revision)


def main() -> None:
    app()


@node_app.command("drain", short_help="Drain the node on this host, as SIGTERM does.")
def node_drain(
    config: ConfigOption = None,
    port: Annotated[
        int | None, typer.Option(help="the node's HTTP port (default: http.port of the config)")
    ] = None,
) -> None:
    """Drain the node on this host (as SIGTERM does): it stops accepting, reports not ready,
    asks its clients to reconnect elsewhere and exits once they are gone or after
    node.drain_seconds. Speaks to its HTTP port on loopback, with http.metrics_token if set."""
    import ssl
    import urllib.error
    import urllib.request

    settings = _settings(config)
    scheme = "https" if settings.http.tls_cert and settings.http.tls_key else "http"
    url = f"{scheme}://127.0.0.1:{port or settings.http.port}/admin/drain"
    request = urllib.request.Request(url, method="POST")
    if settings.http.metrics_token:
        request.add_header("Authorization", f"Bearer {settings.http.metrics_token}")
    # loopback to our own node: its certificate names the public host, not 127.0.0.1
    context = ssl._create_unverified_context() if scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            status = answer.status
            body = answer.read()
    except urllib.error.HTTPError as e:
        _fail(f"the node refused to drain ({e.code}): {e.read()[:200].decode(errors='replace')}")
    except OSError as e:
        _fail(f"cannot reach the node at {url}: {e}", CANNOT_TELL)
    if status != 202:
        _fail(f"the node answered {status} instead of draining")
    typer.echo(f"draining the node at {url}; it exits {_drain_bound(body)}")


def _drain_bound(body: bytes) -> str:
    """When the node exits, as it says: its node.drain_seconds, not this config's."""
    import json

    try:
        seconds = json.loads(body).get("drain_seconds")
    except (ValueError, AttributeError):
        seconds = None
    if not isinstance(seconds, int | float):
        return "when its clients are gone or after its node.drain_seconds"
    return f"within {seconds:g} s"
