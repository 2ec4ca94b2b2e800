"""Private messages: sending one (into the recipient's inbox and, as a copy, the sender's)
and reading an inbox or one conversation back. Guests (core/guests.py) may write privately
to other guests, and to an account only once that account wrote to them."""

from __future__ import annotations

from datetime import UTC, datetime

from torbit.core.history import History
from torbit.core.messaging_base import Holds
from torbit.core.models import Draft, Message, MessageKind
from torbit.core.names import check_name, inbox_channel, name_key
from torbit.errors import Forbidden, NotFound

EARLIEST = datetime.min.replace(tzinfo=UTC)  # no account found: no creation to hide before


class PrivateMessages(History):
    """Inboxes: sending privately, and reading an inbox or a conversation back."""

    async def send_private(
        self,
        sender: str,
        to: str,
        text: str,
        *,
        holds: Holds | None = None,
        notice: bool = False,
    ) -> Message:
        """A private message lands in the recipient's inbox and, as a copy, in the sender's.
        `holds`: see `Holds`; `notice`: an IRC NOTICE (`MessageKind.PRIVATE_NOTICE`)."""
        recipient = await self._store.get_user(check_name(to, "user name"))
        if recipient is None or (recipient.is_guest and self._membership.gone(recipient.key)):
            # a guest lives as long as its connection: once its client has gone it is no
            # one, though its account is still being deleted (core/guests.py); every door
            raise NotFound(f"no such user {to!r}")
        text = self.prepare_text(text)
        if not recipient.is_guest:
            await self._check_guest_may_write(sender, recipient.key, recipient.name)
        if holds is not None:
            await holds()
        self._check_rate(sender, None)
        now = self._now()
        kind = MessageKind.PRIVATE_NOTICE if notice else MessageKind.PRIVATE
        drafts = [
            Draft(
                channel=inbox_channel(recipient.key),
                sender=sender,
                text=text,
                sent_at=now,
                kind=kind,
                recipient=recipient.name,
            )
        ]
        if recipient.key != name_key(sender):
            drafts.append(
                Draft(
                    channel=inbox_channel(name_key(sender)),
                    sender=sender,
                    text=text,
                    sent_at=now,
                    kind=kind,
                    recipient=recipient.name,
                )
            )
        return (await self._log.publish(drafts))[0]

    async def _check_guest_may_write(self, sender: str, to_key: str, to_name: str) -> None:
        """A guest writes to an account only in answer: once it wrote to the guest."""
        user = await self._store.get_user(name_key(sender))
        if user is None or not user.is_guest or to_key == user.key:
            return
        batch = await self._log.read(inbox_channel(user.key), limit=200, newest=True)
        floor = self._membership.floor(user.created_at)  # an expired message opens nothing
        if not any(m.sender_key == to_key and m.sent_at >= floor for m in batch):
            raise Forbidden(f"guests may write to {to_name} only once {to_name} wrote to them")

    async def private_history(
        self, user: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """The user's inbox. Messages older than the account are not theirs: they were a
        deleted account's of the same name, where the log could not delete them (Kafka);
        those older than the retention have expired (`Membership.floor`)."""
        account = await self._store.get_user(name_key(user))
        if account is None:
            raise NotFound(f"no such user {user!r}")
        return await self._visible(
            user,
            inbox_channel(account.key),
            limit=limit,
            before=before,
            after=after,
            since=self._membership.floor(account.created_at),
        )

    async def conversation(
        self,
        user: str,
        other: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool = True,
    ) -> list[Message]:
        """The private messages between the user and `other`, from the user's inbox, oldest
        first (the newest `limit` unless `newest` is False), none older than the account or
        the retention (`Membership.floor`)."""
        me, them = name_key(user), name_key(other)
        floor = self._membership.floor(await self._created(user) or EARLIEST)
        since = max(since, floor) if since else floor

        def between(m: Message) -> bool:
            return m.sender_key == them or (
                m.sender_key == me and name_key(m.recipient or "") == them
            )

        return await self._visible(
            user,
            inbox_channel(me),
            limit=limit,
            before=before,
            after=after,
            since=since,
            until=until,
            keep=between,
            newest=newest,
        )

    async def _created(self, user: str) -> datetime | None:
        record = await self._store.get_user(name_key(user))
        return record.created_at if record is not None else None
