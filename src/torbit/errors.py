"""The exception tree. Each error knows its HTTP status; its message is what a door shows
(telnet as a `! ` line: core/format.py, `format_error`).

TorbitError                      anything torbit raises on purpose
├── ConfigError                  bad configuration: stops start-up with exit code 2
├── NodeStopped                  a running node had to stop (its database claimed by
│                                another node): exit code 3
├── ClientError                  the peer did something wrong (4xx)
│   ├── InvalidInput             422 bad name, empty or oversized message, wrong arguments
│   ├── TooLarge                 413 body or line over the limit
│   ├── AuthenticationFailed     401 wrong name or password, bad token
│   ├── Forbidden                403 authenticated, but not allowed
│   │   ├── BadKey               403 a room's join key missing or wrong
│   │   └── RoomFull             403 a room at its member limit
│   ├── NotFound                 404 no such user or room
│   ├── Conflict                 409 name taken, already a member
│   │   ├── ListFull             409 a bounded list (a room's ban masks) is full
│   │   └── LooksAlike           409 a new room's name reads like an existing room's
│   └── RateLimited              429 too many attempts or messages
└── ServiceUnavailable           503 a store or bus engine cannot be reached: neither
    │                            we nor the peer broke a rule; retry later
    └── Overloaded               503 a bounded queue is full (password hashing): answered
                                 at once with Retry-After instead of waiting in memory
"""

from __future__ import annotations


class TorbitError(Exception):
    """Base of every error torbit raises on purpose."""

    http_status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TorbitError):
    code = "config"


class StartupError(ConfigError):
    """The server could not start (full disk, unreadable database, ...): like a bad config,
    one line and exit code 2."""


class NodeStopped(TorbitError):
    """A serving node had to stop, the line saying why already logged: `torbit serve`
    exits 3 (backends/store/claim.py: its database was claimed by another node)."""


class ClientError(TorbitError):
    http_status = 400
    code = "bad_request"


class InvalidInput(ClientError):
    http_status = 422
    code = "invalid_input"


class TooLarge(ClientError):
    http_status = 413
    code = "too_large"


class AuthenticationFailed(ClientError):
    http_status = 401
    code = "unauthenticated"


class Forbidden(ClientError):
    http_status = 403
    code = "forbidden"


class BadKey(Forbidden):
    code = "bad_key"


class RoomFull(Forbidden):
    code = "room_full"


class NotFound(ClientError):
    http_status = 404
    code = "not_found"


class Conflict(ClientError):
    http_status = 409
    code = "conflict"


class ListFull(Conflict):
    code = "list_full"


class LooksAlike(Conflict):
    """A new room's name has the skeleton of an existing room's (core/identity.py); the
    store's, worded by the core so that it names no room, public or private."""


class RateLimited(ClientError):
    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(TorbitError):
    http_status = 503
    code = "unavailable"


class Overloaded(ServiceUnavailable):
    code = "busy"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
