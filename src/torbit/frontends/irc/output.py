"""What an IRC session sends: the core's messages and notices rendered as IRC lines with the
tags the client asked for, numerics and notices, own messages held back without echo-message,
and a joining room's history held until its JOIN, topic and NAMES are out. The connection's
life (reading, pacing, liveness) is session.py's."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final, Protocol, cast

from torbit.core.delivery import Delivery, Names, Run, Session
from torbit.core.format import clock
from torbit.core.models import Message as ChatMessage
from torbit.core.models import Room
from torbit.core.names import is_inbox, name_key
from torbit.frontends.flow import TransportWriter
from torbit.frontends.irc import labels
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc import render as fmt
from torbit.frontends.irc.caps import Caps
from torbit.frontends.irc.context import IrcCore, IrcOptions
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import fit_lines, numeric

log = logging.getLogger("torbit.irc")

# targets one line may name (005 TARGMAX, which lists these and leaves JOIN, PART and LIST
# unlimited: a join pays the join rate, a walk the walk rate); `capped` applies them
TARGMAX: Final = {"KICK": 4, "NAMES": 8, "NOTICE": 4, "PRIVMSG": 4, "WHOIS": 1}


class OutputHost(Protocol):
    """What rendering needs of the server (session.IrcHost has all of it and more)."""

    core: IrcCore
    options: IrcOptions
    lines: fmt.LineCache

    def mask_of(self, name: str) -> str:
        """`nick!user@host` of anyone, as IRC clients here see them."""

    def is_guest(self, user_key: str) -> bool: ...

    def away_of(self, name: str) -> str | None:
        """The away message of a user on this node, if any."""

    def join_details(self, name: str) -> tuple[str, str]:
        """extended-join's account ("*": a guest) and real name of a user."""


class SessionOutput:
    """The output half of IrcSession (which sets these attributes up)."""

    __slots__ = ()

    server: OutputHost
    caps: Caps
    nick: str
    user_key: str
    rooms: dict[str, Room]
    closed: bool
    _writer: TransportWriter | None
    # made when needed, dropped when empty (two empty dicts were 128+ bytes an idle client)
    _echo: dict[str, list[str]] | None  # channel -> texts of own messages whose echo is due
    _joining: dict[str, list[Delivery]] | None  # room -> held while JOIN is answered
    # labeled-response (labels.py): the reply of the labeled command being handled, and
    # every reply not yet ended (one waits for its echoes)
    _label: labels.Reply | None
    _labeled: list[labels.Reply] | None

    @property
    def core(self) -> IrcCore:
        return self.server.core

    # Session (called by the core)

    def deliver(self, delivery: Delivery) -> None:
        """A message for this client. A room message it is in takes the fan-out's fast path:
        its lines are looked up by this client's caps and the room (`LineCache`), rendered
        only by the first reader with those, and written (at 1,000 readers a message, every
        Python call here is one per delivery)."""
        if self.closed:  # gone, its departure queued: nothing to render
            return
        message = delivery.message
        channel = message.channel
        joining = self._joining
        if joining is not None and (held := joining.get(channel)) is not None:
            held.append(delivery)
            return
        if message.sender_key == self.user_key and self._own_echo(channel, message.text):
            if (
                self._labeled is not None
                and labels.echoed(self, delivery)
                and name_key(message.recipient or "") != self.user_key  # to oneself: both
            ):
                return
            if "echo-message" not in self.caps.enabled:
                return
        writer = self._writer
        room = self.rooms.get(channel)
        if writer is None or room is None:  # a private message (or nothing to write to)
            if writer is not None:  # not a reply: past a labeled command's (labels.py)
                writer.write(self.render(delivery))
            return
        cache = self.server.lines
        lines = cache.lines if cache.delivery is delivery else cache.start(delivery)
        key = (self.caps.enabled, room.name)
        data = lines.get(key)
        if data is None:
            data = lines[key] = self._lines(message, self._variant(message, "#" + room.name), "")
        writer.write(data)

    def deliver_all(self, run: Run) -> None:
        """Session.deliver of a run of messages to one room, none from a sender it ignores
        (`Hub.dispatch_run`): the run's lines rendered once per caps and room for every
        reader, one write here. Its own messages (echo-message decides, one by one) and a
        room being joined take the one-by-one path."""
        if self.closed:
            return
        writer = self._writer
        channel = run.messages[0].channel
        room = self.rooms.get(channel)
        joining = self._joining
        if (
            writer is None
            or room is None
            or (joining is not None and channel in joining)
            or self.user_key in run.senders
        ):
            for d in run.deliveries:
                self.deliver(d)
            return
        cache = self.server.lines
        lines = cache.run_lines if cache.run is run else cache.start_run(run)
        key = (self.caps.enabled, room.name)
        data = lines.get(key)
        if data is None:
            target = "#" + room.name
            data = lines[key] = b"".join(
                self._lines(m, self._variant(m, target), "") for m in run.messages
            )
        writer.write(data)

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        """A notice as IRC lines. One about a room (JOIN, PART, QUIT, NICK, AWAY, TOPIC,
        MODE) is the same for every reader with the same caps: rendered by the first of
        them (`LineCache.notice_lines`), as `deliver` does messages; 10,000 readers leaving
        at once were 10,000 renderings of each QUIT a room of 100 hears."""
        notice = fmt.shared(text, self.nick)
        if notice is None:
            self._notify_one(text, channel)
            return
        cache = self.server.lines
        if cache.notice is notice and cache.channel == channel:
            known = cache.notice_lines
        else:
            known = cache.start_notice(notice, channel)
        key = (self.caps.enabled, self.room_display(notice.room or channel or ""))
        out = known.get(key)
        if out is None:
            out = known[key] = tuple(
                (self._once(line), b"".join(map(self._encoded, self._for_me(line))))
                for line in self._rendered(notice, channel).lines
            )
        write = self.write
        if self._label is not None and labels.by_another(notice, self.user_key):
            write = self.write_out  # no labeled command's reply (labels.py)
        for once, data in out:
            if once is not None:
                sent = self._sent_this_turn()
                if once in sent:
                    continue
                sent.add(once)
            if data:
                write(data)

    def _notify_one(self, text: str, channel: str | None) -> None:
        """A notice rendered for this reader alone (it is to or about them)."""
        rendered = self._rendered(text, channel)
        write = self.write
        if self._label is not None and labels.by_another(text, self.user_key):
            write = self.write_out  # another's doing (a KICK, an INVITE): no reply of ours
        for line in rendered.lines:
            once = self._once(line)
            if once is not None:
                sent = self._sent_this_turn()
                if once in sent:
                    continue
                sent.add(once)
            for out in self._for_me(line):
                data = self._encoded(out)
                if data:
                    write(data)
        if rendered.left_room is not None:
            self.rooms.pop(rendered.left_room, None)

    def _rendered(self, text: str, channel: str | None) -> fmt.Rendered:
        return fmt.notice_lines(
            text,
            channel,
            me=self.nick,
            server=self.server.options.server_name,
            mask=self.server.mask_of,
            room_display=self.room_display,
            still_online=self._has_other_sessions,
        )

    @staticmethod
    def _once(line: Message) -> tuple[str, str] | None:
        """A QUIT or NICK line is sent once a loop turn (one line per user, not per room)."""
        if line.command in ("QUIT", "NICK"):
            return (line.command, line.source or "")
        return None

    def _for_me(self, line: Message) -> list[Message]:
        """A notice's line as this client's caps have it: left out (AWAY without
        away-notify, another's INVITE without invite-notify), tagged (account-tag),
        extended (extended-join), followed by the joiner's AWAY (away-notify)."""
        if line.command == "AWAY" and "away-notify" not in self.caps:
            return []
        nick = (line.source or "").partition("!")[0]
        if (  # another's invitation: with invite-notify, and not to the inviter
            line.command == "INVITE"
            and name_key(line.params[0]) != self.user_key
            and ("invite-notify" not in self.caps or name_key(nick) == self.user_key)
        ):
            return []
        if (
            "account-tag" in self.caps
            and line.source != nick
            and not self.server.is_guest(name_key(nick))
        ):
            line = Message(line.command, line.params, line.source, {"account": nick})
        if line.command == "JOIN" and "extended-join" in self.caps and line.source:
            params = (*line.params[:1], *self.server.join_details(nick))
            line = Message("JOIN", params, line.source, line.tags)
        lines = [line]
        if line.command == "JOIN" and "away-notify" in self.caps and line.source:
            away = self.server.away_of(line.source.partition("!")[0])
            if away:  # away-notify: who joins away is said to be
                lines.append(Message("AWAY", (away,), line.source))
        return lines

    def _has_other_sessions(self, name: str) -> bool:
        """Whether a user logging out (still attached while its rooms are told) keeps
        another session on this node."""
        presence = self.core.subscriptions.presence(name_key(name))
        return presence is not None and len(presence.sessions) > 1

    # output

    def send(self, message: Message) -> None:
        """Send one message; one too long for a line is made to fit (its text split over
        several PRIVMSGs or NOTICEs, any other's last parameter cut), never dropped."""
        data = self._encoded(message)
        if data:
            self.write(data)

    def _encoded(self, message: Message) -> bytes:
        """A message's bytes, made to fit a line if need be; none if it cannot be one."""
        try:
            return message.encode()
        except ValueError:
            data = fit_lines(message)
            if not data:
                log.warning("not sent to %s, it cannot be a line: %.200r", self.nick, message)
            return data

    def reply(self, code: int, *params: str) -> None:
        if 400 <= code < 600 and not self.error_shown():
            return
        self.send(numeric(self.server.options.server_name, self.nick or None, code, *params))

    def send_out(self, message: Message) -> None:
        """Send one message that answers no command of the client's (news of another's
        doing: MONITOR's 730/731, a WALLOPS): past a labeled command's reply (labels.py)."""
        data = self._encoded(message)
        if data:
            self.write_out(data)

    def reply_out(self, code: int, *params: str) -> None:
        """`reply`, as no command's reply (`send_out`)."""
        self.send_out(numeric(self.server.options.server_name, self.nick or None, code, *params))

    def capped(self, command: str, targets: list[str]) -> list[str]:
        """The targets the command's TARGMAX allows; the first one past it is answered
        ERR_TOOMANYTARGETS, once a line (one per target would be more output for the same
        line). They were dropped without a word: a sender never knew who got nothing."""
        limit = TARGMAX[command]
        if len(targets) > limit:
            self.reply(
                n.ERR_TOOMANYTARGETS,
                targets[limit][:64],
                f"Too many recipients. Only {limit} processed",
            )
        return targets[:limit]

    def error_shown(self) -> bool:
        """An error numeric is about to be answered: False to leave it out (the session
        counts a command's errors, pacing.py)."""
        return True

    def server_notice(self, text: str) -> None:
        self.send(Message("NOTICE", (self.nick or "*", text), self.server.options.server_name))

    def fail(self, command: str, code: str, *context: str) -> None:
        """An IRCv3 standard reply: FAIL <command> <code> [<context>...] :<description>."""
        self.send(Message("FAIL", (command, code, *context), self.server.options.server_name))

    def write(self, data: bytes) -> None:
        """Write lines to the client: the reply of the labeled command being handled, if
        one is (labels.py)."""
        label = self._label
        if label is not None:
            label.add(data)
        elif self._writer is not None:
            self._writer.write(data)

    def write_out(self, data: bytes) -> None:
        """Write lines to the client, never as a labeled command's reply."""
        if self._writer is not None:
            self._writer.write(data)

    def output_pending(self) -> bool:
        return self._writer is not None and self._writer.pending()

    def room_display(self, room_key: str) -> str:
        room = self.rooms.get(room_key)
        return fmt.channel_name(room.name if room is not None else room_key)

    def render(
        self, delivery: Delivery, *, batch: str = "", stamp: bool = False, shared: bool = True
    ) -> bytes:
        """The lines of a message for this client, with the tags it asked for; `shared`: the
        message goes to many clients now, so its lines are kept for the next one."""
        message = delivery.message
        if is_inbox(message.channel):
            target, _ = fmt.private_target(message, self.user_key)
            target = target or self.nick
            name = target
        else:
            target = self.room_display(message.channel)
            name = target[1:]
        if batch or stamp or not shared:
            return self._lines(message, self._variant(message, target, stamp), batch)
        cache = self.server.lines
        lines = cache.lines if cache.delivery is delivery else cache.start(delivery)
        key = (self.caps.enabled, name)
        data = lines.get(key)
        if data is None:
            data = lines[key] = self._lines(message, self._variant(message, target), "")
        return data

    def _variant(self, message: ChatMessage, target: str, stamp: bool = False) -> fmt.Variant:
        """What this client's rendering of `message` depends on: its caps and the target."""
        caps = self.caps.enabled
        return fmt.Variant(
            "server-time" in caps,
            "message-tags" in caps,
            "account-tag" in caps and not self.server.is_guest(message.sender_key),
            target,
            stamp and "server-time" not in caps,
        )

    def _lines(self, message: ChatMessage, variant: fmt.Variant, batch: str) -> bytes:
        tags: dict[str, str] = {}
        if variant.time:
            tags["time"] = fmt.server_time(message.sent_at)
        if variant.msgid:
            tags["msgid"] = fmt.msgid(message)
        if variant.account:
            tags["account"] = message.sender
        if batch:
            tags["batch"] = batch
        # in chat.timezone, as telnet shows the same message
        stamp = clock(message.sent_at, self.core.subscriptions.tz) if variant.stamp else ""
        return fmt.message_lines(
            message, self.server.mask_of(message.sender), variant.target, tags, stamp
        )

    # own messages: without echo-message a client is not shown what it sent itself

    def _sent_this_turn(self) -> set[tuple[str, str]]:
        """The QUIT/NICK lines sent to this client in this loop turn."""
        raise NotImplementedError

    def _echoes(self) -> dict[str, list[str]]:
        """`_echo`, made if need be."""
        raise NotImplementedError

    def _held(self) -> dict[str, list[Delivery]]:
        """`_joining`, made if need be."""
        raise NotImplementedError

    def _tidy(self) -> None:
        """Drop `_echo` and `_joining` when empty."""
        raise NotImplementedError

    def labels_echo(self) -> bool:
        """A labeled command is being handled and its messages' echoes are its reply."""
        return self._label is not None and "echo-message" in self.caps.enabled

    def expect_echo(self, channel: str, texts: list[str]) -> None:
        """The command being handled sends messages saying `texts` to `channel`: their
        echoes are due, in order."""
        if texts:
            echo = self._echoes()
            due = echo.get(channel)
            if self._label is not None:
                labels.expect(self, channel, len(due) if due else 0, len(texts))
            if due is None:
                echo[channel] = list(texts)
            else:
                due.extend(texts)

    def cancel_echo(self, channel: str, count: int) -> None:
        """The last `count` echoes due in `channel` will not come: those messages were not
        sent."""
        if self._labeled is not None:
            labels.cancel(self, channel, count)
        echo = self._echo
        due = echo.get(channel) if echo is not None else None
        if due is not None and count > 0:
            del due[-count:]
            self._echoed(channel, due)

    def _echoed(self, channel: str, due: list[str]) -> None:
        if not due and self._echo is not None:
            self._echo.pop(channel, None)
            if not self._echo:
                self._tidy()

    def _own_echo(self, channel: str, text: str) -> bool:
        """An own message is delivered: whether it is the echo of one this session sent,
        told by its text. Counted, the message of another session of the user (another
        connection, telnet, the web page) delivered while an echo was due was taken for it:
        hidden without echo-message (its own shown in its place), or labeled as the reply."""
        echo = self._echo
        due = echo.get(channel) if echo is not None else None
        if not due or text not in due:
            return False
        due.remove(text)  # the first due saying it: the log delivers them in order
        self._echoed(channel, due)
        return True

    # joining: the JOIN, topic and names go out before the room's history and live messages

    def hold(self, room_key: str) -> None:
        self._held()[room_key] = []

    def unhold(self, room_key: str, started: datetime | None) -> None:
        """Send what was held back: history (sent before `started`) in a chathistory batch,
        or left out for clients that ask for history themselves; then live messages."""
        joining = self._joining
        held = joining.pop(room_key, []) if joining is not None else []
        if joining is not None and not joining:
            self._tidy()
        if started is None:
            return
        # put out, or an ignore answered, while NAMES was read (self: the IrcSession's part)
        held = self.core.subscriptions.still_heard(cast(Session, self), room_key, held)
        history = [d for d in held if d.message.sent_at < started]
        live = held[len(history) :]
        if history and "draft/chathistory" not in self.caps:
            batch = ""
            if "batch" in self.caps:
                batch = f"h{history[0].message.id}"
                self.send(
                    Message(
                        "BATCH",
                        ("+" + batch, "chathistory", self.room_display(room_key)),
                        self.server.options.server_name,
                    )
                )
            for d in history:
                self.write(self.render(d, batch=batch, stamp=True))
            if batch:
                self.send(Message("BATCH", ("-" + batch,), self.server.options.server_name))
        for d in live:
            self.deliver(d)
