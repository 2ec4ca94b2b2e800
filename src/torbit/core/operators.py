"""Server operators: a session acting server-wide in the name of a server admin account
(`torbit user set-admin`). IRC's OPER is the way in: the account's name and password are
checked like any login (argon2, the same throttle and back-off: core/accounts.py), then that
the account is a server admin. Nothing of it lives in the config.

The status belongs to the session and lasts only while the account stays a server admin with
the same password. Three things take it away from a session left open:
- a revocation naming the account's credential (a password change, a deletion, `torbit user
  set-admin --revoke`: core/revocation.py, core/accounts.py), on every node;
- every operator action reads the account again before it acts, so a revoked admin flag stops
  the very next KILL or WALLOPS;
- `run` looks again every RECHECK_INTERVAL seconds, for a flag changed in the store by other
  means.

KILL ends every session of a user on every node, whatever its door, through the same
revocation event a password change uses; a guest's door deletes the guest as it closes.
Every operator action is written to the audit log under the admin account's name."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from torbit.core.accounts import Accounts
from torbit.core.delivery import Session
from torbit.core.events import NodeEvents, SessionsRevoked, Wallops
from torbit.core.keylocks import SharedTurns
from torbit.core.models import AuditEntry, User
from torbit.core.names import check_name
from torbit.core.ports import Store
from torbit.core.room_authority import account_turn
from torbit.core.text import clean_text
from torbit.errors import Forbidden, NotFound, ServiceUnavailable

log = logging.getLogger("torbit.audit")

RECHECK_INTERVAL = 2.0  # seconds between two looks at the operators' accounts
MAX_REASON = 200  # characters of a KILL's reason kept
MAX_WALLOPS_BYTES = 400

Lost = Callable[[str], None]  # told why a session's operator status was taken away


@dataclass(frozen=True, slots=True)
class Operator:
    """Whom a session acts for: the admin account as read when OPER succeeded."""

    account: str  # the account's name
    key: str
    credential: str  # changes with the password: a change ends the status


def _problem(op: Operator, user: User | None) -> str | None:
    """Why the account no longer makes the session an operator, or None."""
    if user is None or user.credential != op.credential:
        return f"the password of {op.account} was changed or the account deleted"
    if not user.is_admin:
        return f"{op.account} is no longer a server admin"
    return None


class Operators:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        events: NodeEvents,
        *,
        recheck_interval: float = RECHECK_INTERVAL,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rights: SharedTurns | None = None,
        acts: SharedTurns | None = None,
    ) -> None:
        """`rights`: Membership.rights, the turns a guest's rename takes alone: a KILL
        landing mid-rename was told done and lost with the old name (stop 51). `acts`:
        Membership.role_turns, whose account turn (`room_authority.account_turn`) a KILL or
        WALLOPS takes with the account's other acts: a node applying a revocation of the
        account (the CLI's demotion) waits for them (cliwait56: a KILL read the account,
        then was written after the CLI said it was no longer a server admin)."""
        self._rights = rights or SharedTurns()
        self._acts = acts or SharedTurns()
        self._store = store
        self._accounts = accounts
        self._events = events
        self._interval = recheck_interval
        self._now = now
        self._ops: dict[Session, tuple[Operator, Lost]] = {}
        self._wallops: list[Callable[[Wallops], None]] = []
        events.on(SessionsRevoked, self._on_revoked)
        events.on(Wallops, self._on_wallops)

    # becoming one

    async def oper(
        self, session: Session, name: str, password: str, client: str, lost: Lost
    ) -> Operator:
        """Make the session an operator acting for the account `name`. AuthenticationFailed
        or RateLimited as any login; Forbidden if the account is not a server admin."""
        user = await self._accounts.authenticate(name, password, client)
        if not user.is_admin:
            raise Forbidden(f"{user.name} is not a server admin")
        op = Operator(user.name, user.key, user.credential)
        self._ops[session] = (op, lost)
        await self._audit(op, "oper", session.user_key)
        return op

    def of(self, session: Session) -> Operator | None:
        entry = self._ops.get(session)
        return entry[0] if entry else None

    def count(self) -> int:
        """Operator sessions on this node."""
        return len(self._ops)

    def drop(self, session: Session) -> bool:
        """The session stops being an operator (it asked, or it is gone); whether it was."""
        return self._ops.pop(session, None) is not None

    def _lose(self, session: Session, why: str) -> None:
        entry = self._ops.pop(session, None)
        if entry is not None:
            log.info("operator status of %s (%s) ended: %s", session.user_key, entry[0].key, why)
            entry[1](why)

    async def authorize(self, session: Session) -> Operator:
        """The operator the session acts for, read again from the store; Forbidden if it is
        none (any more)."""
        entry = self._ops.get(session)
        if entry is None:
            raise Forbidden("only IRC operators may do that")
        op = entry[0]
        why = _problem(op, await self._store.get_user(op.key))
        if why is not None:
            self._lose(session, why)
            raise Forbidden(why)
        return op

    # actions

    @contextlib.asynccontextmanager
    async def _acting(self, session: Session) -> AsyncIterator[Operator]:
        """The operator the session acts for (`authorize`), read within the account's turn."""
        entry = self._ops.get(session)
        async with self._acts.shared(account_turn(entry[0].key if entry else "")):
            yield await self.authorize(session)

    async def kill(self, session: Session, target: str, reason: str) -> str:
        """Close every session of `target` on every node (its door tells it why); the
        target's name. NotFound if no such account or guest."""
        async with self._acting(session) as op:
            return await self._kill(op, target, reason)

    async def _kill(self, op: Operator, target: str, reason: str) -> str:
        name = check_name(target, "nick")
        async with self._rights.shared(name):  # not mid-rename
            user = await self._store.get_user(name)
            if user is None:
                raise NotFound(f"no such user {target!r}")
            reason = clean_text(reason[:MAX_REASON], 4 * MAX_REASON) if reason.strip() else ""
            await self._audit(op, "kill", user.key, reason)
            why = f"killed by {op.account}" + (f" ({reason})" if reason else "")
            await self._events.publish(SessionsRevoked(user.key, why))
        return user.name

    async def wallops(self, session: Session, sender: str, text: str) -> None:
        """Send `text` to the operators (and whoever asked for them) of every node."""
        async with self._acting(session) as op:
            text = clean_text(text, MAX_WALLOPS_BYTES)
            await self._audit(op, "wallops", session.user_key, text)
            await self._events.publish(Wallops(sender, op.account, text))

    def on_wallops(self, handler: Callable[[Wallops], None]) -> None:
        """A door shows WALLOPS to its sessions."""
        self._wallops.append(handler)

    def _on_wallops(self, event: Wallops) -> None:
        for handler in self._wallops:
            handler(event)

    # losing the status

    def _on_revoked(self, event: SessionsRevoked) -> None:
        """A password change or deletion of an operator's account (its credential, or all
        of its sessions); a logout of one token is not, as OPER used the password."""
        if event.token:
            return
        for session, (op, _) in list(self._ops.items()):
            if op.key == event.user and event.credential in ("", op.credential):
                self._lose(session, f"the login of {op.account} was revoked ({event.reason})")

    async def recheck(self) -> int:
        """Read every operator's account again; how many sessions lost the status."""
        lost = 0
        for key in {op.key for op, _ in self._ops.values()}:
            user = await self._store.get_user(key)
            for session, (op, _) in list(self._ops.items()):
                if op.key == key and (why := _problem(op, user)) is not None:
                    self._lose(session, why)
                    lost += 1
        return lost

    async def run(self) -> None:
        """Recheck until cancelled; an unreachable store is retried at the next turn."""
        while True:
            await asyncio.sleep(self._interval)
            if not self._ops:
                continue
            try:
                await self.recheck()
            except ServiceUnavailable as e:
                log.warning("cannot check the operators' accounts: %s", e.message)
            except Exception:
                log.exception("checking the operators' accounts failed")

    async def _audit(self, op: Operator, action: str, target: str, detail: str = "") -> None:
        await self._store.add_audit(
            AuditEntry(
                at=self._now(),
                actor=op.account,
                action=action,
                target=target or None,
                detail=detail,
            )
        )
        log.info(
            "audit: %s /%s%s%s",
            op.account,
            action,
            f" {target}" if target else "",
            f" ({detail})" if detail else "",
        )


__all__ = ["Operator", "Operators"]
