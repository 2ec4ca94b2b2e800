"""Sending and reading messages: to rooms and privately, history, and the read cursors of
`/receive` and unread counts. `Messaging` is the one service the doors use for all of it,
put together from a part per concern over what they share (messaging_base.py):
room_sending.py (to a room, checked or while listening), private_messages.py (inboxes and
conversations), history.py (reading back, within the read budget) and receiving.py (the read
cursors, parallel receives, long polls' answers, unread counts).
"""

from __future__ import annotations

from torbit.core.messaging_base import Holds
from torbit.core.private_messages import PrivateMessages
from torbit.core.receiving import Receiving
from torbit.core.room_sending import RoomSending

__all__ = ["Holds", "Messaging"]  # Holds: the doors' docstrings name it here


class Messaging(RoomSending, PrivateMessages, Receiving):
    """Every send and read of messages; see the module docstring for where each lives."""
