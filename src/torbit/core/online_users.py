"""Who is online, as whom, and away, as the subscription API answers it: on a single node
from the hub's sessions, with a cluster from the presence table merged from every node's
heartbeats (presence.py); who watches whom come and go (IRC's MONITOR, monitor.py); and who
of a channel's listeners is here or elsewhere. A mixin, part of Subscriptions
(subscriptions.py), which owns the hub, the table and the monitors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Set

from torbit.core.delivery import Session
from torbit.core.hub import Hub, UserPresence
from torbit.core.monitor import Monitors, Watcher
from torbit.core.names import name_key
from torbit.core.presence import PresenceTable
from torbit.core.presence_details import AWAY_MAX, Details


class OnlineUsers:
    """Needs the hub, the cluster's table, the monitors and the unsure-away clock from
    Subscriptions."""

    _hub: Hub
    cluster: PresenceTable | None
    ignore_changes: int
    _monitors: Monitors
    _unsure: dict[str, float]
    _unsure_for: float
    _clock: Callable[[], float]

    # watching users come online and go offline (IRC's MONITOR: core/monitor.py)

    def monitor(self, watcher: Watcher, user_key: str) -> str | None:
        """`watcher` hears when the user comes online or goes offline, on any door and
        node, from now on; the user's display name if online now (`online_name`)."""
        return self._monitors.watch(watcher, user_key)

    def unmonitor(self, watcher: Watcher, user_keys: Iterable[str]) -> None:
        self._monitors.unwatch(watcher, user_keys)

    def watchers(self, user_key: str) -> list[Watcher]:
        """Who watches the user here (MONITOR)."""
        return self._monitors.watchers(user_key)

    def notify_watchers(self, user_key: str, text: str, told: Set[object] = frozenset()) -> None:
        """A notice about a user to those watching them here but `told` already; each decides
        whether it takes it (IRC: with extended-monitor)."""
        for watcher in self._monitors.watchers(user_key):
            if watcher not in told:
                watcher.monitored_notice(user_key, text)

    def monitored_users(self) -> int:
        return self._monitors.watched()

    def presence_changed(self, user_key: str) -> None:
        """The user's presence may have changed on another node (a heartbeat's change): who
        watches them hears of it. Local changes are seen here (attach, depart, detach)."""
        self._monitors.check(user_key)

    def set_ignores(self, user_key: str, ignores: frozenset[str]) -> None:
        """Whom a user with sessions here ignores, from now on."""
        self._hub.set_ignores(user_key, ignores)

    def ignores_changed(self) -> None:
        """Some user's ignore list changed (whether or not they have sessions here)."""
        self.ignore_changes += 1

    def presence(self, user_key: str) -> UserPresence | None:
        return self._hub.presence(user_key)

    def online_name(self, user_key: str) -> str | None:
        """The user's display name if they are online here or, with a cluster, online in a
        room on another node; else None."""
        p = self._hub.presence(user_key)
        if p is not None and p.online:
            return p.name
        seen = self.cluster.user(user_key) if self.cluster is not None else None
        return seen[0] if seen is not None else None

    def recase(self, user_key: str, name: str) -> None:
        """A user with sessions here is shown as `name` from now on, their name in other
        letters' case (an IRC guest's NICK qux -> QUX): member lists, WHOIS, and what
        MONITOR says next of them (a 731 when they go names them as `name`). The other nodes
        are told it at once (core/away.py, `DetailsChanged`)."""
        p = self._hub.presence(user_key)
        if p is None or name_key(name) != user_key:
            return
        self._hub.rename(user_key, name)
        if self.cluster is not None:
            self.cluster.recase(user_key, name)
        self._monitors.check(user_key)  # no change of online state: the name seen, only

    def told_renamed(self, old_key: str, new_key: str) -> None:
        """A user here took another name, and the other nodes are told at once (core/away.py):
        the next presence beat need not say it (with a cluster)."""
        if self.cluster is not None:
            self.cluster.told_renamed(old_key, new_key)

    def changed_elsewhere(
        self, node: str, user_key: str, name: str, realname: str, old_name: str = ""
    ) -> bool:
        """Another node told at once that its user is shown as `name` (their name in other
        letters' case, or another name: from `old_name`) or has the real name `realname`
        ("": unchanged): WHOIS and the member lists here say so before that node's next
        beat (with a cluster), and MONITOR watchers of a new name hear of it. False for a
        new name this node had already heard of from that node's beat (told as a leave
        and a join then)."""
        if self.cluster is None:
            return True
        old_key = name_key(old_name) if old_name else user_key
        if old_key != user_key:
            if not self.cluster.rename(node, old_key, user_key, name):
                return False
            self._monitors.check(old_key)
            self._monitors.check(user_key)
        elif name and name_key(name) == user_key:
            self.cluster.recase(user_key, name)
        if realname:
            self.cluster.set_realname(node, user_key, realname)
        return True

    def set_away(self, user_key: str, text: str | None) -> None:
        """Mark a user with sessions here away with `text` (cut to AWAY_MAX), or back
        (None or empty): every door shows it (IRC WHOIS and AWAY replies, telnet /who)."""
        p = self._hub.presence(user_key)
        self._unsure.pop(user_key, None)  # an away change settles it: the log orders them
        if p is not None:
            p.away = text[:AWAY_MAX] if text else None
            if self.cluster is not None:
                self.cluster.touch(user_key)  # the other nodes hear it with the next beat

    def _unsure_since(self, user_key: str) -> None:
        now = self._clock()
        unsure = self._unsure
        unsure.pop(user_key, None)
        unsure[user_key] = now
        while True:  # oldest first: those past the expiry are settled (no node had them)
            key, since = next(iter(unsure.items()))
            if now - since <= self._unsure_for:
                break
            del unsure[key]

    def unsure_away(self, user_key: str) -> bool:
        """True once for a user whose first session here logged in before any other node's
        details of them arrived, nor an away change (core/away.py): the first details that
        come then say their away state; from then on, away changes keep it (the log orders
        them). Forgotten after the presence expiry (then no other node had them)."""
        since = self._unsure.pop(user_key, None)
        p = self._hub.presence(user_key)
        return since is not None and self._clock() - since <= self._unsure_for and p is not None

    def details_changed(self, user_key: str) -> None:
        """A user's client details changed here (an IRC SETNAME): the other nodes hear them
        with the next beat (with a cluster)."""
        if self.cluster is not None:
            self.cluster.touch(user_key)

    def set_away_elsewhere(self, node: str | None, user_key: str, text: str) -> None:
        """Another node marked its user away (or back: ""; None: every node that has the
        user), told at once: WHOIS and the member lists here say so before that node's next
        beat (with a cluster)."""
        if self.cluster is not None:
            self.cluster.set_away(node, user_key, text)

    def away_of(self, user_key: str) -> str | None:
        """The user's away message, if they are away (here, or as another node said)."""
        p = self._hub.presence(user_key)
        if p is not None and p.online:
            return p.away
        d = self.details_elsewhere(user_key)
        return d.away or None if d is not None else None

    def details(self, user_key: str) -> Details | None:
        """What the doors show of a user online here besides their name: the client details
        of their first session that has some (an IRC client's ident and real name)."""
        p = self._hub.presence(user_key)
        if p is None or not p.online:
            return None
        live = [s for s in p.sessions if not self._hub.departed(s)]
        s = next((s for s in live if getattr(s, "ident", "")), live[0])
        return Details(
            ident=str(getattr(s, "ident", "")),
            realname=str(getattr(s, "realname", "")),
            door=str(getattr(s, "door", "")),
            away=p.away or "",
            invisible=bool(getattr(s, "invisible", False)),
        )

    def details_elsewhere(self, user_key: str) -> Details | None:
        """The details another node sent of a user online there and not here, if any."""
        p = self._hub.presence(user_key)
        if self.cluster is None or (p is not None and p.online):
            return None
        return self.cluster.details(user_key)

    def everyone(self) -> list[tuple[str, str]]:
        """(key, name) of the users online here, and of those online in a room on another
        node (with a cluster)."""
        here = {name_key(p.name): p.name for p in self.online_users()}
        if self.cluster is not None:
            for key, name in self.cluster.everyone():
                here.setdefault(key, name)
        return list(here.items())

    def rooms_elsewhere(self, user_key: str) -> list[str]:
        """The rooms the user is online in on any node (with a cluster; else none)."""
        seen = self.cluster.user(user_key) if self.cluster is not None else None
        return seen[1] if seen is not None else []

    def sessions_of(self, user_key: str) -> list[Session]:
        return self._hub.sessions_of(user_key)

    def users(self) -> Iterator[UserPresence]:
        """Every user with a session here, departed sessions too (to tell or to update)."""
        return self._hub.users()

    def online_users(self) -> Iterator[UserPresence]:
        """The users online here: with a session whose client has not gone."""
        return (p for p in self._hub.users() if p.online)

    def online_user_count(self) -> int:
        """How many `online_users` there are, without walking them."""
        return self._hub.users_online()

    # who is here

    def _online_here(self, channel: str, user_key: str, online: bool) -> None:
        assert self.cluster is not None
        p = self._hub.presence(user_key)
        self.cluster.local(channel, user_key, p.name if p else user_key, online)

    def online(self, channel: str) -> list[str]:
        """Display names of users listening to the channel on any node, sorted."""
        if self.cluster is not None:
            return self.cluster.names(channel)
        return self._hub.online(channel)

    def online_count(self, channel: str) -> int:
        if self.cluster is not None:
            return self.cluster.count(channel)
        return self._hub.online_count(channel)

    def online_elsewhere(self, channel: str, user_key: str) -> bool:
        """True if another node has the user listening to the channel."""
        return self.cluster is not None and self.cluster.elsewhere(channel, user_key)

    def user_sessions_in(self, channel: str, user_key: str) -> int:
        """The user's sessions here listening to the channel, departed ones not counted."""
        return self._hub.user_sessions_in(channel, user_key)
