"""Rooms with owners: creating rooms, invitations, kicks, bans, mutes, room admins, voices,
topics and privacy. Which role each action needs is the policy's (core/policy.py), checked
here once, whatever door asked; every action done is written to the audit log (and a line to
the app log).

Ranks hold (docs/security.md, "Ranks, mutes and bans"): one acts only on users of a lower rank
than one's own, never on oneself, and lifting a mute or a ban is such an act, so nobody lifts
their own and only a higher rank (ultimately a server admin) lifts an owner's or an admin's.
A ban takes every right in the room away, an owner's too; a mute silences the topic as well
as messages. Every notice names the users it is about, so those who ignore them never see it.

Changes that live sessions must feel at once (a kick ends the listening, a mute stops the
telnet fast path) are node events, applied at once here and on every other node; what they
tell sessions are `Notice`s, so a door can show them as its protocol does (IRC's KICK, MODE).

A room nobody owns (a guest's room, or one whose owner's account was deleted) is run by its
admins: they act with the owner's rights there. The default room keeps its owner's rights
for server admins.

Its parts: core/room_authority.py (the checks, the audit), core/moderation_notices.py (what
each node tells its sessions), core/banmask_actions.py (ban masks and exceptions),
core/invitations.py (invitations, the invitee's list, declining, their bound) and
core/moderation_limits.py (the length of topics, reasons and mutes)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.banmask_actions import BanMaskActions
from torbit.core.banmasks import Visitor, account_of, parse_mask
from torbit.core.delivery import NoticeKind
from torbit.core.events import (
    BanMasksChanged,
    Expelled,
    Invited,
    MaskExemptionEnded,
    MuteChanged,
    MuteGone,
    NodeEvents,
    RoomNotice,
    RoomSettingsChanged,
    SessionsRevoked,
)
from torbit.core.invitations import Ignored, InvitationActions, no_ignores
from torbit.core.keylocks import KeyLocks
from torbit.core.membership import Membership
from torbit.core.models import AuditEntry, Room, RoomSettings
from torbit.core.moderation_limits import MAX_MUTE_MINUTES, clean_kick_reason, clean_topic
from torbit.core.moderation_notices import ModerationNotices
from torbit.core.mutes import Mutes
from torbit.core.names import name_key
from torbit.core.ports import Store
from torbit.core.room_authority import account_turn, by_the_actor, on_a_user, taking_rights
from torbit.core.roomsettings import SettingsChange, describe
from torbit.core.storeclock import read_clock
from torbit.core.subscriptions import Subscriptions
from torbit.core.tasks import cancel_and_wait
from torbit.errors import Conflict, Forbidden, InvalidInput, NotFound

SETTINGS_FIELDS = tuple(f.name for f in dataclasses.fields(RoomSettings))


class Moderation(BanMaskActions, InvitationActions, ModerationNotices):
    """The room owners' and admins' actions, for every front door; a room's ban masks are
    banmask_actions.py's, invitations invitations.py's, the checks and the audit
    room_authority.py's."""

    def __init__(
        self,
        store: Store,
        membership: Membership,
        subscriptions: Subscriptions,
        events: NodeEvents,
        mutes: Mutes,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        ignored: Ignored | None = None,
        invites_per_user: int = 0,
    ) -> None:
        """`ignored`: whom a user ignores (Ignores.of); `invites_per_user`: the bound on a
        user's pending invitations (0: none)."""
        self._store = store
        self._membership = membership
        self._limits = membership.limits
        self._subs = subscriptions
        self._events = events
        self._mutes = mutes
        self._room_masks = membership.ban_masks
        self._now = now
        self._ignored = ignored or no_ignores
        self._invites_bound = invites_per_user
        self._inviting = KeyLocks()
        events.on(Expelled, self._on_expelled)
        events.on(MuteChanged, self._on_mute)
        events.on(MuteGone, self._on_mute_gone)
        events.on(Invited, self._on_invite)
        events.on(RoomNotice, self._on_notice)
        events.on(BanMasksChanged, self._on_ban_mask)
        events.on(MaskExemptionEnded, self._on_exemption_ended)
        events.on(Expelled, lambda e: self._rights_ended(e.room, e.user))
        events.on(MaskExemptionEnded, lambda e: self._rights_ended(e.room, e.user))
        events.on(SessionsRevoked, self._on_revoked)
        self._tasks = set()

    def _rights_ended(self, room_key: str, user_key: str) -> None:
        """A node took the user's rights in the room (a deop, kick or ban, answered once
        applied everywhere): applied here once the user's acts there under way here are
        written (`in_role`), as on the node that did it; acts begun later find the role gone.
        Before, another node's deop was answered while such an act was still to be written."""
        key = (room_key, user_key)
        if self._membership.role_turns.sharing(key):  # not the deop's own node: it holds it
            task = asyncio.get_running_loop().create_task(self._acts_ended(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._events.defer(task)

    def _on_revoked(self, event: SessionsRevoked) -> None:
        """A revocation of the account (a demotion, a password changed, a deletion; not a
        logout of one token): applied here once its acts in every room under way here are
        written, so the CLI waiting for every node to apply it (core/feedmarks.py) answers
        after them; acts begun later read the right gone."""
        if not event.token:
            self._rights_ended(*account_turn(event.user))

    async def _acts_ended(self, key: tuple[str, str]) -> None:
        async with self._membership.role_turns.alone(key):
            pass

    async def start(self) -> None:
        """Load the mutes still running into this node's copy: once the node watches the
        node events and reads the store's feed (core/mutes.py), by the store's clock."""
        self._mutes.loading()
        now = await read_clock(self._store, self._mutes.clock)
        self._mutes.load(await self._store.active_mutes(now), now)

    async def close(self) -> None:
        """At shutdown, once the log delivers no more events, before the store closes: the
        ban masks' work still running here (banmask_actions.py) is cancelled (core/tasks.py)."""
        await cancel_and_wait(self._tasks)

    # actions

    async def create(self, actor: str, room_name: str, private: bool = False) -> Room:
        """A new room owned by the actor, who becomes its first member."""
        room = await self._membership.create(actor, room_name, private)
        await self._audit(actor, "create", room, detail="private" if private else "public")
        return room

    @taking_rights
    async def kick(self, actor: str, room_name: str, name: str, reason: str = "") -> str:
        """End a membership at once, on every node and front door; they may join again
        (a private room needs a new invitation). Of kicks of one member landing together,
        the one whose write ended the membership is the kick: the others are NotFound, so
        the room is told once and the audit log has one entry. `reason` is cleaned and cut
        to MAX_KICK_REASON_BYTES on every door, as IRC's KICKLEN."""
        room, role = await self.authorize(actor, room_name, "kick")
        self._moderating(actor)
        user, standing = await self._target(room, name, actor, role, "kick")
        if not standing.member:
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        reason = clean_kick_reason(reason)
        if not await self._store.expel(room.key, user.key, room_created=room.created_at):
            # another kick came first
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        await self._audit(actor, "kick", room, user.key, reason)
        await self._expelled(room, user, actor, "kicked", reason)
        return user.name

    @taking_rights
    async def ban(self, actor: str, room_name: str, name: str, reason: str = "") -> str:
        """Like a kick, and they cannot join again until unbanned. Idempotent. `name` is an
        account's name, or a ban mask (core/banmasks.py): `name!*@*` bans that account as a
        plain name does when it is a registered one; any other mask (a guest's nick, a
        wildcard, an address) goes on the room's mask list (`ban_mask`). What was banned:
        the account's name or the mask."""
        mask = parse_mask(name)
        if mask is not None:
            account = account_of(mask)
            if account is None or not await self._registered(account):
                return await self.ban_mask(actor, room_name, mask, reason)
            name = account
        room, role = await self.authorize(actor, room_name, "ban")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "ban")
        reason = clean_kick_reason(reason)
        was_member = await self._store.expel(
            room.key, user.key, banned_at=self._now(), room_created=room.created_at
        )
        await self._audit(actor, "ban", room, user.key, reason)
        await self._expelled(room, user, actor, "banned", reason, was_member)
        return user.name

    async def bans(self, actor: str, room_name: str, visitor: Visitor | None = None) -> list[str]:
        """Names of the users banned from the room, then its ban masks (each holds a "!"),
        for its members; with a `visitor`, not for one the masks bar (`room_settings`)."""
        room, _ = await self.authorize(actor, room_name, "bans")
        if visitor is not None:
            await self._membership.check_visitor(actor, room, visitor)
        with self._membership.roster_read(actor) as paid:  # a roster's price: the list is unbounded
            masks = [m.mask for m in await self._store.list_ban_masks(room.key)]
            listed = await self._store.list_bans(room.key) + masks
            paid.names = len(listed)
        return listed

    @on_a_user
    async def unban(self, actor: str, room_name: str, name: str) -> str:
        """Lift an account's ban, or a ban mask (`name!*@*` lifts the mask if the room has
        it, else that account's ban)."""
        mask = parse_mask(name)
        if mask is not None:
            room, _ = await self.authorize(actor, room_name, "unban")
            account = account_of(mask)
            listed = {m.mask for m in await self._store.list_ban_masks(room.key)}
            if account is None or mask in listed:
                return await self._unban_mask(actor, room, mask)
            name = account
        room, role = await self.authorize(actor, room_name, "unban")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "unban")
        if not await self._store.unban(room.key, user.key):
            raise NotFound(f"{user.name} is not banned from #{room.name}")
        await self._audit(actor, "unban", room, user.key)
        text = f"{actor} lifted the ban on {user.name} in #{room.name}"
        await self._notice(room, text, NoticeKind.UNBAN, user.name, actor)
        return user.name

    @on_a_user
    async def mute(self, actor: str, room_name: str, name: str, minutes: int) -> datetime:
        """Stop the user sending to the room for `minutes`; when the mute ends."""
        if not 1 <= minutes <= MAX_MUTE_MINUTES:
            raise InvalidInput(f"mute for 1 to {MAX_MUTE_MINUTES} minutes")
        room, role = await self.authorize(actor, room_name, "mute")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "mute")
        # by the store's clock, as every node checks it (attack57: by this node's, a mute set
        # here with the clock 30 s behind ended 30 s early everywhere)
        until = await read_clock(self._store, self._mutes.clock) + timedelta(minutes=minutes)
        await self._store.set_mute(room.key, user.key, until, room_created=room.created_at)
        await self._audit(actor, "mute", room, user.key, f"{minutes} min")
        muted = MuteChanged(
            room.key, room.name, user.key, user.name, actor, until.isoformat(), minutes
        )
        await self._events.publish(muted, settled=True)
        return until

    @on_a_user
    async def unmute(self, actor: str, room_name: str, name: str) -> str:
        room, role = await self.authorize(actor, room_name, "unmute")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "unmute")
        made = room.created_at
        # by the store's clock read now, as `mute`: by the offset the last feed mark measured,
        # a clock that jumped since took a running mute for ended (404, the row deleted and
        # no node told)
        now = await read_clock(self._store, self._mutes.clock)
        try:  # in the room checked only: one made again since keeps its mutes (tidy59)
            lifted = await self._store.remove_mute(room.key, user.key, now, room_created=made)
        except NotFound:
            raise NotFound(f"no such room #{room_name} (it was deleted meanwhile)") from None
        # none in the store, yet held here and no read found it: a mute whose event came after
        # the unmute that removed its row (attack58), not one another unmute lifted (unmute59)
        if not lifted and not await self._unbacked(room.key, user.key, now, made):
            raise NotFound(f"{user.name} is not muted in #{room.name}")
        await self._audit(actor, "unmute", room, user.key)
        await self._events.publish(
            MuteChanged(room.key, room.name, user.key, user.name, actor, None)
        )
        return user.name

    @on_a_user
    async def op(self, actor: str, room_name: str, name: str) -> str:
        """Make a member a room admin. A kick or ban takes a member's admin rights with the
        membership, in one transaction: asked again once the rights are given, so that one
        landing meanwhile is not undone (the same for a ban and an invitation)."""
        room, role = await self.authorize(actor, room_name, "op")
        self._moderating(actor)
        user, standing = await self._target(room, name, actor, role, "op")
        if not standing.member:
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        made = room.created_at  # the store's write lands in this room or nowhere
        if not await self._store.set_room_admin(room.key, user.key, True, room_created=made):
            raise Conflict(f"{user.name} is already an admin of #{room.name}")
        there, now = await self._store.room_and_standing(room.key, user.key)
        if not now.member or not same_room(there, room):  # kicked, or the room made again
            with contextlib.suppress(NotFound):  # (a room made again has nothing of it)
                await self._store.set_room_admin(room.key, user.key, False, room_created=made)
            await self._membership.room_roles.changed(room.key)  # a copy read meanwhile
            if not same_room(there, room):
                raise NotFound(f"no such room #{room_name} (it was deleted meanwhile)")
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        await self._audit(actor, "op", room, user.key)
        text = f"{actor} made {user.name} an admin of #{room.name}"
        await self._notice(room, text, NoticeKind.OP, user.name, actor)
        return user.name

    @taking_rights
    async def deop(self, actor: str, room_name: str, name: str) -> str:
        if name_key(name) == name_key(actor):
            return await self._step_down(actor, room_name)
        room, role = await self.authorize(actor, room_name, "deop")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "deop")
        made = room.created_at
        if not await self._store.set_room_admin(room.key, user.key, False, room_created=made):
            raise NotFound(f"{user.name} is not an admin of #{room.name}")
        await self._audit(actor, "deop", room, user.key)
        await self._exemption_ended(room, user.key, actor)
        text = f"{actor} took {user.name}'s admin rights in #{room.name}"
        await self._notice(room, text, NoticeKind.DEOP, user.name, actor)
        return user.name

    async def _step_down(self, actor: str, room_name: str) -> str:
        """An admin may give up their own admin rights (IRC's `MODE #room -o me`), even in a
        room nobody owns; the owner cannot stop owning a room this way."""
        room = await self._membership.room(room_name)
        key = name_key(actor)
        standing = await self._store.standing(room.key, key)
        if not standing.may_see(room, key):
            raise NotFound(f"no such room #{room_name}")
        if room.owner == key:
            raise Forbidden(f"you cannot /deop yourself: you own #{room.name}")
        self._moderating(actor)
        made = room.created_at
        if not standing.admin or not await self._store.set_room_admin(
            room.key, key, False, room_created=made
        ):
            raise NotFound(f"{actor} is not an admin of #{room.name}")
        await self._audit(actor, "deop", room, key)
        await self._exemption_ended(room, key, actor)
        text = f"{actor} gave up their admin rights in #{room.name}"
        await self._notice(room, text, NoticeKind.DEOP, actor, actor)
        return actor

    @on_a_user
    async def voice(self, actor: str, room_name: str, name: str) -> str:
        """Let a member speak in the room while it is moderated (IRC's +v). Room admins give
        voices to any member, themselves and other admins too: a voice is a grant, not an
        act upon a rank. It is the membership's (store.set_voice): a kick landing meanwhile
        leaves nobody voiced."""
        room, role = await self.authorize(actor, room_name, "voice")
        self._moderating(actor)
        user, standing = await self._target(room, name, actor, role, "voice", outrank=False)
        if not standing.member:
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        made = room.created_at
        if not await self._store.set_voice(room.key, user.key, True, room_created=made):
            if (await self._store.standing(room.key, user.key)).voiced:
                raise Conflict(f"{user.name} already has a voice in #{room.name}")
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        if not same_room((await self._store.room_and_standing(room.key, user.key))[0], room):
            with contextlib.suppress(NotFound):  # given, then its room deleted and made again
                await self._store.set_voice(room.key, user.key, False, room_created=made)
            raise NotFound(f"no such room #{room_name} (it was deleted meanwhile)")
        await self._audit(actor, "voice", room, user.key)
        text = f"{actor} gave {user.name} a voice in #{room.name}"
        await self._notice(room, text, NoticeKind.VOICE, user.name, actor)
        return user.name

    @on_a_user
    async def devoice(self, actor: str, room_name: str, name: str) -> str:
        """Take a voice away (room admins); a member may give up their own. Their next
        message to a moderated room is refused, whatever session sends it."""
        mine = name_key(name) == name_key(actor)
        room, role = await self.authorize(actor, room_name, "who" if mine else "devoice")
        self._moderating(actor)
        user, _ = await self._target(room, name, actor, role, "devoice", outrank=False)
        if not await self._store.set_voice(room.key, user.key, False, room_created=room.created_at):
            if (await self._store.standing(room.key, user.key)).member:
                raise Conflict(f"{user.name} has no voice in #{room.name}")
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        await self._audit(actor, "devoice", room, user.key)
        text = (
            f"{actor} gave up their voice in #{room.name}"
            if mine
            else f"{actor} took {user.name}'s voice in #{room.name}"
        )
        await self._notice(room, text, NoticeKind.DEVOICE, user.name, actor)
        return user.name

    @by_the_actor
    async def update(
        self,
        actor: str,
        room_name: str,
        *,
        topic: str | None = None,
        private: bool | None = None,
    ) -> Room:
        """Change the topic (room admins) and/or privacy (the owner); all checks first. A muted
        user may not set the topic: it would be talking to the room."""
        actions = [a for a, v in (("topic", topic), ("private", private)) if v is not None]
        if topic is not None and not (await self._membership.room(room_name)).settings.topic_lock:
            actions[0] = "topic_open"
        room, _ = await self.authorize(actor, room_name, *actions)
        if topic is not None:
            topic = clean_topic(topic)
            self._mutes.check(room, name_key(actor))
        if actions:
            self._limits.topics.check(name_key(actor), "topic or privacy changes")
        updated = await self._store.update_room(
            room.key,
            topic=topic,
            private=private,
            topic_by=actor,
            topic_at=self._now(),
            room_created=room.created_at,  # not a room made again since (roomdel56)
        )
        if updated is None:
            raise NotFound(f"no such room #{room_name}")
        if topic is not None:
            await self._audit(actor, "topic", room, detail=topic)
            await self._notice(
                room,
                f"{actor} set the topic of #{room.name}: {topic}"
                if topic
                else f"{actor} cleared the topic of #{room.name}",
                NoticeKind.TOPIC,
                by=actor,
                detail=topic,
            )
        if private is not None:
            await self._audit(actor, "private", room, detail="on" if private else "off")
            await self._notice(
                room,
                f"{actor} made #{room.name} " + ("private (invite-only)" if private else "public"),
                NoticeKind.PRIVATE,
                by=actor,
                detail="on" if private else "off",
            )
        return updated

    async def room_settings(
        self, actor: str, room_name: str, visitor: Visitor | None = None
    ) -> Room:
        """The room as stored now, with its settings (the join key too), for its members;
        with a `visitor` (a client that reaches the room without listening to it), not for
        one its ban masks bar: Forbidden, and a member so matched is put out, as by any
        other read (core/maskgate.py)."""
        room, _ = await self.authorize(actor, room_name, "view_settings")
        if visitor is not None:
            await self._membership.check_visitor(actor, room, visitor)
        return room

    @by_the_actor
    async def configure(
        self, actor: str, room_name: str, change: SettingsChange
    ) -> tuple[Room, list[str]]:
        """Change the room's privacy and settings in one write, told in one notice; the room
        as stored and what changed (roomsettings.SettingsChange.apply's tokens)."""
        change = change.checked()
        room, _ = await self.authorize(actor, room_name, *change.actions())
        private, settings, changed = change.apply(room)
        if not changed:
            return room, []
        self._limits.topics.check(name_key(actor), "topic or settings changes")
        # only the settings this change changes: another admin's change of another one,
        # on any node since `room` was read, stays (it was lost: +k and +m at once left one)
        fields = [f for f in SETTINGS_FIELDS if getattr(settings, f) != getattr(room.settings, f)]
        updated = await self._store.update_room(
            room.key,
            private=private if private != room.private else None,
            settings=settings if fields else None,
            settings_fields=fields,
            room_created=room.created_at,
        )
        if updated is None:
            raise NotFound(f"no such room #{room_name}")
        hidden = " ".join("+key" if c.startswith("+key=") else c for c in changed)
        await self._audit(actor, "settings", room, detail=hidden)
        await self._events.publish(RoomSettingsChanged(room.key))
        text = describe(actor, room.name, changed)
        await self._notice(room, text, NoticeKind.SETTINGS, by=actor, detail=" ".join(changed))
        return updated, changed

    async def audit(self, actor: str, room_name: str, limit: int = 100) -> list[AuditEntry]:
        """The room's audit entries, newest first, for its admins: this room's only, not those
        of a room deleted before it was made under the name (the log is kept by name, for the
        operator; an earlier room's kicks and bans are not this room's admins' business)."""
        room, _ = await self.authorize(actor, room_name, "audit")
        with self._membership.roster_read(actor, most=limit) as paid:  # a roster's price
            entries = await self._store.list_audit(room.key, limit)
            paid.names = len(entries)
        return [e for e in entries if e.at >= room.created_at]


def same_room(there: Room | None, room: Room) -> bool:
    """Whether `there`, the room now under `room`'s key, is `room`, by its creation: an act
    checked against a room deleted and made again since gave a right in the new one
    (roomdel56: an op or voice held at its write), taken back then."""
    return there is not None and there.created_at == room.created_at
