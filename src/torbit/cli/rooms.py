"""`torbit room`: list, add and delete rooms (a deletion reaches every running node)."""

from __future__ import annotations

from typing import Annotated

import typer

from torbit.cli.common import (
    ConfigOption,
    WaitOption,
    answer_when_applied,
    fail,
    run_with_store,
    settings_of,
    store_time,
    with_log,
)
from torbit.core.feedmarks import WAIT_S, StoreFeed
from torbit.core.format import counted
from torbit.core.ports import MessageLog, Store

room_app = typer.Typer(help="Manage rooms.", no_args_is_help=True)


@room_app.command("list")
def room_list(config: ConfigOption = None) -> None:
    """List the rooms: name, member count, topic (the order every door lists them in)."""
    settings = settings_of(config)

    async def work(store: Store) -> None:
        rooms = await store.list_rooms()
        for room, members in rooms:
            flag = "  (private)" if room.private else ""
            topic = f" - {room.topic}" if room.topic else ""
            typer.echo(f"#{room.name}  {counted(members, 'member')}{flag}{topic}")
        if not rooms:
            typer.echo("no rooms")

    run_with_store(settings, work)


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
    from torbit.core.joinchecks import reads_like, taken
    from torbit.core.models import Room
    from torbit.core.names import check_new_room_name, name_key
    from torbit.errors import Conflict, LooksAlike, NotFound

    settings = settings_of(config)
    room_name = name.removeprefix("#")

    async def work(store: Store) -> None:
        key = check_new_room_name(room_name)
        made_by = None if owner is None else await store.get_user(name_key(owner))
        if owner is not None and made_by is None:
            raise NotFound(f"no user {owner!r}: torbit user add {owner} first")
        room = Room(
            name=room_name,
            created_at=(await store_time(store))(),  # as a node dates it (rowclock60)
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

    run_with_store(settings, work, create=True)


@room_app.command("del", short_help="Delete a room with its messages.")
def room_del(
    name: str,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    wait: WaitOption = WAIT_S,
) -> None:
    """Delete a room (a leading '#' is dropped) with its memberships, invitations, bans,
    mutes, admins, read cursors and messages. Everyone in it on a running node leaves it,
    told that the server's operator deleted it; answered once every running node has, or
    naming those that had not within --wait seconds. The default room stays."""
    from torbit.core.roomdeletion import delete_by_operator

    settings = settings_of(config)
    room_name = name.removeprefix("#")
    if not yes and not typer.confirm(f"Delete room #{room_name} and its messages, for everyone?"):
        fail("nothing deleted")

    async def work(store: Store) -> None:
        async def delete(log: MessageLog) -> None:
            now = await store_time(store)  # the store's clock, read once (rowclock60)
            feed = StoreFeed(store, now)
            default = settings.chat.default_room
            room = await delete_by_operator(store, log, room_name, default, now, feed.tell)
            await answer_when_applied(feed, wait, f"deleted room #{room.name}")

        await with_log(settings, store, delete)

    run_with_store(settings, work)
