"""`torbit user`: add, list, change the password of, delete and make admin a user, through
the accounts service, as the doors do."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from torbit.cli.common import (
    CANNOT_TELL,
    ConfigOption,
    WaitOption,
    accounts_for,
    answer_when_applied,
    fail,
    run_with_store,
    settings_of,
    store_time,
    with_log,
)
from torbit.core.feedmarks import WAIT_S, StoreFeed
from torbit.core.names import is_valid_name, name_key
from torbit.core.ports import MessageLog, Store

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)


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
            fail(
                "--password-stdin: standard input is empty: pipe the password into it", CANNOT_TELL
            )
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        fail(
            "no terminal to ask for the password on: pass --password-stdin and pipe it", CANNOT_TELL
        )
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} again: ") != first:
        fail("the passwords do not match")
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
    settings = settings_of(config)
    pw = _password("Password", password_stdin)

    async def work(store: Store) -> None:
        accounts = accounts_for(settings, store, now=await store_time(store))
        user = await accounts.register(name, pw, by_admin=True)
        if admin:
            await accounts.set_admin(name, True)
        typer.echo(f"added user {user.name}")

    run_with_store(settings, work, create=True)


@user_app.command("list")
def user_list(config: ConfigOption = None) -> None:
    """List the users."""
    settings = settings_of(config)

    async def work(store: Store) -> None:
        users = await accounts_for(settings, store).list()
        for u in users:
            flag = "  (admin)" if u.is_admin else ""
            typer.echo(f"{u.name}  registered {u.created_at:%Y-%m-%d %H:%M}{flag}")
        if not users:
            typer.echo("no users")

    run_with_store(settings, work)


@user_app.command("passwd", short_help="Change a user's password.")
def user_passwd(
    name: str,
    config: ConfigOption = None,
    password_stdin: PasswordStdin = False,
    wait: WaitOption = WAIT_S,
) -> None:
    """Change a user's password: their tokens are revoked and their open sessions closed on
    every running node; answered once every node has (their acts under way ended first),
    or naming those that had not within --wait seconds."""
    settings = settings_of(config)
    pw = _password("New password", password_stdin)

    async def work(store: Store) -> None:
        now = await store_time(store)
        feed = StoreFeed(store, now)
        await accounts_for(settings, store, feed=feed, now=now).set_password(name, pw)
        await answer_when_applied(feed, wait, f"password of {name} changed")

    run_with_store(settings, work)


@user_app.command("del", short_help="Delete a user and all that is theirs.")
def user_del(
    name: str,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    wait: WaitOption = WAIT_S,
) -> None:
    """Delete a user: their open sessions are closed, then the account goes with its
    memberships, ignore lists, cursors, tokens and private messages. Rooms they owned are
    deleted if no one else is in them, else become server-owned. Answered once every
    running node has closed the sessions (their acts under way ended first), or naming
    those that had not within --wait seconds."""
    settings = settings_of(config)
    if not yes and not typer.confirm(
        f"Delete user {name}, their private messages and the rooms only they are in?"
    ):
        fail("nothing deleted")

    async def work(store: Store) -> None:
        async def delete(log: MessageLog) -> None:
            # the rooms' names as people wrote them (#Den, not the key #den), read before
            # the deletion takes some of them away
            shown = {}
            for key in await store.owned_rooms(name_key(name)) if is_valid_name(name) else ():
                room = await store.get_room(key)
                shown[key] = room.name if room else key
            now = await store_time(store)
            feed = StoreFeed(store, now)
            deletion = await accounts_for(settings, store, log, feed, now).delete(name)
            said = [f"deleted user {name}"]
            for key in deletion.rooms_deleted:
                said.append(f"deleted room #{shown.get(key, key)} (no one else was in it)")
            for key in deletion.rooms_kept:
                said.append(f"#{shown.get(key, key)} is now server-owned")
            await answer_when_applied(feed, wait, *said)

        await with_log(settings, store, delete)

    run_with_store(settings, work)


@user_app.command("set-admin", short_help="Make a user a server admin, or no longer one.")
def user_set_admin(
    name: str,
    config: ConfigOption = None,
    revoke: Annotated[bool, typer.Option(help="take the admin right away")] = False,
    wait: WaitOption = WAIT_S,
) -> None:
    """Make a user a global server admin; --revoke takes it away and closes their open
    sessions on every running node (they may log in again), answered once every node has
    applied it, their acts under way there (a kick read the right before) ended first, or
    naming the nodes that had not within --wait seconds (exit 2)."""
    settings = settings_of(config)

    async def work(store: Store) -> None:
        now = await store_time(store)
        feed = StoreFeed(store, now)
        await accounts_for(settings, store, feed=feed, now=now).set_admin(name, not revoke)
        done = f"{name} is {'no longer ' if revoke else ''}a server admin"
        await answer_when_applied(feed, wait, done)

    run_with_store(settings, work)
