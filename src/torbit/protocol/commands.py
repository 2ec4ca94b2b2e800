"""The one table of slash commands. Arity, the role a command needs in the room it acts on and
help text live here, so the checks happen once and /help is generated from the same rows. The
core reads `role` when it authorizes an action, whichever front door (telnet or the HTTP API)
asked for it."""

from __future__ import annotations

from dataclasses import dataclass

from torbit.core.models import Role
from torbit.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str  # argument synopsis shown in help and errors, e.g. "USER TEXT"
    help: str
    min_args: int = 0
    max_args: int = 0
    rest: bool = False  # the last argument takes the rest of the line, spaces included
    role: Role = Role.NONE  # needed in the room acted on (server admins may do everything)


@dataclass(frozen=True, slots=True)
class Invocation:
    command: Command
    args: tuple[str, ...]


M, ADM, OWN = Role.MEMBER, Role.ADMIN, Role.OWNER

_TABLE = (
    Command("help", "", "list the commands"),
    Command("join", "ROOM", "join a room (created on first join) and talk in it", 1, 1),
    Command("create", "ROOM [private]", "create a room you own; private: invite-only", 1, 2),
    Command("leave", "[ROOM]", "leave a room (default: the current one)", 0, 1),
    Command("rooms", "", "list the rooms with their member counts"),
    Command("who", "", "list the members of the current room", role=M),
    Command("msg", "USER TEXT", "send a private message", 2, 2, rest=True),
    Command("me", "ACTION", "say what you are doing: /me waves", 1, 1, rest=True, role=M),
    Command("ignore", "USER", "never see messages from USER again", 1, 1),
    Command("unignore", "USER", "see messages from USER again", 1, 1),
    Command("ignored", "", "list the users you ignore"),
    Command("history", "[N]", "show the last N messages of the room (default 20)", 0, 1, role=M),
    Command("invite", "USER", "let USER join this (private) room", 1, 1, role=ADM),
    Command("kick", "USER", "remove USER from this room", 1, 1, role=ADM),
    Command("ban", "USER", "remove USER from this room for good", 1, 1, role=ADM),
    Command("unban", "USER", "let a banned USER join again", 1, 1, role=ADM),
    Command("mute", "USER MINUTES", "stop USER sending here for MINUTES", 2, 2, role=ADM),
    Command("unmute", "USER", "let a muted USER send again", 1, 1, role=ADM),
    Command("topic", "[TEXT]", "set this room's topic (no text: clear it)", 0, 1, rest=True,
            role=ADM),
    Command("audit", "[N]", "show the last N moderation actions in this room", 0, 1,
            role=ADM),
    Command("op", "USER", "make a member an admin of this room", 1, 1, role=OWN),
    Command("deop", "USER", "take a room admin's rights away", 1, 1, role=OWN),
    Command("private", "on|off", "make this room invite-only, or public", 1, 1, role=OWN),
    Command("quit", "", "disconnect"),
)

COMMANDS: dict[str, Command] = {c.name: c for c in _TABLE}

_WHO = {Role.ADMIN: "room admins", Role.OWNER: "room owner"}


def usage(command: Command) -> str:
    return f"/{command.name} {command.usage}".rstrip()


def parse_command(line: str) -> Invocation:
    """Parse a line starting with '/'. Raises InvalidInput saying what would be right."""
    head, _, tail = line[1:].partition(" ")
    command = COMMANDS.get(head.lower())
    if command is None:
        raise InvalidInput(f"unknown command /{head[:32]}: type /help for the list")
    tail = tail.strip()
    if command.rest and command.max_args:
        parts = tail.split(None, command.max_args - 1) if tail else []
    else:
        parts = tail.split() if tail else []
    if not command.min_args <= len(parts) <= command.max_args:
        raise InvalidInput(f"usage: {usage(command)}")
    return Invocation(command, tuple(parts))


def help_lines() -> list[str]:
    width = max(len(usage(c)) for c in _TABLE)
    return [
        f"{usage(c).ljust(width)}  {c.help}" + (f" ({_WHO[c.role]})" if c.role in _WHO else "")
        for c in _TABLE
    ]
