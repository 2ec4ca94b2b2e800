"""Commands of a connection as such: registering (the steps of registration.py carried out
against the accounts and guests services), the welcome burst with RPL_ISUPPORT, MOTD and
LUSERS, PING/PONG, QUIT, and what NICK, USER, PASS, CAP, AUTHENTICATE and REGISTER mean once
a client is registered."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable

from torbit.core.banmasks import MAX_BAN_MASKS
from torbit.core.delivery import NO_IGNORES
from torbit.core.moderation_limits import MAX_KICK_REASON_BYTES, MAX_TOPIC_BYTES
from torbit.core.names import MAX_NAME_LENGTH, name_key
from torbit.core.presence_details import AWAY_MAX
from torbit.core.sessions import Fresh, Proof
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    RateLimited,
    ServiceUnavailable,
)
from torbit.frontends.irc import labels
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc import registration as reg
from torbit.frontends.irc.monitor import MONITOR_LIMIT
from torbit.frontends.irc.output import TARGMAX
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import isupport

log = logging.getLogger("torbit.irc")

# RPL_MYINFO: the channel modes MODE #room shows and takes (ISUPPORT's CHANMODES and the
# PREFIX modes but q: owners are not made by MODE), and those of them taking a parameter
CHANNEL_MODES = "beIiklmnostv"
CHANNEL_MODES_WITH_PARAMETER = "beIklov"
USER_MODES = "iow"


def isupport_tokens(session: IrcSession) -> dict[str, str | None]:
    options = session.server.options
    silence_limit = session.core.ignores.max_entries
    return {
        "AWAYLEN": str(AWAY_MAX),  # bytes, as TOPICLEN and KICKLEN: what is longer is cut
        "CASEMAPPING": "ascii",
        "CHANLIMIT": f"#:{options.rooms_per_user or 1000}",
        "CHANMODES": "beI,k,l,imnst",
        "CHANNELLEN": str(MAX_NAME_LENGTH + 1),
        "CHANTYPES": "#",
        "CHATHISTORY": "100",
        "CLIENTTAGDENY": "*",
        "ELIST": "MNU",
        "EXCEPTS": "e",
        "INVEX": "I",
        "KICKLEN": str(MAX_KICK_REASON_BYTES),
        # each mask list; accounts' bans are not counted
        "MAXLIST": f"b:{MAX_BAN_MASKS},e:{MAX_BAN_MASKS},I:{MAX_BAN_MASKS}",
        "MODES": "4",
        "MONITOR": str(MONITOR_LIMIT),
        "MSGREFTYPES": "msgid,timestamp",
        "NETWORK": options.server_name,
        "NICKLEN": str(MAX_NAME_LENGTH),
        "PREFIX": "(qov)~@+",
        "SAFELIST": None,
        "SILENCE": str(silence_limit) if silence_limit else None,  # limits.ignores_per_user
        "TARGMAX": ",".join(
            f"{command}:{TARGMAX.get(command, '')}"
            for command in sorted({*TARGMAX, "JOIN", "LIST", "PART"})
        ),
        "TOPICLEN": str(MAX_TOPIC_BYTES),
        "USERLEN": str(MAX_NAME_LENGTH),
        "WHOX": None,
    }


# registration


def register(session: IrcSession, msg: Message) -> Awaitable[None] | None:
    """NICK, USER, PASS, CAP, AUTHENTICATE, REGISTER before the client is registered."""
    assert session.registration is not None
    return carry_out(session, session.registration.receive(msg))


def carry_out(session: IrcSession, steps: list[reg.Step]) -> Awaitable[None] | None:
    """Send what needs no I/O; the rest is work for the session to await, in order."""
    for i, step in enumerate(steps):
        if isinstance(step, reg.Send):
            session.send(step.message)
        elif isinstance(step, reg.Close):
            session.close(step.reason)
            return None
        else:
            return _carry_out_async(session, steps[i:])
    return None


async def _carry_out_async(session: IrcSession, steps: list[reg.Step]) -> None:
    while steps:
        step, *steps = steps
        if session.closed:
            return
        if isinstance(step, reg.CheckPassword):
            steps = [*await _check_password(session, step), *steps]
        elif isinstance(step, reg.CreateAccount):
            steps = [*await _create_account(session, step), *steps]
        elif isinstance(step, reg.Complete):
            steps = [*await _complete(session, step), *steps]
        elif (work := carry_out(session, [step])) is not None:
            await work


async def _check_password(session: IrcSession, step: reg.CheckPassword) -> list[reg.Step]:
    machine = session.registration
    assert machine is not None
    try:
        user = await session.core.accounts.authenticate(step.name, step.password, session.ip)
    except (AuthenticationFailed, RateLimited, ServiceUnavailable) as e:
        log.info("IRC login failed for %r from %s: %s", step.name[:40], session.ip, e.message)
        return machine.auth_failed(e.message)
    session.proof = Proof(user.credential)
    return machine.authenticated(user.name)


async def _create_account(session: IrcSession, step: reg.CreateAccount) -> list[reg.Step]:
    machine = session.registration
    assert machine is not None
    counts = session.core.sessions.counts()
    try:
        user = await session.core.accounts.register(step.name, step.password, client=session.ip)
    except Conflict:
        return machine.register_failed("ACCOUNT_EXISTS", step.name, "that name is taken")
    except Forbidden as e:
        return machine.register_failed("DISALLOWED", step.name, e.message)
    except InvalidInput as e:
        code = "WEAK_PASSWORD" if "password" in e.message else "BAD_ACCOUNT_NAME"
        return machine.register_failed(code, step.name, e.message)
    except (RateLimited, ServiceUnavailable) as e:
        return machine.register_failed("TEMPORARILY_UNAVAILABLE", step.name, e.message)
    session.proof = Proof(user.credential)
    session.fresh = Fresh(user, NO_IGNORES, counts)  # no ignores yet: created just now
    log.info("registered %s over IRC from %s", user.name, session.ip)
    return machine.account_created(user.name)


async def _complete(session: IrcSession, step: reg.Complete) -> list[reg.Step]:
    machine = session.registration
    assert machine is not None
    core = session.core
    name = step.nick
    if step.account is None:
        try:
            core.guests.check_nick(step.nick)
        except (InvalidInput, Forbidden) as e:
            return machine.nick_refused(e.message)
        await session.server.nick_free(name_key(step.nick))
        counts = core.sessions.counts()
        try:
            guest = await core.guests.admit(step.nick, session.ip)
        except Conflict:
            return machine.nick_in_use()
        except RateLimited as e:
            session.server_notice(e.message)
            session.close(e.message)
            return []
        name = guest.name
        session.proof = Proof(guest.credential)
        session.fresh = Fresh(guest, NO_IGNORES, counts)  # as inserted: no read again
        if session.closed:  # gone while admitted: nobody will log it out
            await core.guests.release(name)
            return []
    session.became(name, step.account, step.username, step.realname)
    if session.proof is None:  # no path completes without one; never log in unproven
        session.close("registration incomplete")
        return []
    try:
        fresh, session.fresh = session.fresh, None
        # the session's nick: the name as given, or the interned key it equals (one object)
        await core.sessions.login(
            session, session.nick, session.proof, f"irc {session.ip}", fresh=fresh
        )
    except AuthenticationFailed as e:  # revoked between the check and now
        session.server_notice(e.message)
        session.close("login revoked")
        return []
    except ServiceUnavailable as e:
        session.server_notice(f"{e.message}; please try again later")
        session.close("unavailable at registration")
        return []
    if session.closed:  # gone while logging in: its logout may have run first
        await core.sessions.logout(session)
        return []
    welcome(session)
    return []


def welcome(session: IrcSession) -> None:
    options = session.server.options
    nick = session.nick
    session.reply(
        n.RPL_WELCOME, f"Welcome to the {options.server_name} IRC network, {session.mask}"
    )
    session.reply(
        n.RPL_YOURHOST, f"Your host is {options.server_name}, running version {options.version}"
    )
    session.reply(n.RPL_CREATED, f"This server was created {options.started:%Y-%m-%d %H:%M:%S UTC}")
    session.reply(
        n.RPL_MYINFO,
        options.server_name,
        options.version,
        USER_MODES,
        CHANNEL_MODES,
        CHANNEL_MODES_WITH_PARAMETER,
    )
    for line in isupport(options.server_name, nick, isupport_tokens(session)):
        session.send(line)
    lusers(session, Message("LUSERS"))
    motd(session, Message("MOTD"))
    if session.core.subscriptions.away_of(session.user_key):  # set from another session
        session.reply(n.RPL_NOWAWAY, "You have been marked as being away")
    if session.account is None:
        session.server_notice(
            "You are a guest: your nick is yours until you disconnect. "
            "Log in with SASL to use your account."
        )


def lusers(session: IrcSession, msg: Message) -> None:
    users = session.core.subscriptions.online_user_count()
    server = session.server
    # 265/266 without their optional counts: the peak is said in words only, as it covers
    # this node since it started, not what a client could check
    server.peak_users = peak = max(server.peak_users, users)
    session.reply(n.RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
    session.reply(n.RPL_LUSEROP, str(session.core.operators.count()), "operator(s) online")
    session.reply(n.RPL_LUSERUNKNOWN, str(session.server.unregistered()), "unknown connection(s)")
    session.reply(n.RPL_LUSERME, f"I have {users} clients and 0 servers")
    session.reply(n.RPL_LOCALUSERS, f"Current local users {users}, max {peak}")
    session.reply(n.RPL_GLOBALUSERS, f"Current global users {users}, max {peak}")


def motd(session: IrcSession, msg: Message) -> None:
    options = session.server.options
    lines = options.motd.replace("\\n", "\n").splitlines()
    if not lines:
        session.reply(n.ERR_NOMOTD, "MOTD File is missing")
        return
    session.reply(n.RPL_MOTDSTART, f"- {options.server_name} Message of the day - ")
    for line in lines:
        session.reply(n.RPL_MOTD, f"- {line[:400]}")
    session.reply(n.RPL_ENDOFMOTD, "End of /MOTD command.")


# liveness and leaving


def ping(session: IrcSession, msg: Message) -> None:
    """A token that would not fit the PONG line (our name is added twice) is cut to fit, so
    a client waiting for its PONG still gets one."""
    server = session.server.options.server_name
    room = 510 - len(f":{server} PONG {server} :".encode())
    token = msg.params[0].encode()[:room].decode(errors="ignore")
    session.send(Message("PONG", (server, token), server))


def pong(session: IrcSession, msg: Message) -> None:
    pass  # any input counts as a sign of life


def quit_(session: IrcSession, msg: Message) -> None:
    reason = msg.params[0][:200] if msg.params else ""
    session.quit_reason = reason or "Client Quit"
    labels.quitting(session)  # its ERROR is its reply
    session.close(f"Quit: {reason}" if reason else "Client Quit")


# registration commands once registered


def nick(session: IrcSession, msg: Message) -> Awaitable[None] | None:
    if not msg.params or not msg.params[0]:
        session.reply(n.ERR_NONICKNAMEGIVEN, "No nickname given")
        return None
    new = msg.params[0]
    if new == session.nick:
        return None
    if session.account is not None:
        session.reply(
            n.ERR_NONICKCHANGE, new[:64], "Your nick is your account name: it cannot change"
        )
        return None
    if not reg.valid_nick(new):
        session.reply(n.ERR_ERRONEUSNICKNAME, new[:64], reg.nick_problem(new))
        return None
    if name_key(new) == session.user_key:
        try:
            session.core.guests.check_recase(session.nick, new)
        except InvalidInput as e:
            session.reply(n.ERR_ERRONEUSNICKNAME, new, e.message)
            return None
        return _change_case(session, new)
    return _rename(session, new)


async def _change_case(session: IrcSession, new: str) -> None:
    """The same name in other letters' case: how every door shows it changes, here and on
    the other nodes (member lists, WHOIS, MONITOR's next 730/731; the guest's account keeps
    its name), and the IRC clients sharing a channel are told, on every node
    (core/away.py, `DetailsChanged`), as MONITOR watchers are not (a case change is no
    change of online state: irctest's MonitorTestCase)."""
    old = session.nick
    try:  # told to every room as a rename is: charged alike (Guests.rename)
        session.core.away.charge_change(session.user_key, "nick changes")
    except RateLimited as e:
        session.reply(n.ERR_NICKTOOFAST, new, e.message)
        return
    line = Message("NICK", (new,), session.mask)
    session.renamed(new)
    session.server.roster.forget(session.user_key)
    session.core.subscriptions.recase(session.user_key, new)
    told = {id(session)}
    session.send(line)
    subs = session.core.subscriptions
    about = (session.user_key,)
    for key in session.rooms:
        for listener in subs.listeners(key):
            if isinstance(listener, IrcSession) and id(listener) not in told:
                told.add(id(listener))
                if listener.ignores.isdisjoint(about):  # as every notice naming the user
                    listener.send(line)
    await session.core.away.publish_details(session.user_key, new, old_name=old)


async def _rename(session: IrcSession, new: str) -> None:
    old_mask = session.mask
    try:
        session.core.guests.check_nick(new)
        if name_key(new) != session.user_key:
            await session.server.nick_free(name_key(new))
        visitor = dataclasses.replace(session.visitor, nick=new)
        name = await session.core.guests.rename(session, session.nick, new, visitor)
    except Conflict:
        session.reply(n.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    except (InvalidInput, Forbidden) as e:
        session.reply(n.ERR_ERRONEUSNICKNAME, new, e.message)
        return
    except RateLimited as e:
        session.reply(n.ERR_NICKTOOFAST, new, e.message)
        return
    session.server.renamed(session, name)
    session.send(Message("NICK", (name,), old_mask))
    await session.core.guests.match_masks(session.user_key, session.visitor)


def already_registered(session: IrcSession, msg: Message) -> None:
    session.reply(n.ERR_ALREADYREGISTERED, "You may not reregister")


def cap(session: IrcSession, msg: Message) -> None:
    replies = session.caps.handle(msg, session.nick, True)
    session.server.regroup()  # its lines may differ now (fanout.py)
    for line in replies:
        session.send(line)


def authenticate(session: IrcSession, msg: Message) -> None:
    if session.account is not None:
        session.reply(n.ERR_SASLALREADY, "You have already authenticated using SASL")
    else:
        session.reply(
            n.ERR_SASLFAIL, "SASL authentication failed: log in before registering, or reconnect"
        )


def register_command(session: IrcSession, msg: Message) -> None:
    name = msg.params[0] if msg.params else "*"
    code = "ALREADY_AUTHENTICATED" if session.account else "DISALLOWED"
    session.fail(
        "REGISTER", code, name[:64] or "*", "register before your connection is registered"
    )
