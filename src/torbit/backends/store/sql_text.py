"""The login's statements as SQLite's SQL text with positional `?` parameters, run straight on
its driver (dialects.py, SqlDialect.fetch and write); PostgreSQL runs the same Core statement
(sql.py, sql_rooms.py). Each text selects the columns its Core twin selects, in the same
order: the rows are read by position, and the Core query's result processors (text to
datetime, 0/1 to bool) are applied to them by that order. A login (the name's look-up, the
password's hash, the user with their ignores, joining the default room with its history) is
about ten of these: each costs one hand-off to aiosqlite's thread here (a write two: the
statement, the commit), where Core costs five or six."""

from __future__ import annotations

from typing import Any

from torbit.backends.store.schema import rooms, users
from torbit.core.models import Room, RoomSettings, User

USER_COLUMNS = tuple(users.c)  # in table order, as `user_of` reads them
ROOM_COLUMNS = tuple(rooms.c)  # as `room_at` reads them
_USERS = ", ".join(f'users."{c.name}"' for c in USER_COLUMNS)
_ROOMS = ", ".join(f'rooms."{c.name}"' for c in ROOM_COLUMNS)

GET_USER = f'SELECT {_USERS} FROM users WHERE users."key" = ?'
# key, skeleton, key: the name's own account first, then a look-alike's
USERS_NAMED_LIKE = (
    f'SELECT {_USERS} FROM users WHERE users."key" = ? OR users.skeleton = ? '
    'ORDER BY CASE WHEN users."key" = ? THEN 0 ELSE 1 END LIMIT 2'
)
USER_AND_IGNORES = (
    f"SELECT {_USERS}, ignores.ignored_key FROM users "
    'LEFT OUTER JOIN ignores ON ignores.user_key = users."key" '
    'WHERE users."key" = ? ORDER BY ignores.ignored_key'
)
_USER_NAMES = ", ".join(f'"{c.name}"' for c in USER_COLUMNS)
CREATE_USER = f"INSERT INTO users ({_USER_NAMES}) VALUES ({', '.join('?' * len(USER_COLUMNS))})"
# the same, unless a user's name has the skeleton given last: nothing inserted then
CREATE_USER_UNLIKE = (
    f"INSERT INTO users ({_USER_NAMES}) SELECT {', '.join('?' * len(USER_COLUMNS))} "
    "WHERE NOT EXISTS (SELECT 1 FROM users WHERE skeleton = ?)"
)

GET_ROOM = f'SELECT {_ROOMS} FROM rooms WHERE rooms."key" = ?'
ROOMS_OF = "SELECT room_key FROM memberships WHERE user_key = ? ORDER BY room_key"
IS_MEMBER = "SELECT room_key FROM memberships WHERE room_key = ? AND user_key = ?"
OWNED_ROOMS = 'SELECT "key" FROM rooms WHERE lower(owner) = ? ORDER BY "key"'
# the user's memberships and owned rooms: user, user
ROOMS_HELD = (
    "SELECT room_key FROM memberships WHERE user_key = ? "
    'UNION SELECT "key" FROM rooms WHERE lower(owner) = ? ORDER BY 1'
)
# a token's hash, then the time it must expire after (as Core stores it: stored_time)
TOKEN_USER = "SELECT user_key FROM tokens WHERE hash = ? AND expires_at > ?"
TOKEN_EXPIRY = "SELECT expires_at FROM tokens WHERE hash = ?"
ADD_MEMBER = (
    "INSERT INTO memberships (room_key, user_key, by_right) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)


def _has(table: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} WHERE room_key = ? AND user_key = ?)"


# (room, user) four times, then the user: the membership's voiced flag (NULL: no member),
# admin, banned, invited, server admin
STANDING = (
    "SELECT (SELECT voiced FROM memberships WHERE room_key = ? AND user_key = ?), "
    f"{_has('room_admins')}, {_has('room_bans')}, "
    f'{_has("room_invites")}, (SELECT is_admin FROM users WHERE "key" = ?)'
)


# a room's ban masks (room): read by every node's first join of each room
BAN_MASKS = "SELECT mask, set_by, set_at FROM room_ban_masks WHERE room_key = ? ORDER BY mask"
# and its exception masks (room), read with them
EXCEPTION_MASKS = (
    "SELECT mask, set_by, set_at, kind FROM room_exception_masks WHERE room_key = ? "
    "ORDER BY kind, mask"
)


def _of_room(table: str) -> str:
    return f'EXISTS (SELECT 1 FROM {table} WHERE room_key = rooms."key" AND user_key = ?)'


# the room's columns, then voiced (NULL: no member), admin, banned, invited, server admin:
# user five times, room
ROOM_AND_STANDING = (
    f"SELECT {_ROOMS}, "
    '(SELECT voiced FROM memberships WHERE room_key = rooms."key" AND user_key = ?), '
    f"{_of_room('room_admins')}, "
    f"{_of_room('room_bans')}, {_of_room('room_invites')}, "
    '(SELECT is_admin FROM users WHERE "key" = ?) FROM rooms WHERE rooms."key" = ?'
)


def user_of(row: Any) -> User:
    """A users row, by position (USER_COLUMNS)."""
    return User(
        name=row[1],
        password_hash=row[2],
        created_at=row[3],
        is_admin=bool(row[4]),
        credential=row[5],
    )


def room_at(row: Any) -> Room:
    """A rooms row, by position (ROOM_COLUMNS)."""
    return Room(
        name=row[1],
        created_at=row[2],
        owner=row[3],
        topic=row[4],
        private=bool(row[5]),
        settings=RoomSettings(
            join_key=row[6],
            member_limit=int(row[7]),
            topic_lock=bool(row[8]),
            no_external=bool(row[9]),
            moderated=bool(row[10]),
        ),
        topic_set_by=row[11] or "",
        topic_set_at=row[12],
    )
