"""The telnet door's command table: each row holds a command's name, syntax, help and
handler, and `/help` is generated from the rows. The handlers live by theme (rooms.py,
people.py, moderation.py, account.py), as the IRC door's do; the table is the one place
that names them. The role a command needs is the core policy's (shown in help); the core
checks it when the command acts."""

from __future__ import annotations

from dataclasses import dataclass

from torbit.core import policy
from torbit.core.models import Role
from torbit.errors import InvalidInput
from torbit.frontends.telnet import account, moderation, people, rooms
from torbit.frontends.telnet.command_session import CommandSession, Handler, info
from torbit.protocol.commands import (
    HELP_WIDTH,
    BadArguments,
    Syntax,
    help_rows,
    parse_args,
    split_command,
    split_words,
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    syntax: Syntax
    help: str
    handler: Handler

    @property
    def role(self) -> Role:
        return policy.needed(self.name)

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.syntax.usage}".rstrip()


def parse_command(line: str) -> tuple[Command, tuple[str, ...]]:
    """The command and its arguments; InvalidInput saying what would be right."""
    name, tail = split_command(line)
    command = COMMANDS.get(name)
    if command is None:
        raise InvalidInput(f"unknown command /{name[:32]}: type /help for the list")
    try:
        return command, parse_args(command.syntax, tail)
    except BadArguments:
        # `/join my room now` meant one room: the usage alone does not say why not
        spaces = "ROOM" in command.usage and len(split_words(tail)) > command.syntax.max_args
        hint = ": a room name has no spaces" if spaces else ""
        raise InvalidInput(f"usage: {command.usage}{hint}") from None


async def run_command(session: CommandSession, line: str) -> None:
    command, args = parse_command(line)
    await command.handler(session, args)


def help_lines() -> list[str]:
    """The rows of /help, shown indented by two: at most 100 columns with the indent."""
    width = max(len(c.usage) for c in TABLE)
    lines = []
    for c in TABLE:
        who = policy.who_may(c.name)
        extra = f" ({who})" if who else ""
        lines += help_rows(f"{c.usage.ljust(width)}  ", c.help + extra, HELP_WIDTH - 2)
    return lines


async def _help(session: CommandSession, args: tuple[str, ...]) -> None:
    info(session, "commands:")
    for line in help_lines():
        session.send_line("  " + line)
    info(session, "any other line is a message to the current room; //text sends /text")


def _row(
    name: str,
    usage: str,
    help: str,
    handler: Handler,
    min_args: int = 0,
    max_args: int = 0,
    rest: bool = False,
) -> Command:
    return Command(name, Syntax(usage, min_args, max_args, rest), help, handler)


TABLE: tuple[Command, ...] = (
    _row("help", "", "list the commands", _help),
    _row(
        "join",
        "ROOM [KEY]",
        "join a room (created on first join) and talk in it; KEY: its join key",
        rooms.join,
        1,
        2,
    ),
    _row(
        "create",
        "ROOM [private]",
        "create a room you own; private: invite-only",
        moderation.create,
        1,
        2,
    ),
    _row("leave", "[ROOM]", "leave a room (default: the current one)", rooms.leave, 0, 1),
    _row("rooms", "[AFTER]", "list the rooms (50 at a time, after AFTER)", rooms.rooms, 0, 1),
    _row("list", "", "list every public room: how many are in it now, its topic", rooms.list_),
    _row("who", "", "list the members of the current room (and who is away)", people.who),
    _row(
        "away",
        "[MESSAGE]",
        "mark yourself away with MESSAGE; no MESSAGE: back",
        account.away,
        0,
        1,
        rest=True,
    ),
    _row("msg", "USER TEXT", "send a private message", people.msg, 2, 2, rest=True),
    _row("msgs", "[USER]", "your last private messages (with USER)", people.msgs, 0, 1),
    _row("me", "ACTION", "say what you are doing: /me waves", people.me, 1, 1, rest=True),
    _row("ignore", "USER", "never see messages from USER again", people.ignore, 1, 1),
    _row("unignore", "USER", "see messages from USER again", people.unignore, 1, 1),
    _row("ignored", "", "list the users you ignore", people.ignored),
    _row(
        "history", "[N]", "show the last N messages of the room (default 20)", rooms.history, 0, 1
    ),
    _row("invite", "USER", "let USER join this (private) room", moderation.invite, 1, 1),
    _row("invites", "", "list your invitations, newest first", moderation.invites),
    _row("decline", "ROOM", "remove your invitation to ROOM", moderation.decline, 1, 1),
    _row("kick", "USER [REASON]", "remove USER from this room", moderation.kick, 1, 2, rest=True),
    _row(
        "ban",
        "USER|MASK [REASON]",
        "bar USER for good, or whoever matches MASK nick!user@host",
        moderation.ban,
        1,
        2,
        rest=True,
    ),
    _row("unban", "USER|MASK", "let a banned USER, or a MASK, join again", moderation.unban, 1, 1),
    _row(
        "bans",
        "",
        "list the users and masks banned from this room, and the exceptions",
        moderation.bans,
    ),
    _row("except", "MASK", "no ban mask bars whoever matches MASK", moderation.except_, 1, 1),
    _row("unexcept", "MASK", "lift the exception of MASK", moderation.unexcept, 1, 1),
    _row(
        "invex", "MASK", "whoever matches MASK may join this private room", moderation.invex, 1, 1
    ),
    _row("uninvex", "MASK", "lift the invite exception of MASK", moderation.uninvex, 1, 1),
    _row("mute", "USER MINUTES", "stop USER sending here for MINUTES", moderation.mute, 2, 2),
    _row("unmute", "USER", "let a muted USER send again", moderation.unmute, 1, 1),
    _row(
        "topic",
        "[TEXT|off]",
        "show this room's topic; set it, or clear it with off",
        rooms.topic,
        0,
        1,
        rest=True,
    ),
    _row("audit", "[N]", "show the last N moderation actions in this room", moderation.audit, 0, 1),
    _row("op", "USER", "make a member an admin of this room", moderation.op, 1, 1),
    _row("deop", "USER", "take a room admin's rights away", moderation.deop, 1, 1),
    _row(
        "voice",
        "USER",
        "let a member speak here while the room is moderated",
        moderation.voice,
        1,
        1,
    ),
    _row(
        "devoice",
        "USER",
        "take a member's voice away (your own: any member)",
        moderation.devoice,
        1,
        1,
    ),
    _row("private", "on|off", "make this room invite-only, or public", moderation.private, 1, 1),
    _row(
        "delroom",
        "[ROOM]",
        "delete a room (default: this one) with all its messages",
        moderation.delroom,
        0,
        1,
    ),
    _row(
        "set",
        "[SETTING VALUE]",
        "show settings; admins set key, limit, topic-lock, outsiders, moderated",
        moderation.set_,
        0,
        2,
        rest=True,
    ),
    _row("quit", "", "disconnect", account.quit_),
)

COMMANDS: dict[str, Command] = {c.name: c for c in TABLE}
