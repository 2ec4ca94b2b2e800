"""MONITOR (IRCv3): a client's list of nicks whose coming online and going offline it is told
of (730 RPL_MONONLINE, 731 RPL_MONOFFLINE), on every door and node: the core watches them
(`Subscriptions.monitor`, core/monitor.py) and calls the session's `monitored`.

`MONITOR + a,b` adds (and answers with each one's state), `- a,b` removes, `C` clears, `L`
lists (732, 733), `S` says each one's state. A list holds at most MONITOR_LIMIT nicks (ISUPPORT
MONITOR=<limit>): past it, what is left of a `+` is refused with 734 ERR_MONLISTFULL. Targets
must be nicks (no masks: 432, once a command).

Every answer that lists nicks (`+`, `L`, `S`) is a read of up to MONITOR_LIMIT names, each
`S` up to ~8 KB of masks: it comes out of the read budget as NAMES and WHO #room do (ten
names a message, `Membership.grant_roster`), 263 when nothing is left. Uncharged, one
connection could ask `MONITOR S` as fast as its command rate let it."""

from __future__ import annotations

from typing import Final

from torbit.core.names import name_key
from torbit.errors import RateLimited
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.pacing import NICKS_A_UNIT
from torbit.frontends.irc.registration import valid_nick
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import list_numerics

MONITOR_LIMIT: Final = 100  # nicks one connection may monitor (ISUPPORT MONITOR)


def monitor(session: IrcSession, msg: Message) -> None:
    sub = msg.params[0].upper()
    targets = [t for t in msg.params[1].split(",") if t] if len(msg.params) > 1 else []
    # nicks looked up (+, S) or listed (L) cost as ISON's: the whole list for S and L
    looked_up = (
        len(targets) if sub == "+" else len(session.monitoring or ()) if sub in ("S", "L") else 0
    )
    session.charge(looked_up // NICKS_A_UNIT)
    if sub == "+":
        if not targets:
            session.reply(n.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
            return
        _add(session, targets)
    elif sub == "-":
        if session.monitoring:
            keys = [name_key(t) for t in targets]
            session.core.subscriptions.unmonitor(session, keys)
            for key in keys:
                session.monitoring.pop(key, None)
    elif sub == "C":
        clear(session)
    elif sub == "L":
        listed = list((session.monitoring or {}).values())
        if not _charged(session, len(listed)):
            return
        _send(session, list_numerics(_server(session), session.nick, n.RPL_MONLIST, listed))
        session.reply(n.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub == "S":
        _status(session, list(session.monitoring or {}))
    else:
        session.server_notice("MONITOR: +, -, C, L or S")


def clear(session: IrcSession) -> None:
    """Forget the connection's list (MONITOR C, and when it closes)."""
    if session.monitoring:
        session.core.subscriptions.unmonitor(session, list(session.monitoring))
    session.monitoring = None


def _add(session: IrcSession, targets: list[str]) -> None:
    watching = session.monitoring
    if watching is None:
        watching = session.monitoring = {}
    added: list[str] = []
    bad = ""
    for i, target in enumerate(targets):
        if not valid_nick(target):
            bad = bad or target
            continue
        key = name_key(target)
        if key not in watching:
            if len(watching) >= MONITOR_LIMIT:
                full = list(dict.fromkeys(t for t in targets[i:] if name_key(t) not in watching))
                server = _server(session)
                limit = str(MONITOR_LIMIT)
                text = "Monitor list is full"
                _send(
                    session,
                    list_numerics(server, session.nick, n.ERR_MONLISTFULL, full, limit, text=text),
                )
                break
            watching[key] = target
        added.append(key)
    if bad:
        session.reply(n.ERR_ERRONEUSNICKNAME, bad[:64], "MONITOR takes nicks, not masks")
    _status(session, list(dict.fromkeys(added)))


def _status(session: IrcSession, keys: list[str]) -> None:
    """730 for those of `keys` online (their masks), 731 for the others (as listed); the
    core watches each (an add stands even when the answer is refused)."""
    subs = session.core.subscriptions
    watching = session.monitoring or {}
    online: list[str] = []
    offline: list[str] = []
    for key in keys:
        name = subs.monitor(session, key)  # (again: it is idempotent, and says the state)
        if name is not None:
            online.append(session.server.mask_of(name))
        else:
            offline.append(watching.get(key, key))
    if not _charged(session, len(keys)):
        return
    server = _server(session)
    _send(session, list_numerics(server, session.nick, n.RPL_MONONLINE, online))
    _send(session, list_numerics(server, session.nick, n.RPL_MONOFFLINE, offline))


def _charged(session: IrcSession, names: int) -> bool:
    """Pay for an answer of `names` nicks from the read budget; False (263 sent) if nothing
    is left."""
    membership = session.core.membership
    try:
        granted = membership.grant_roster(session.nick)
    except RateLimited:
        session.reply(n.RPL_TRYAGAIN, "MONITOR", "Please wait a while and try again.")
        return False
    membership.pay_roster(session.nick, granted, names)
    return True


def _server(session: IrcSession) -> str:
    return session.server.options.server_name


def _send(session: IrcSession, lines: list[Message]) -> None:
    for line in lines:
        session.send(line)
