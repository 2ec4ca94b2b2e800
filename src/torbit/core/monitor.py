"""Who watches whom come online and go offline (IRC's MONITOR): per watched user, the sessions
watching and whether the user was online when last looked at. "Online" is what every door
shows (`Subscriptions.online_name`): a live session on this node, on any door, or a room
the user is online in on another node (cluster presence, a heartbeat late).

`check` is called wherever a user's presence may have changed (a session attached, departed
or detached here; another node's heartbeat brought a change); it looks again only at users
someone watches, and tells the watchers only of a change of online or offline, never of a
repeat. Bounding how many users one watcher watches is the door's (MONITOR=<limit>)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol


class Watcher(Protocol):
    def monitored(self, name: str, online: bool) -> None:
        """A watched user came online (under `name`) or went offline (`name`: as last seen)."""

    def monitored_notice(self, user_key: str, text: str) -> None:
        """A notice about a watched user (their away state: IRC's extended-monitor)."""


class Monitors:
    def __init__(self, online_name: Callable[[str], str | None]) -> None:
        self._online_name = online_name
        self._watchers: dict[str, dict[Watcher, None]] = {}  # user key -> watchers, in order
        self._seen: dict[str, str | None] = {}  # user key -> their name if online, else None

    def watch(self, watcher: Watcher, user_key: str) -> str | None:
        """`watcher` is told of the user's changes from now on; the user's name if online."""
        self.check(user_key)  # the others hear of a change not yet seen before this one
        watchers = self._watchers.setdefault(user_key, {})
        if not watchers:
            self._seen[user_key] = self._online_name(user_key)
        watchers[watcher] = None
        return self._seen[user_key]

    def unwatch(self, watcher: Watcher, user_keys: Iterable[str]) -> None:
        for key in user_keys:
            watchers = self._watchers.get(key)
            if watchers is not None and watcher in watchers:
                del watchers[watcher]
                if not watchers:
                    del self._watchers[key]
                    self._seen.pop(key, None)

    def watchers(self, user_key: str) -> list[Watcher]:
        return list(self._watchers.get(user_key, ()))

    def watched(self) -> int:
        """Users watched by someone (for tests and metrics)."""
        return len(self._watchers)

    def check(self, user_key: str) -> None:
        """The user's presence may have changed: their watchers hear of a change."""
        watchers = self._watchers.get(user_key)
        if not watchers:
            return
        was = self._seen.get(user_key)
        now = self._online_name(user_key)
        self._seen[user_key] = now
        if (was is None) == (now is None):
            return
        name = now or was or user_key
        for watcher in list(watchers):
            watcher.monitored(name, now is not None)
