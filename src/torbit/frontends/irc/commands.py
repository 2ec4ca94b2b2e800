"""The IRC door's command table: each row holds a command's name, the parameters it needs,
its handler, its help and whether it works before registration; the role a command needs is
the core policy's (for those that map onto a room action), shown in HELP and checked by the
core when the command acts. `dispatch` is the one place where a client's command meets it:
unknown commands get 421, early ones 451, short ones 461."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from torbit.core import policy
from torbit.core.models import Role
from torbit.frontends.irc import (
    channels,
    chat,
    connect,
    history,
    modes,
    monitor,
    oper,
    pacing,
    queries,
)
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.commands import help_rows
from torbit.protocol.irc import Message

Handler = Callable[[IrcSession, Message], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    min_params: int
    handler: Handler
    help: str
    early: bool = False  # allowed before registration
    action: str = ""  # the core policy action it maps to, if any
    cost: int = 1  # pacing units it spends (pacing.py); handlers add targets and lookups

    @property
    def role(self) -> Role:
        return policy.needed(self.action) if self.action else Role.NONE


def dispatch(session: IrcSession, msg: Message) -> Awaitable[None] | None:
    name = msg.command.upper()
    command = COMMANDS.get(name)
    pacing.began(session, command.cost if command is not None else 1)
    if not session.registered:
        counted = f"CAP {msg.params[0].upper()[:8]}" if name == "CAP" and msg.params else name
        if session.too_early(counted):
            return None
    if command is None:
        if session.registered:
            session.reply(n.ERR_UNKNOWNCOMMAND, name[:32], "Unknown command")
        else:
            session.reply(n.ERR_NOTREGISTERED, "You have not registered")
        return None
    if not session.registered:
        if name in REGISTRATION:
            return connect.register(session, msg)
        if not command.early:
            session.reply(n.ERR_NOTREGISTERED, "You have not registered")
            return None
    if len(msg.params) < command.min_params:
        session.reply(n.ERR_NEEDMOREPARAMS, name, "Not enough parameters")
        return None
    return command.handler(session, msg)


def help_lines(c: Command) -> list[str]:
    """A command's HELP lines, at most 100 columns (long rows go on, indented, in more)."""
    who = policy.who_may(c.action) if c.action else ""
    return help_rows(f"{c.name:<12} ", c.help + (f" ({who})" if who else ""))


def help_(session: IrcSession, msg: Message) -> None:
    topic = msg.params[0].upper() if msg.params else ""
    rows = [COMMANDS[topic]] if topic in COMMANDS else [] if topic else list(TABLE)
    if topic and not rows:
        session.reply(n.ERR_HELPNOTFOUND, topic[:32], "No help available on this topic")
        return
    subject = topic or "*"
    start = help_lines(rows[0])[0][13:] if topic else "torbit IRC commands"  # as InspIRCd's
    session.reply(n.RPL_HELPSTART, subject, start)
    for c in rows:
        for line in help_lines(c):
            session.reply(n.RPL_HELPTXT, subject, line)
    session.reply(n.RPL_ENDOFHELP, subject, "End of /HELP")


def _row(
    name: str,
    min_params: int,
    handler: Handler,
    help: str,
    *,
    early: bool = False,
    action: str = "",
    cost: int = 1,
) -> Command:
    return Command(name, min_params, handler, help, early, action, cost)


TABLE: tuple[Command, ...] = (
    # connection
    _row("CAP", 0, connect.cap, "negotiate IRCv3 capabilities", early=True),
    _row(
        "NICK",
        0,
        connect.nick,
        "choose a nick (guests only: an account's nick is its name)",
        early=True,
    ),
    _row("USER", 0, connect.already_registered, "say your user name and real name", early=True),
    _row(
        "PASS",
        0,
        connect.already_registered,
        "log in: PASS name:password, before NICK/USER",
        early=True,
    ),
    _row("AUTHENTICATE", 0, connect.authenticate, "log in with SASL PLAIN", early=True),
    _row(
        "REGISTER",
        0,
        connect.register_command,
        "create an account (draft/account-registration)",
        early=True,
    ),
    _row("PING", 1, connect.ping, "check the connection", early=True),
    _row("PONG", 0, connect.pong, "answer a PING", early=True),
    _row("QUIT", 0, connect.quit_, "disconnect", early=True),
    _row("MOTD", 0, connect.motd, "show the message of the day", cost=2),
    _row("LUSERS", 0, connect.lusers, "count the users"),
    # messages
    _row("PRIVMSG", 0, chat.privmsg, "send a message to #room or nick"),
    _row("NOTICE", 0, chat.notice, "send a notice to #room or nick"),
    _row("TAGMSG", 1, chat.tagmsg, "send only tags (not carried: CLIENTTAGDENY=*)"),
    _row(
        "CHATHISTORY",
        1,
        history.chathistory,
        "read a room's or a conversation's history",
        action="history",
        cost=2,
    ),
    # rooms
    _row("JOIN", 1, channels.join, "join #room (created on first join); JOIN 0 leaves all"),
    _row("PART", 1, channels.part, "leave #room"),
    _row("TOPIC", 1, channels.topic, "show or set #room's topic", action="topic"),
    _row("NAMES", 0, channels.names, "list who is in #room, on every door", action="who", cost=2),
    _row("LIST", 0, channels.list_, "list the rooms", cost=5),
    _row("KICK", 2, channels.kick, "remove a member from #room", action="kick"),
    _row("INVITE", 0, channels.invite, "let nick join #room", action="invite"),
    _row("UNINVITE", 1, channels.uninvite, "decline your invitation to #room"),
    _row(
        "MODE",
        1,
        modes.mode,
        "#room: +o admins, +v voices, +b bans, +e ban exceptions, +I invite exceptions, +k key, "
        "+l limit, +m moderated, -n outsiders, -t topic for all; +i private (owner). Yours: +i",
    ),
    # people
    _row("WHO", 0, queries.who, "list users in #room or matching a mask", cost=2),
    _row("WHOIS", 1, queries.whois, "show who nick is", cost=2),
    _row(
        "WHOWAS",
        1,
        queries.whowas,
        "show who nick was, among IRC clients that left this node",
        cost=2,
    ),
    _row("USERHOST", 1, queries.userhost, "show nicks' user@host"),
    _row("ISON", 1, queries.ison, "which of these nicks are online"),
    _row("AWAY", 0, queries.away, "mark yourself away (no text: back)"),
    _row(
        "MONITOR",
        1,
        monitor.monitor,
        "+nick,.../-nick,.../C/L/S: be told when nicks come online or go offline",
    ),
    _row("SETNAME", 1, queries.setname, "change your real name (setname)"),
    _row("SILENCE", 0, queries.silence, "+nick/-nick: your ignore list, shared by every door"),
    # the server
    _row("HELP", 0, help_, "list the commands", cost=5),
    _row("HELPOP", 0, help_, "the same as HELP (InspIRCd's name for it)", cost=5),
    _row("VERSION", 0, queries.version, "show the server's version"),
    _row("TIME", 0, queries.time_, "show the server's time"),
    _row("INFO", 0, queries.info, "about this server", cost=2),
    _row("LINKS", 0, queries.links, "list the servers (just this one)"),
    # operators: server admins (core/operators.py)
    _row("OPER", 2, oper.oper, "OPER account password: act as an IRC operator (server admins)"),
    _row("KILL", 1, oper.kill, "KILL nick [reason]: disconnect a user everywhere (operators)"),
    _row("WALLOPS", 1, oper.wallops, "send a message to the operators and +w users (operators)"),
)

COMMANDS: dict[str, Command] = {c.name: c for c in TABLE}
# sent before registration, these go to the registration machine (registration.py)
REGISTRATION = frozenset({"CAP", "NICK", "USER", "PASS", "AUTHENTICATE", "REGISTER"})
