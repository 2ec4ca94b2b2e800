"""IRC operators: OPER, KILL and WALLOPS over the core's operators (core/operators.py).

OPER takes a torbit account's name and password, not an O-line: a server admin's account
(`torbit user set-admin`) makes the session an operator, shown as user mode +o, `*` in WHO
and 313 in WHOIS; what it does as one is done, and audited, in that account's name. A wrong
password is 464 (and counts against the login throttle like any login), an account that is
not a server admin 491. KILL closes every session of a user on every door and node; WALLOPS
goes to the operators and the users with +w on every node."""

from __future__ import annotations

from torbit.core.events import Wallops
from torbit.errors import (
    AuthenticationFailed,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message

NOT_OPER = "Permission Denied- You're not an IRC operator"


def is_oper(session: IrcSession) -> bool:
    return session.core.operators.of(session) is not None


async def oper(session: IrcSession, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    was = is_oper(session)

    def lost(why: str) -> None:
        if not session.closed:
            server = session.server.options.server_name
            session.send(Message("MODE", (session.nick, "-o"), server))
            session.server_notice(f"You are no longer an IRC operator: {why}")

    try:
        op = await session.core.operators.oper(session, name, password, session.ip, lost)
    except AuthenticationFailed:
        session.reply(n.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    except RateLimited as e:
        session.reply(n.ERR_PASSWDMISMATCH, e.message)
        return
    except Forbidden as e:
        session.reply(n.ERR_NOOPERHOST, f"No operator rights: {e.message}")
        return
    except ServiceUnavailable as e:
        session.server_notice(f"OPER: {e.message}; please try again later")
        return
    session.reply(n.RPL_YOUREOPER, f"You are now an IRC operator, acting for {op.account}")
    if not was:
        session.send(Message("MODE", (session.nick, "+o"), session.mask))


async def kill(session: IrcSession, msg: Message) -> None:
    target = msg.params[0]
    reason = msg.params[1] if len(msg.params) > 1 else ""
    try:
        name = await session.core.operators.kill(session, target, reason)
    except Forbidden:
        session.reply(n.ERR_NOPRIVILEGES, NOT_OPER)
        return
    except (NotFound, InvalidInput):
        session.reply(n.ERR_NOSUCHNICK, target[:64], "No such nick/channel")
        return
    if name.lower() != session.nick.lower():
        session.server_notice(f"{name} was killed" + (f" ({reason[:300]})" if reason else ""))


async def wallops(session: IrcSession, msg: Message) -> None:
    try:
        await session.core.operators.wallops(session, session.nick, msg.params[0])
    except Forbidden:
        session.reply(n.ERR_NOPRIVILEGES, NOT_OPER)
    except InvalidInput as e:
        session.server_notice(f"WALLOPS: {e.message}")


def deliver_wallops(sessions: list[IrcSession], event: Wallops, source: str) -> None:
    """Show a WALLOPS to the operators and the +w sessions among `sessions`."""
    line = Message("WALLOPS", (event.text,), source)
    for s in sessions:
        if s.registered and not s.closed and (s.wallops or is_oper(s)):
            s.send_out(line)  # no command's reply, the sender's own WALLOPS either
