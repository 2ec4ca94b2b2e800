"""IRCv3 labeled-response (ircv3.net/specs/extensions/labeled-response): a client that enabled
`labeled-response` and `batch` may tag a command `@label=xyz`, and the reply to that command
carries the label. One line: that line, labeled. Several: `BATCH +ref labeled-response` with
the label, each line tagged `batch=ref`, then `BATCH -ref` (a line in a batch of its own, a
CHATHISTORY's or a JOIN's history, keeps that batch, whose BATCH lines join ours: nested).
None: `ACK`, labeled. With echo-message, the echo of a labeled PRIVMSG or NOTICE is part of
the reply, however late the message log delivers it (`ECHO_WAIT` at most).

The reply is what the session writes through `SessionOutput.write` while the command is
handled (numerics, notices, its own JOIN, PART or NICK, NAMES, a CHATHISTORY batch) and the
echoes of the messages the command sent. Room and private messages from others are no part
of it, nor notices of what another did meanwhile (a JOIN, QUIT, KICK: `by_another`), nor the
server's PING: they go out as they come, untagged. The first line is held until a second
comes (the batch opens, and from then on each line goes out as it is written, never
gathered) or the reply ends; the echo of a labeled message to one room or user ends it as
it comes (`alone`), in its place among the messages. MONITOR's news and a WALLOPS are no
reply either (`SessionOutput.send_out`); a labeled QUIT's reply is its ERROR (`quitting`).

Nothing here runs for a command without a label: a session that never labels keeps two
slots at None, its writes cost one test of one of them, and the fan-out's path (flow.py,
fanout.py) is untouched: a sender's own message takes `deliver` already, and only there is a
labeled echo looked for.

A label is the client's: at most 64 bytes (the specification's bound), escaped by the codec
on the way out (`with_tag`: no space, CR, LF or ';' leaves it as such). A longer or empty one
is ignored, and the command answered as if it had none."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from torbit.core.delivery import Notice
from torbit.core.names import name_key
from torbit.protocol.irc import Message, has_tag, with_tag

if TYPE_CHECKING:
    from torbit.core.delivery import Delivery
    from torbit.frontends.irc.caps import Caps

MAX_LABEL_BYTES: Final = 64
ECHO_WAIT: Final = 10.0  # seconds a reply waits for its echoes once its command is done

_refs = itertools.count(1)  # batch references: unique in the process, so on every connection


class Options(Protocol):
    @property
    def server_name(self) -> str: ...


class Server(Protocol):
    @property
    def options(self) -> Options: ...


class Labeling(Protocol):
    """What labeling needs of an IRC session (output.SessionOutput has it)."""

    caps: Caps
    _label: Reply | None
    _labeled: list[Reply] | None

    @property
    def server(self) -> Server: ...

    def write_out(self, data: bytes) -> None: ...

    def render(
        self, delivery: Delivery, *, batch: str = "", stamp: bool = False, shared: bool = True
    ) -> bytes: ...


class Reply:
    """The reply to one labeled command, as it goes out."""

    __slots__ = (
        "alone",
        "batch",
        "echoes",
        "first",
        "handled",
        "label",
        "out",
        "over",
        "quits",
        "server",
        "timer",
    )

    def __init__(self, label: str, server: str, out: Callable[[bytes], None]) -> None:
        self.label = label
        self.server = server
        self.out = out  # the session's writer, past the capture
        self.first: bytes | None = None  # the one line so far, held
        self.batch = ""  # the labeled-response batch, once a second line came
        self.echoes: dict[str, list[int]] = {}  # channel -> [own echoes before ours, ours due]
        self.handled = False  # its command is done
        self.alone = False  # its command's one message to a room or user: its echo ends it
        self.over = False  # ended: what its command writes still goes out as it is
        self.quits = False  # a QUIT's: the ERROR closing the link is its reply (`close`)
        self.timer: asyncio.TimerHandle | None = None

    def add(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            if not line:
                continue
            if self.over:  # ended (its echo, its connection dropped): the rest goes as it is
                self.out(line + b"\r\n")
            else:
                self._line(line + b"\r\n")

    def _line(self, line: bytes) -> None:
        if not self.batch:
            if self.first is None:
                self.first = line
                return
            self.batch = f"l{next(_refs)}"
            start = Message(
                "BATCH", ("+" + self.batch, "labeled-response"), self.server, {"label": self.label}
            )
            self.out(start.encode())
            first, self.first = self.first, None
            self.out(self._in_batch(first))
        self.out(self._in_batch(line))

    def _in_batch(self, line: bytes) -> bytes:
        return line if has_tag(line, "batch") else with_tag(line, "batch", self.batch)

    def end(self) -> None:
        """The reply is complete, or its connection closing: its last line goes out."""
        if self.over:
            return
        self.over = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.batch:
            self.out(Message("BATCH", ("-" + self.batch,), self.server).encode())
        elif self.first is not None:
            self.out(with_tag(self.first, "label", self.label))
        else:
            self.out(Message("ACK", (), self.server, {"label": self.label}).encode())
        self.batch = ""
        self.first = None


def begin(session: Labeling, message: Message) -> None:
    """A command is about to be handled: if it is labeled (and the client may be answered
    so), what the session writes from now on is its reply."""
    label = message.tags.get("label")
    caps = session.caps.enabled
    if (
        not label
        or len(label.encode()) > MAX_LABEL_BYTES
        or "labeled-response" not in caps
        or "batch" not in caps
    ):
        return
    reply = Reply(label, session.server.options.server_name, session.write_out)
    session._label = reply
    if session._labeled is None:
        session._labeled = [reply]
    else:
        session._labeled.append(reply)


def end(session: Labeling) -> None:
    """The labeled command being handled is done: its reply ends, or waits for its echoes."""
    reply = session._label
    if reply is None:
        return
    session._label = None
    reply.handled = True
    if not reply.echoes:
        _finish(session, reply)
    else:
        loop = asyncio.get_running_loop()
        reply.timer = loop.call_later(ECHO_WAIT, _finish, session, reply)


def _finish(session: Labeling, reply: Reply) -> None:
    reply.end()
    open_ = session._labeled
    if open_ is not None and reply in open_:
        open_.remove(reply)
        if not open_:
            session._labeled = None


def expect(session: Labeling, channel: str, before: int, count: int) -> None:
    """The command being handled sends `count` messages to `channel` after `before` of the
    session's own whose echoes are due: with echo-message, their echoes are its reply."""
    reply = session._label
    if reply is None or "echo-message" not in session.caps.enabled:
        return
    due = reply.echoes.get(channel)
    if due is None:
        reply.echoes[channel] = [before, count]
    else:
        due[1] += count


def alone(session: Labeling) -> None:
    """The command being handled sends one message to one room (or to one user not away):
    its reply is that message's echo or an error, never both, so the echo ends it as it
    comes. Held until the command was done, it went out after the messages of others the
    log delivered in the same batch, sent after it (a busy log commits several publishes at
    once)."""
    reply = session._label
    if reply is not None:
        reply.alone = True


def cancel(session: Labeling, channel: str, count: int) -> None:
    """The last `count` echoes due in `channel` will not come (not sent): they are the
    command's being handled, so only its reply's, if it is labeled. (Those of an unlabeled
    command were taken off a reply still waiting for its echo, which ended without it.)"""
    reply = session._label
    due = reply.echoes.get(channel) if reply is not None else None
    if reply is None or due is None:
        return
    due[1] -= min(count, due[1])
    if not due[1]:
        del reply.echoes[channel]


def echoed(session: Labeling, delivery: Delivery) -> bool:
    """An own message whose echo was due is delivered: True if it is the echo of a labeled
    command's message, then written as part of that command's reply (rendered for this
    client alone: the label never reaches the lines others share)."""
    channel = delivery.message.channel
    mine: tuple[Reply, list[int]] | None = None
    for reply in session._labeled or ():
        due = reply.echoes.get(channel)
        if due is None:
            continue
        if due[0] > 0:
            due[0] -= 1
        elif mine is None:
            mine = (reply, due)
    if mine is None:
        return False
    reply, due = mine
    reply.add(session.render(delivery, shared=False))
    due[1] -= 1
    if not due[1]:
        del reply.echoes[channel]
        if (reply.handled or reply.alone) and not reply.echoes:
            _finish(session, reply)
    return True


def by_another(notice: str, user_key: str) -> bool:
    """A notice of what another user did (a JOIN, PART, QUIT, NICK, TOPIC, MODE, KICK or
    INVITE of theirs): the reply of no command of this client's, whichever is being handled,
    so it goes out as it comes, as their messages do. Taken in, it went out after their
    messages (inside the batch, or held as its first line), or as the one line of the reply,
    labeled, in place of the ACK (a PRIVMSG waiting out the rate limit, another's JOIN)."""
    if not isinstance(notice, Notice):
        return False
    actor = notice.by or notice.user
    return bool(actor) and name_key(actor) != user_key


def quitting(session: Labeling) -> None:
    """The command being handled is a QUIT: the ERROR that closes the link is its reply."""
    reply = session._label
    if reply is not None:
        reply.quits = True


def close(session: Labeling, error: bytes) -> bool:
    """The connection is closing: every reply still open ends now, before its `error`
    line, which is a labeled QUIT's reply (True: it went out so, labeled). It went out
    after the QUIT's `ACK`, unlabeled; that of a close the client did not ask for (a KILL,
    a revocation, a flood) is the reply of none of its commands."""
    replies = session._labeled
    current = session._label
    session._label = None
    session._labeled = None
    quit_ = current is not None and current.quits
    for reply in replies or ():
        if not (quit_ and reply is current):
            reply.end()
    if current is None or not quit_:
        return False
    current.add(error)
    current.end()
    return True
