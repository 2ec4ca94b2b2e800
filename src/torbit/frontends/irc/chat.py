"""PRIVMSG and NOTICE: to a channel, a message to the room, sent as on every door (cleaned,
size-checked, the profanity filter, mutes, rate limits); to a nick, a torbit private message.
A client's messages to one channel queued behind each other are published as one batch (one
commit, as telnet does with consecutive lines), so a pipelining sender is not held to one
commit round trip per line.
Over a rate limit a client is slowed down (fakelag: its next commands wait) and, if it keeps
on, told which message was dropped: never dropped silently. mIRC formatting is removed, so
other doors show plain text; a CTCP ACTION (/me) is an action, other CTCP is not carried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from torbit.core.models import MessageKind
from torbit.core.names import is_valid_name, name_key
from torbit.errors import Forbidden, NotFound, RateLimited, TorbitError
from torbit.frontends.irc import labels
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.channels import find_room
from torbit.frontends.irc.render import strip_formatting
from torbit.frontends.irc.session import IrcSession
from torbit.protocol.irc import Message

FAKELAG_STEP: Final = 0.25  # seconds a client waits before a message over the limit is retried
FAKELAG_MAX: Final = 10.0  # after this long the message is dropped, and the client told
MAX_BATCH: Final = 256  # queued messages to one channel published together


def privmsg(session: IrcSession, msg: Message) -> Awaitable[None] | None:
    return _send(session, msg, notice=False)


def notice(session: IrcSession, msg: Message) -> Awaitable[None] | None:
    return _send(session, msg, notice=True)


def tagmsg(session: IrcSession, msg: Message) -> None:
    """Client-only tags are not carried (CLIENTTAGDENY=*), so a TAGMSG has nothing to say."""


def _send(session: IrcSession, msg: Message, *, notice: bool) -> Awaitable[None] | None:
    command = "NOTICE" if notice else "PRIVMSG"
    if not msg.params or not msg.params[0]:
        session.reply(n.ERR_NORECIPIENT, f"No recipient given ({command})")
        return None
    if len(msg.params) < 2 or not msg.params[1]:
        session.reply(n.ERR_NOTEXTTOSEND, "No text to send")
        return None
    text = msg.params[1]
    kind = MessageKind.NOTICE if notice else MessageKind.TEXT
    if text.startswith("\x01"):
        ctcp, _, rest = text.strip("\x01").partition(" ")
        if ctcp.upper() != "ACTION" or notice:
            if not notice:
                session.server_notice(f"CTCP {ctcp[:20]} is not carried here")
            return None
        kind, text = MessageKind.ACTION, rest
    text = strip_formatting(text)
    if not text.strip():
        session.reply(n.ERR_NOTEXTTOSEND, "No text to send")
        return None
    targets = session.capped(command, _distinct(msg.params[0]))
    if not notice and any(_too_long(session, command, t, msg.params[1]) for t in targets):
        session.reply(n.ERR_INPUTTOOLONG, "Input line was too long: it would not fit as relayed")
        return None
    if len(targets) == 1 and targets[0].startswith("#") and kind is not MessageKind.ACTION:
        # a labeled message is published alone: its echo is its reply (labels.py)
        batch = None if "label" in msg.tags else msg
        if batch is None:
            labels.alone(session)
        return _to_room(session, targets[0], text, kind, notice, batch=batch)
    return _deliver(session, targets, text, kind, notice)


def _distinct(targets: str) -> list[str]:
    """Each target once, in its first spelling: `PRIVMSG bob,BOB,Bob,boB` was four copies to
    bob (names are compared in lower case, as the rest of the server does)."""
    first: dict[str, str] = {}
    for target in targets.split(","):
        if target:
            first.setdefault(target.lower(), target)
    return list(first.values())


def _too_long(session: IrcSession, command: str, target: str, text: str) -> bool:
    """Whether the message, as an IRC reader gets it (with the sender's full mask), would pass
    the 512-byte line: a PRIVMSG is refused with ERR_INPUTTOOLONG rather than cut or split,
    so its sender may say it again shorter. A NOTICE gets no error reply (RFC 1459 4.4.2), so
    it is carried and, as a long message from another door, split over several lines where an
    IRC client reads it: refusing it was losing it silently."""
    try:
        Message(command, (target, text), session.mask).encode()
    except ValueError:
        return True
    return False


async def _deliver(
    session: IrcSession, targets: list[str], text: str, kind: MessageKind, notice: bool
) -> None:
    for target in targets:
        if target.startswith("#"):
            await _to_room(session, target, text, kind, notice)
        else:
            await _to_user(session, target, text, kind, notice, alone=len(targets) == 1)


def _queued_text(session: IrcSession, first: Message, msg: Message) -> str | None:
    """A queued command's text, ready to publish, if it is the same plain command to the same
    channel as `first` and passes every check; else None (it is handled on its own)."""
    command = first.command.upper()
    if (
        msg.command.upper() != command
        or len(msg.params) != 2
        or msg.params[0] != first.params[0]
        or "label" in msg.tags
    ):
        return None
    raw = msg.params[1]
    if not raw or raw.startswith("\x01") or _too_long(session, command, msg.params[0], raw):
        return None
    text = strip_formatting(raw)
    if not text.strip():
        return None
    try:
        return session.core.messaging.prepare_text(text)
    except TorbitError:
        return None


async def _to_room(
    session: IrcSession,
    target: str,
    text: str,
    kind: MessageKind,
    notice: bool,
    batch: Message | None = None,
) -> None:
    """RFC 2812 3.3.2: errors are never sent in reply to a NOTICE; being dropped over a rate
    limit is still said, in a NOTICE from the server. With `batch` (the command being
    handled), plain messages to the same channel queued behind it go in the same publish."""

    def error(code: int, *params: str) -> None:
        if not notice:
            session.reply(code, *params)

    core = session.core
    key = name_key(target[1:])
    room = session.rooms.get(key)
    if room is None or not core.subscriptions.is_listening(session, key):
        if room is not None:  # left through another door or session: the client is told
            session.rooms.pop(key, None)
            session.send(Message("PART", (target, "left elsewhere"), session.mask))
        try:
            if not is_valid_name(target[1:]):
                raise NotFound(target)
            await find_room(session, target[1:])
        except NotFound:
            error(n.ERR_NOSUCHCHANNEL, target[:64], "No such channel")
            return
        await _from_outside(session, target, text, kind, error)
        return
    messaging = core.messaging
    try:
        prepared = messaging.prepare_text(text)
    except TorbitError as e:
        error(n.ERR_CANNOTSENDTOCHAN, target, f"Cannot send to channel: {e.message}")
        return
    todo = [prepared]
    if batch is not None:
        todo += session.take_queued(lambda m: _queued_text(session, batch, m), MAX_BATCH - 1)
    session.expect_echo(key, todo)
    published = 0
    waited = 0.0  # fakelag without progress
    try:
        while True:
            sent, dropped = await messaging.send_while_listening(
                session.nick, room, todo, kind, lambda: session.listens(key)
            )
            published += len(sent)
            todo = todo[len(sent) :]
            if not dropped:
                break
            if sent:
                waited = 0.0
            if waited >= FAKELAG_MAX:
                session.cancel_echo(key, len(todo))
                why = "Slow down: over the rate limit, your message was dropped"
                for _ in todo:
                    error(n.ERR_CANNOTSENDTOCHAN, target, why)
                    if notice:
                        session.server_notice(f"{target}: {why}")
                return
            await asyncio.sleep(FAKELAG_STEP)
            waited += FAKELAG_STEP
    except TorbitError as e:
        session.cancel_echo(key, len(todo))
        if isinstance(e, Forbidden):
            for _ in todo:
                error(n.ERR_CANNOTSENDTOCHAN, target, f"Cannot send to channel: {e.message}")
            return
        raise
    finally:
        if published:
            session.server.metrics.sent_on(session.door).inc(published)


async def _from_outside(
    session: IrcSession,
    target: str,
    text: str,
    kind: MessageKind,
    error: Callable[..., None],
) -> None:
    """A message from a client not in the room: the core sends it if the room lets
    non-members send (-n), else the client is told to join it first."""
    try:
        await session.core.messaging.send(
            session.nick, target[1:], text, kind, visitor=session.visitor, holds=session.holds
        )
    except Forbidden as e:
        error(n.ERR_CANNOTSENDTOCHAN, target, f"Cannot send to channel: {e.message}")
    except NotFound:
        error(n.ERR_NOSUCHCHANNEL, target[:64], "No such channel")
    except TorbitError as e:
        session.server_notice(f"Message to {target} not sent: {e.message}")
    else:
        session.server.metrics.sent_on(session.door).inc()


async def _to_user(
    session: IrcSession,
    target: str,
    text: str,
    kind: MessageKind,
    notice: bool,
    *,
    alone: bool = False,
) -> None:
    """`alone`: the command's one target. Then a labeled message to a user not away has
    its echo as its whole reply (or an error), so the echo ends it as it comes
    (`labels.alone`). It was held until the command was done, and others' messages
    delivered meanwhile (the log's same batch) went out before it."""
    core = session.core
    if not is_valid_name(target):
        if not notice:
            session.reply(n.ERR_NOSUCHNICK, target[:64], "No such nick/channel")
        return
    if kind is MessageKind.ACTION:
        text = "/me " + text  # a private message has no kind of its own: read back as ACTION
    key = name_key(target)
    mine = key == session.user_key
    # a guest whose client quit is gone with the QUIT, on every door: the core answers
    # "no such user" (401) while its account is being deleted (core/guests.py)
    inbox = session.inbox()
    # a message to oneself is delivered once; a labeled one with echo-message is its echo
    # (labeled) and then the message delivered (labels.py)
    echoed = not mine or session.labels_echo()
    if echoed:
        try:
            expected = core.messaging.prepare_text(text)  # as the echo will say it
        except TorbitError:
            expected = text  # refused below, and said so
        if alone and session.labels_echo() and not core.subscriptions.away_of(key):
            labels.alone(session)  # no 301 to follow its echo
        session.expect_echo(inbox, [expected])
    waited = 0.0
    try:
        while True:
            try:
                await core.messaging.send_private(
                    session.nick, target, text, holds=session.holds, notice=notice
                )
                break
            except RateLimited as e:
                if waited >= FAKELAG_MAX:
                    raise
                pause = min(max(e.retry_after, FAKELAG_STEP), FAKELAG_MAX)
                await asyncio.sleep(pause)
                waited += pause
    except NotFound:
        _uncount(session, inbox, echoed)
        if not notice:
            session.reply(n.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    except Forbidden as e:
        _uncount(session, inbox, echoed)
        if not notice:
            session.reply(n.ERR_NONONREG, target, e.message)
        return
    except TorbitError as e:
        _uncount(session, inbox, echoed)
        if not notice or isinstance(e, RateLimited):
            session.server_notice(f"Message to {target} not sent: {e.message}")
        return
    session.server.metrics.sent_on(session.door).inc()
    if not notice:
        away = session.core.subscriptions.away_of(key)  # on any door
        if away:
            session.reply(n.RPL_AWAY, target, away)


def _uncount(session: IrcSession, inbox: str, echoed: bool) -> None:
    if echoed:
        session.cancel_echo(inbox, 1)
